"""The lifecycle of one scheduled job: an enum and one transition table.

Theory of operation: the scheduler adapter maps whatever the backend reports (SLURM's
sacct states, a local process, an in-process debug run) onto `JobState` in one table, and
the controller feeds each observation through `transition`. The table is the only place
that says which observation may follow which. Terminal states absorb: once a job is seen
SUCCEEDED, a stale RUNNING row (sacct lags slurmctld) is ignored rather than believed.
UNKNOWN means "the scheduler did not say" (no sacct row yet, sacct down): it never ends a
job, and it never replaces a state we already know (SUBMITTED included: a job that sacct
does not list yet is simply still submitted).
"""

from __future__ import annotations

import enum


class JobState(enum.Enum):
    SUBMITTED = "SUBMITTED"  # accepted by the scheduler, not yet seen in its records
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    REQUEUED = "REQUEUED"  # preempted or timed out and put back in the queue (same id)
    UNKNOWN = "UNKNOWN"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    NODE_FAIL = "NODE_FAIL"
    LOST = "LOST"  # gone without a result: a dead local process, or a SLURM id now reused

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset(
    {
        JobState.SUCCEEDED,
        JobState.FAILED,
        JobState.CANCELLED,
        JobState.TIMEOUT,
        JobState.OUT_OF_MEMORY,
        JobState.NODE_FAIL,
        JobState.LOST,
    }
)
# the ends that are failures: the attempt may be retried, and the controller journals why
FAILURES = TERMINAL - {JobState.SUCCEEDED, JobState.CANCELLED}

# from-state -> the states it may move to. Live states may move anywhere; terminal states
# may move nowhere. Written out rather than computed so that a change is a visible diff.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.SUBMITTED: frozenset(JobState) - {JobState.SUBMITTED},
    JobState.PENDING: frozenset(JobState) - {JobState.PENDING, JobState.SUBMITTED},
    JobState.RUNNING: frozenset(JobState) - {JobState.RUNNING, JobState.SUBMITTED},
    JobState.REQUEUED: frozenset(JobState) - {JobState.REQUEUED, JobState.SUBMITTED},
    JobState.UNKNOWN: frozenset(JobState) - {JobState.UNKNOWN, JobState.SUBMITTED},
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset(),
    JobState.CANCELLED: frozenset(),
    JobState.TIMEOUT: frozenset(),
    JobState.OUT_OF_MEMORY: frozenset(),
    JobState.NODE_FAIL: frozenset(),
    JobState.LOST: frozenset(),
}


class IllegalTransition(ValueError):
    def __init__(self, job: str, state: JobState, observed: JobState) -> None:
        super().__init__(f"job {job}: cannot move from {state.value} to {observed.value}")
        self.job, self.state, self.observed = job, state, observed


def transition(job: str, state: JobState, observed: JobState) -> JobState | None:
    """The new state after observing `observed`, or None when nothing changes.

    UNKNOWN never overwrites a known state; a repeated observation is no change; an
    observation the table forbids raises IllegalTransition (the caller decides whether a
    lagging scheduler makes that harmless).
    """
    if observed is state:
        return None
    if observed is JobState.UNKNOWN:
        return None
    if observed not in TRANSITIONS[state]:
        raise IllegalTransition(job, state, observed)
    return observed


def as_seen_after_cancel(observed: JobState, cancel_requested: bool) -> JobState:
    """What an observation means once the controller has asked to cancel the job.

    Backends report raw facts: a local job killed by a signal from a controller that did
    not start it (a resumed one) is just gone without a result, LOST. When the controller
    asked for that, the job was cancelled, not lost: it must not be retried or counted as a
    failure. This is the one place that knows it.
    """
    if cancel_requested and observed is JobState.LOST:
        return JobState.CANCELLED
    return observed
