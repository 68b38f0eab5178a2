"""The small interface through which the controller uses a scheduler.

The backends of this package (slurm, local, debug) implement it on submitit; tests may use
any object with these methods. The controller never sees a raw scheduler state string.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from orchestrator.common.causes import JobFailure
from orchestrator.config.settings import JobResources
from orchestrator.model.transitions import JobKind, JobState


@dataclass(frozen=True)
class OrphanWatch:
    """search.orphan_grace_s > 0: the job ends itself once the controller of the search in
    `search_dir` has shown no sign of life for `grace_s` (scheduler.orphan_watch)."""

    search_dir: str
    grace_s: float


@dataclass(frozen=True)
class JobRequest:
    key: str  # unique within the search; also the job's folder name
    kind: JobKind
    name: str  # the name the scheduler shows
    folder: Path
    resources: JobResources
    target: str = ""  # "module:function" called with `spec` in the job
    spec: Any = None
    command: tuple[str, ...] = ()  # or: an argument vector, run without a shell ...
    output: str = ""  # ... whose stdout is kept in this file
    # an evaluation task, not a job: the work queue it is posted to (placement.work_queue;
    # infer.placement=worker or with_training); "" for a job the scheduler runs
    queue: str = ""
    # infer.placement=with_training: the evaluator the training job starts beside training
    beside: Any = None  # EvaluatorSpec | None
    orphan_watch: OrphanWatch | None = None  # None: the job outlives its controller
    # search.snapshot: the frozen code's folder, first on the job's PYTHONPATH ("": in place)
    snapshot: str = ""


@dataclass(frozen=True)
class JobRef:
    """All that is needed to re-attach to a job from a fresh process."""

    job_id: str
    folder: Path
    name: str = ""  # the scheduler's name for it; "" when not known


class Refusal(NamedTuple):
    """What the scheduler would refuse of a job (`sbatch --test-only`): the job kind, the
    JobResources field at fault ("" when the scheduler's reason names none), and the
    scheduler's own words."""

    kind: str
    field: str
    reason: str


class Polled(dict[str, JobState]):
    """What a poll may answer: job id -> state, and, from the same query, why each PENDING
    job waits (`reasons`: the scheduler's own word, e.g. SLURM's Priority, Resources,
    JobHeldUser), which job's evaluator took each task (`runners`) and how long it spent on
    each ended one (`held`), and what ended the previous run of each job the scheduler queued
    again under its id since the last poll (`requeued`: RUNNING, now PENDING; e.g. `node n2
    was lost (NODE_FAIL)`). A plain mapping answers none of them."""

    def __init__(self, states: Mapping[str, JobState],
                 reasons: Mapping[str, str] | None = None,
                 runners: Mapping[str, str] | None = None,
                 held: Mapping[str, float] | None = None,
                 requeued: Mapping[str, str] | None = None) -> None:
        super().__init__(states)
        self.reasons: dict[str, str] = dict(reasons or {})
        # an evaluation task's id -> the id of the job whose evaluator took it
        self.runners: dict[str, str] = dict(runners or {})
        # an ended task's id -> the seconds its evaluator spent on it
        self.held: dict[str, float] = dict(held or {})
        self.requeued: dict[str, str] = dict(requeued or {})


def pending_reasons(observed: Mapping[str, JobState]) -> Mapping[str, str]:
    """Job id -> why it is PENDING, where the poll that answered `observed` said."""
    return observed.reasons if isinstance(observed, Polled) else {}


def task_runners(observed: Mapping[str, JobState]) -> Mapping[str, str]:
    """Task id -> the job whose evaluator took it, where the poll that answered said."""
    return observed.runners if isinstance(observed, Polled) else {}


def task_held(observed: Mapping[str, JobState]) -> Mapping[str, float]:
    """Ended task id -> its evaluator's seconds on it, where the poll that answered said."""
    return observed.held if isinstance(observed, Polled) else {}


def requeued_runs(observed: Mapping[str, JobState]) -> Mapping[str, str]:
    """Job id -> what ended its previous run, for jobs the scheduler queued again under
    their id since the last poll, where the poll that answered `observed` said."""
    return observed.requeued if isinstance(observed, Polled) else {}


def release_held(scheduler: object, jobs: Sequence[JobRef]) -> None:
    """Ask the scheduler to release these held jobs, where it has holds: its optional
    `release(jobs)` (SLURM's `scontrol release`); a backend without holds has no method."""
    release = getattr(scheduler, "release", None)
    if release is not None and jobs:
        release(jobs)


class Scheduler(Protocol):
    # How long after a killed controller journaled a submission its job can still appear:
    # kill -9 spares the sbatch it was running, which may reach slurmctld only after the
    # rerun has looked for the job. 0 where the submission dies with the controller.
    submit_settle_s: float

    def submit(self, request: JobRequest) -> str:
        """Submit and return the job id. Raises SchedulerUnavailable when the scheduler did
        not answer (try again later), SchedulerError when it refused."""

    def recover(self, request: JobRequest) -> str | None:
        """The id of a submission of `request` that was made but never journaled, if any.
        Raises SchedulerUnavailable when the scheduler cannot be asked."""

    def poll(self, jobs: Sequence[JobRef]) -> Mapping[str, JobState]:
        """The state of every job, from ONE batched scheduler query (a `Polled` to say
        why pending jobs wait)."""

    def cancel(self, jobs: Sequence[JobRef]) -> None:
        """Ask the scheduler to end these jobs; idempotent."""

    def failure(self, job: JobRef) -> JobFailure:
        """Why a finished job failed: the cause the job itself wrote (orchestrator.common.failures),
        or None when it wrote none, and a short reason (its error's line), or ''."""

    def log_paths(self, job: JobRef) -> list[Path]:
        """The job's stdout and stderr files."""

    def render(self, request: JobRequest) -> str:
        """The submission script that `submit` would use (for --dry-run)."""
