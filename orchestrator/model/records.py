"""The records the fold keeps (model.state): a job, a trial, an evaluation.

Plain mutable dataclasses that only `SearchState.apply` writes; their own properties derive
what a record says of itself (a job's seconds, whether it is live or held).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.model.transitions import JobKind, JobState, Training, TrialEnd, held_reason
from orchestrator.scheduler.interface import JobRef


@dataclass
class JobRecord:
    key: str
    kind: JobKind
    trial: int
    step: int | None
    attempt: int
    folder: str
    name: str  # the scheduler's name for it (unique to the search and the key)
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
    reason: str = ""  # why it is PENDING, as the scheduler's last poll said; "" otherwise
    # an evaluation task (infer.placement=worker|with_training): its work queue, and the id
    # of the job whose evaluator took it (orchestrator.placement.work_queue); "" for a job
    queue: str = ""
    order: int = 0  # its place among the search's jobs (SearchState's live index sorts by it)
    runner: str = ""
    held_s: float = 0.0  # an ended task: its evaluator's seconds on it, as the evaluator said
    # the first poll that saw it held (transitions.held_reason), wall clock: journaled, so a
    # resumed controller keeps counting toward search.held_grace_s; None when not held
    held_since: float | None = None
    released_t: float | None = None  # when its release was asked (job_released), this hold
    requeues: list[str] = field(default_factory=list)  # what ended each run SLURM requeued

    @property
    def held(self) -> bool:
        """PENDING, held by the scheduler until someone releases it."""
        return self.state is JobState.PENDING and held_reason(self.reason)

    def seconds(self, now: float) -> float:
        """Time the job held its resources: from first seen running to its end (else now).
        Queue time is not counted, so the total only grows; a job that was never seen
        running (it started and ended between two polls) counts nothing. A task holds
        none of its own: its evaluator's job (a worker, or training) counts them."""
        return 0.0 if self.queue else self.span(now)

    def span(self, now: float) -> float:
        """From the poll that first saw it running to the one that saw it end (else now);
        0 when no poll saw it running."""
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
    # a checkpoint's identity beyond its path: the training run that wrote it ("": not
    # said), and how often a later run wrote it again (each time a new checkpoint)
    runs: dict[int, str] = field(default_factory=dict)
    rewrites: dict[int, int] = field(default_factory=dict)
    run: str = ""  # the training run the latest plan.json is from
    max_steps: int | None = None
    training: Training = Training.RUNNING
    training_reason: str = ""
    ended: TrialEnd | None = None  # None: running
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
