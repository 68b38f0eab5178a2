"""The search's outcome as one frozen value: built once per write from the journal's state,
then rendered by summary.json, report.md, metric.png, report.html and `orchestrator status`.

`Summary.to_json()` is summary.json's content (and `status --json`'s, less its trials table):
its keys and their order are the fields' own, so a field added here is a key added there.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import datetime
from typing import Any

from orchestrator.decide.stop_rule import Rule, best_of
from orchestrator.model.events import encode
from orchestrator.model.state import EvalRecord, SearchState
from orchestrator.model.transitions import JobKind
from orchestrator.model.trials_table import requeue_text
from orchestrator.model.usage import usage

SPLITS = ("validation", "test")
OMIT_EMPTY = "omit_empty"  # a dataclass field's metadata: left out of the JSON when empty


def _plain(value: Any) -> Any:
    """JSON's form of a field: dataclasses as objects in field order (less the empty fields
    marked OMIT_EMPTY: summary.json stays as it was where they say nothing), tuples as lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)
                if not (f.metadata.get(OMIT_EMPTY) and not getattr(value, f.name))}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Best:
    """The best checkpoint by the stop rule, on the deciding split."""
    trial: int
    step: int
    checkpoint: str
    value: float  # best_of picks only usable values
    split: str
    metrics: Mapping[str, Mapping[str, float]]  # both SPLITS, always


@dataclass(frozen=True)
class Evaluation:
    trial: int
    step: int
    value: float | None  # None: failed for good
    job_id: str | None
    checkpoint: str
    result: str
    error: str | None
    logs: tuple[str, ...] | None
    split: str
    metrics: Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class TrainFailure:
    job_id: str | None
    cause: str
    reason: str


@dataclass(frozen=True)
class Trial:
    trial: int
    seed: int
    params: Mapping[str, Any]
    best_value: float | None
    job_hours: float
    ended: str | None  # a TrialEnd's value; None: running
    ended_at_step: int | None
    ended_reason: str | None
    training: str
    training_reason: str | None
    train_job_ids: tuple[str, ...]
    train_job_states: tuple[str, ...]
    train_failures: tuple[TrainFailure, ...]
    last_checkpoint_step: int | None
    max_steps: int | None
    checkpoints: int

    def why_ended(self) -> str:
        """The stop rule's reason (or the failure's) for an ended trial, or ''."""
        return (self.ended_reason or self.training_reason or "") if self.ended else ""


@dataclass(frozen=True)
class JobLine:
    job_id: str | None
    state: str
    # each run SLURM ended and queued again under the id, and what ended it (in words)
    requeues: tuple[str, ...] = field(default=(), metadata={OMIT_EMPTY: True})


@dataclass(frozen=True)
class Summary:
    """summary.json's content, typed; the fields' order is the file's key order."""
    status: str
    target: float
    metric: str
    mode: str
    split: str  # the split whose metric decides
    best: Best | None
    promoted: Mapping[str, Any] | None  # the journal's `promoted` event, as journaled
    promote_error: str | None
    evaluations: tuple[Evaluation, ...]
    trials: tuple[Trial, ...]
    jobs: Mapping[str, JobLine]
    started_at: float | None
    finished_at: float | None
    started_at_iso: str | None
    finished_at_iso: str | None
    reason: str | None
    job_hours: float
    # by kind, in GPU-hours, and a worker's hours without an evaluation (model.usage)
    job_hours_by_kind: Mapping[str, float]
    gpu_hours: float
    worker_idle_hours: float
    resumes: int
    disk: Mapping[str, int]  # the checkpoints' bytes (search.keep deletes)
    # where evaluations ran (infer.placement), and the scheduler's jobs by kind: under
    # worker and with_training there are fewer inference jobs than evaluations
    placement: str
    scheduler_jobs: Mapping[str, int]

    def to_json(self) -> dict[str, Any]:
        """summary.json's content: plain dicts and lists, in the fields' order."""
        data: dict[str, Any] = _plain(self)
        return data

    def usage_figures(self) -> dict[str, Any]:
        """The keys model.usage.usage_text reads."""
        return {"job_hours": self.job_hours, "job_hours_by_kind": dict(self.job_hours_by_kind),
                "gpu_hours": self.gpu_hours, "worker_idle_hours": self.worker_idle_hours}


def iso(epoch_s: float) -> str:
    """ISO 8601 with the local UTC offset, to the second: for people and other tools."""
    return datetime.fromtimestamp(epoch_s).astimezone().isoformat(timespec="seconds")


