"""What the controller knows: a fold of the journal's events, and nothing else.

Theory of operation: `SearchState.apply` is the only writer of this state and it takes one
journal event at a time, so replaying the journal of a killed controller rebuilds what it
knew, byte for byte. The controller appends an event to the journal first and applies it
second. Queries below derive everything else (what is live, what needs evaluating) instead
of storing it, so there is nothing to keep consistent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.journal import Event
from orchestrator.lifecycle import JobState
from orchestrator.scheduler import JobRef

# how a trial ended
TARGET_REACHED = "target_reached"
METRIC_FELL = "metric_fell"
COMPLETE = "complete"
TRAIN_FAILED = "train_failed"
STOPPED = "stopped"  # the search ended while this trial still ran
PRUNED = "pruned"  # early-stopped: it could not catch up with the other trials


@dataclass
class JobRecord:
    key: str
    kind: str  # train | infer
    trial: int
    step: int | None
    attempt: int
    folder: str
    name: str = ""  # the scheduler's name for it (unique to the search and the key)
    job_id: str | None = None  # None: the intent is journaled, the submission not yet
    abandoned: bool = False  # the intent was dropped: its work was no longer needed
    state: JobState = JobState.SUBMITTED
    cancel_requested: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)  # train settings this attempt changed
    cause: str | None = None  # why it failed: input | oom | nan | other (journaled once)
    failure: str = ""
    intent_t: float | None = None  # when the intent was journaled (wall clock)
    submitted_t: float | None = None
    running_t: float | None = None  # first seen running
    ended_t: float | None = None

    def seconds(self, now: float) -> float:
        """Time the job held its resources: from first seen running to its end (else now).
        Queue time is not counted, so the total only grows; a job that was never seen
        running (it started and ended between two polls) counts nothing."""
        if self.running_t is None:
            return 0.0
        return max(0.0, (self.ended_t or now) - self.running_t)

    @property
    def ref(self) -> JobRef:
        assert self.job_id is not None
        return JobRef(self.job_id, Path(self.folder), self.name)

    @property
    def live(self) -> bool:
        return self.job_id is not None and not self.state.terminal


@dataclass
class TrialRecord:
    trial: int
    seed: int
    output_dir: str
    checkpoints: dict[int, str] = field(default_factory=dict)
    max_steps: int | None = None
    training: str = "running"  # running | succeeded | failed | cancelled
    training_reason: str = ""
    ended: str | None = None  # one of the constants above
    ended_step: int | None = None
    ended_reason: str = ""
    params: dict[str, Any] = field(default_factory=dict)  # sampled train settings
    sampler_trial: int | None = None  # the sampler's own number for it (optuna)


@dataclass
class EvalRecord:
    trial: int
    step: int
    value: float | None  # None: the evaluation failed for good
    job_id: str | None
    checkpoint: str
    result: str = ""
    error: str = ""
    logs: list[str] = field(default_factory=list)
    split: str = "test"  # the split `value` is from (journals before search.split: test)
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # split -> its metrics


@dataclass
class SearchState:
    started: Event | None = None
    trials: dict[int, TrialRecord] = field(default_factory=dict)
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    evaluations: dict[tuple[int, int], EvalRecord] = field(default_factory=dict)
    finished: Event | None = None
    promoted: Event | None = None
    promote_error: str = ""
    resumes: int = 0
    # the latest settings: search_started's, or the last search_extended's (a rerun with new
    # settings: a new target, more trials); the stop rule, status and summary use these
    current: Event | None = None
    extensions: int = 0
    # (kind, trial, step) -> its jobs, oldest attempt first: the poll loop asks this for
    # every checkpoint on every tick, so it must not scan every job
    _by_work: dict[tuple[str, int, int | None], list[JobRecord]] = field(default_factory=dict)

    @classmethod
    def replay(cls, events: Iterable[Event]) -> SearchState:
        state = cls()
        for event in events:
            state.apply(event)
        return state

    def apply(self, e: Event) -> None:
        handler = getattr(self, f"_on_{e['event']}", None)
        if handler is not None:
            handler(e)

    # ------------------------------------------------------------------ event handlers
    def _on_search_started(self, e: Event) -> None:
        self.started = self.current = e

    def _on_search_extended(self, e: Event) -> None:
        # reopens an ended search: its end and its best/ are decided again under the new
        # settings; ended trials stay ended, re-judged by `trial_ended` events that follow
        self.current = e
        self.extensions += 1
        self.finished = self.promoted = None
        self.promote_error = ""

    def _on_resumed(self, e: Event) -> None:
        if self.finished is None:  # rerunning a finished search resumes nothing
            self.resumes += 1

    def _on_heartbeat(self, e: Event) -> None:
        pass  # only its time matters: `orchestrator status` reads the journal's last one

    def _on_trial_started(self, e: Event) -> None:
        self.trials[e["trial"]] = TrialRecord(
            e["trial"], e["seed"], e["output_dir"], params=dict(e.get("params") or {}),
            sampler_trial=e.get("sampler_trial"),
        )

    def _on_submit_intent(self, e: Event) -> None:
        job = JobRecord(
            e["key"], e["kind"], e["trial"], e.get("step"), e["attempt"], e["folder"],
            e.get("name", ""), overrides=dict(e.get("overrides") or {}), intent_t=e.get("t"),
        )
        self.jobs[e["key"]] = job
        work = self._by_work.setdefault((job.kind, job.trial, job.step), [])
        work.append(job)
        work.sort(key=lambda j: j.attempt)

    def _on_submitted(self, e: Event) -> None:
        job = self.jobs[e["key"]]
        job.job_id, job.submitted_t = e["job_id"], e["t"]
        job.abandoned = bool(e.get("abandoned"))

    def _on_job_state(self, e: Event) -> None:
        job = self.jobs[e["key"]]
        job.state = JobState(e["state"])
        if job.state is JobState.RUNNING and job.running_t is None:
            job.running_t = e["t"]
        if job.state.terminal:
            job.ended_t = e["t"]

    def _on_job_failed(self, e: Event) -> None:
        job = self.jobs[e["key"]]
        job.cause, job.failure = e["cause"], e["reason"]

    def _on_cancel(self, e: Event) -> None:
        for key in e["keys"]:
            self.jobs[key].cancel_requested = True

    def _on_checkpoint(self, e: Event) -> None:
        self.trials[e["trial"]].checkpoints[e["step"]] = e["path"]

    def _on_plan(self, e: Event) -> None:
        self.trials[e["trial"]].max_steps = e["max_steps"]

    def _on_training_ended(self, e: Event) -> None:
        trial = self.trials[e["trial"]]
        trial.training, trial.training_reason = e["outcome"], e.get("reason", "")

    def _on_evaluation(self, e: Event) -> None:
        self.evaluations[(e["trial"], e["step"])] = EvalRecord(
            e["trial"], e["step"], e.get("value"), e.get("job_id"), e.get("checkpoint", ""),
            e.get("result", ""), e.get("error", ""), list(e.get("logs", [])),
            e.get("split", "test"), dict(e.get("metrics") or {}),
        )

    def _on_trial_ended(self, e: Event) -> None:
        trial = self.trials[e["trial"]]
        trial.ended, trial.ended_step = e["how"], e.get("step")
        trial.ended_reason = e.get("reason", "")

    def _on_search_ended(self, e: Event) -> None:
        self.finished = e

    def _on_promoted(self, e: Event) -> None:
        self.promoted = e

    def _on_promote_failed(self, e: Event) -> None:
        self.promote_error = e["reason"]

    # ------------------------------------------------------------------ queries
    def live_jobs(self) -> list[JobRecord]:
        return [job for job in self.jobs.values() if job.live]

    def open_intents(self) -> list[JobRecord]:
        """Submissions journaled as intended, neither made nor abandoned yet."""
        return [job for job in self.jobs.values() if job.job_id is None and not job.abandoned]

    def attempts(self, kind: str, trial: int, step: int | None = None) -> list[JobRecord]:
        """The jobs for one piece of work, oldest attempt first."""
        return list(self._by_work.get((kind, trial, step), ()))

    def active_trials(self) -> list[TrialRecord]:
        return [t for _, t in sorted(self.trials.items()) if t.ended is None]

    def results(self, trial: int) -> dict[int, float | None]:
        return {s: e.value for (t, s), e in self.evaluations.items() if t == trial}

    def all_results(self) -> dict[tuple[int, int], float | None]:
        return {key: e.value for key, e in self.evaluations.items()}

    def job_hours(self, now: float, trial: int | None = None) -> float:
        jobs = [j for j in self.jobs.values() if trial is None or j.trial == trial]
        return sum(j.seconds(now) for j in jobs) / 3600.0

    def settings(self) -> dict[str, Any]:
        """The latest settings (an extension's, else the start's)."""
        assert self.current is not None
        settings: dict[str, Any] = self.current["settings"]
        return settings