def build(state: SearchState, rule: Rule, now: float | None = None) -> Summary:
    """The outcome as the journal's state says it at `now` (live jobs' hours run to it)."""
    settings = state.settings()
    now = time.time() if now is None else now
    started, finished = state.started, state.finished
    values, seconds = _per_trial(state, now)
    return Summary(
        status=state.status.value, target=rule.target, metric=settings["search"]["metric"],
        mode=rule.mode.value, split=settings["search"].get("split", "test"),
        best=_best(state, rule),
        promoted=encode(state.promoted) if state.promoted is not None else None,
        promote_error=state.promote_error or None,
        evaluations=tuple(_evaluation(ev) for _, ev in sorted(state.evaluations.items())),
        trials=tuple(_trial(state, rule, number, values.get(number, []),
                            seconds.get(number, 0.0)) for number in sorted(state.trials)),
        jobs={job.key: JobLine(job.job_id, job.state.value, tuple(
            requeue_text(job.job_id, job.kind, what) for what in job.requeues))
            for job in state.jobs.values()},
        started_at=started.t if started else None,
        finished_at=finished.t if finished else None,
        started_at_iso=iso(started.t) if started else None,
        finished_at_iso=iso(finished.t) if finished else None,
        reason=(finished.reason if finished else "") or None,
        job_hours=round(state.job_hours(now), 4),
        **usage(state, now),
        resumes=state.resumes, disk=state.disk.figures(),
        placement=settings.get("infer", {}).get("placement", "job"),
        scheduler_jobs=_scheduler_jobs(state))


def _scheduler_jobs(state: SearchState) -> dict[str, int]:
    counts = {"train": 0, "infer": 0, "worker": 0}
    for job in state.jobs.values():
        if job.job_id is not None and not job.queue:
            counts[job.kind] = counts.get(job.kind, 0) + 1
    return counts


def _best(state: SearchState, rule: Rule) -> Best | None:
    best_key = best_of(rule, state.all_results())
    if best_key is None:
        return None
    ev = state.evaluations[best_key]
    assert ev.value is not None  # best_of picks only usable values
    return Best(ev.trial, ev.step, ev.checkpoint, ev.value, ev.split, _both_splits(ev.metrics))


def _evaluation(ev: EvalRecord) -> Evaluation:
    return Evaluation(ev.trial, ev.step, ev.value, ev.job_id, ev.checkpoint, ev.result,
                      ev.error or None, tuple(ev.logs) or None, ev.split,
                      _both_splits(ev.metrics))


def _per_trial(state: SearchState, now: float) -> tuple[dict[int, list[float]],
                                                       dict[int, float]]:
    """Each trial's usable values and its jobs' seconds, in one pass over the evaluations
    and one over the jobs (per trial, each pass was quadratic at a thousand trials)."""
    values: dict[int, list[float]] = {}
    for (trial, _), evaluation in state.evaluations.items():
        if evaluation.value is not None:
            values.setdefault(trial, []).append(evaluation.value)
    seconds: dict[int, float] = {}
    for job in state.jobs.values():  # summed in the order state.job_hours sums them
        seconds[job.trial] = seconds.get(job.trial, 0.0) + job.seconds(now)
    return values, seconds


def _trial(state: SearchState, rule: Rule, number: int, values: list[float],
           seconds: float) -> Trial:
    trial = state.trials[number]
    train_jobs = state.attempts(JobKind.TRAIN, number)
    return Trial(
        trial=number, seed=trial.seed, params=dict(trial.params),
        best_value=(max if rule.mode.value == "max" else min)(values) if values else None,
        job_hours=round(seconds / 3600.0, 4),
        ended=trial.ended.value if trial.ended is not None else None,
        ended_at_step=trial.ended_step, ended_reason=trial.ended_reason or None,
        training=trial.training.value, training_reason=trial.training_reason or None,
        train_job_ids=tuple(j.job_id for j in train_jobs if j.job_id),
        train_job_states=tuple(j.state.value for j in train_jobs if j.job_id),
        train_failures=tuple(TrainFailure(j.job_id, j.cause, j.failure)
                             for j in train_jobs if j.cause),
        last_checkpoint_step=max(trial.checkpoints) if trial.checkpoints else None,
        max_steps=trial.max_steps, checkpoints=len(trial.checkpoints))


def _both_splits(metrics: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    # both keys always: a user's script reports one number, for the split it decides on
    return {split: dict(metrics.get(split, {})) for split in SPLITS}
