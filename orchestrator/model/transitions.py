"""Every transition table: a scheduled job's lifecycle, a trial's training, a trial, the search.

Two parts, one rule: each state machine is an enum plus one table, and nothing else says which
change may follow which.

A job's lifecycle (`JobState`, `transition`): the scheduler adapter maps whatever the
backend reports (SLURM's sacct states, a local process, an in-process debug run) onto
`JobState` in one table, and the controller feeds each observation through `transition`. The
table is the only place that says which observation may follow which. Terminal states
absorb: once a job is seen SUCCEEDED, a stale RUNNING row (sacct lags slurmctld) is ignored
rather than believed. UNKNOWN means "the scheduler did not say" (no sacct row yet, sacct
down): it never ends a job, and it never replaces a state we already know (SUBMITTED
included: a job that sacct does not list yet is simply still submitted).

How a trial's training, a trial and the search end (`Training`, `TrialEnd`, `SearchStatus`,
`move`): `SearchState` moves these states only through `move`, so their tables are the one
place that says which change may follow which, as `transition` does for a job. Every change
today's controller journals is in them, re-judging included: a rerun with new settings
(`search_extended`) reopens an ended search (its status back to RUNNING), and re-judges
ended trials, so an ended trial may become TARGET_REACHED (at a new step, too), and one that
had reached the old target becomes STOPPED. Anything else (a trial ended twice, training
ending twice, a search ended twice without a reopening) is impossible for that controller,
so a journal holding it was edited or is corrupt: `move` raises.

The values are plain strings (`str` enums) so that summary.json, report.md and the status
text stay what they were, and a comparison with a string still holds.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Mapping
from typing import TypeVar


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
    # preempted for good (SLURM's PreemptMode=CANCEL): it will not come back. A job SLURM
    # requeues after preemption is REQUEUED, never this (the adapter asks slurmctld which)
    PREEMPTED = "PREEMPTED"
    LOST = "LOST"  # gone without a result: a dead local process, or a SLURM id now reused
    # held by the scheduler (SLURM's requeuehold, an admin's hold, a failed prolog) past
    # search.held_grace_s and still held after the controller asked to release it: ended by
    # the controller (cancelled) and replaced by a new attempt, as a preempted one is
    REPLACED = "REPLACED"

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
        JobState.PREEMPTED,
        JobState.LOST,
        JobState.REPLACED,
    }
)
# the ends that are failures: the attempt may be retried, and the controller journals why
FAILURES = TERMINAL - {JobState.SUCCEEDED, JobState.CANCELLED}
# ends a scheduler may undo by running the job again under its id (SLURM requeues a NODE_FAIL'd
# batch job; a site's requeue of a preempted one may come late): cancelled to be sure, since
# its retry is a new job
REQUEUABLE_ENDS = frozenset({JobState.NODE_FAIL, JobState.PREEMPTED, JobState.REPLACED})

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
    JobState.PREEMPTED: frozenset(),
    JobState.LOST: frozenset(),
    JobState.REPLACED: frozenset(),
}


def held_reason(reason: str) -> bool:
    """Whether a PENDING job's reason says the scheduler holds it until someone releases it
    (SLURM: JobHeldUser, JobHeldAdmin, "job requeued in held state", "launch failed
    requeued held"): it would wait forever, not for resources."""
    return "held" in reason.lower()


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


class JobKind(str, enum.Enum):
    """What a job is for: the journal's `kind` (submit_intent) and a JobRequest's. A str: it
    equals its value, so the journal's form and comparisons with strings are unchanged."""

    TRAIN = "train"
    INFER = "infer"  # one checkpoint's evaluation: a job, or a task for an evaluator
    WORKER = "worker"  # a long-lived evaluator (infer.placement=worker)
    CONTROLLER = "controller"  # a controller run as a SLURM job (run --detach); not journaled

    def __str__(self) -> str:
        return self.value


class Training(str, enum.Enum):
    """A trial's training, across its attempts."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


class TrialEnd(str, enum.Enum):
    """How a trial ended (a running trial has none)."""

    TARGET_REACHED = "target_reached"
    METRIC_FELL = "metric_fell"
    COMPLETE = "complete"
    TRAIN_FAILED = "train_failed"
    STOPPED = "stopped"  # the search ended while this trial still ran
    PRUNED = "pruned"  # early-stopped: it could not catch up with the other trials

    def __str__(self) -> str:
        return self.value


class SearchStatus(str, enum.Enum):
    RUNNING = "running"
    TARGET_REACHED = "target_reached"
    METRIC_FELL = "metric_fell"
    EXHAUSTED = "exhausted"
    FAILED = "failed"
    CANCELLED = "cancelled"  # `orchestrator cancel` ended it from outside

    def __str__(self) -> str:
        return self.value


# from-state -> the states it may move to, written out so that a change is a visible diff
TRAINING: dict[Training, frozenset[Training]] = {
    Training.RUNNING: frozenset({Training.SUCCEEDED, Training.FAILED, Training.CANCELLED}),
    Training.SUCCEEDED: frozenset(),
    Training.FAILED: frozenset(),
    Training.CANCELLED: frozenset(),
}

_REJUDGED = frozenset({TrialEnd.TARGET_REACHED})  # an ended trial reaches a new target
TRIAL: dict[TrialEnd | None, frozenset[TrialEnd]] = {
    None: frozenset(TrialEnd),  # running: the stop rule, pruning or the search's end
    # re-judged: at another step, or not reaching the new target (never the old outcome
    # reported as the new one's)
    TrialEnd.TARGET_REACHED: frozenset({TrialEnd.TARGET_REACHED, TrialEnd.STOPPED}),
    TrialEnd.METRIC_FELL: _REJUDGED,
    TrialEnd.COMPLETE: _REJUDGED,
    TrialEnd.TRAIN_FAILED: _REJUDGED,
    TrialEnd.STOPPED: _REJUDGED,
    TrialEnd.PRUNED: _REJUDGED,
}

_ENDS = frozenset(SearchStatus) - {SearchStatus.RUNNING}
_REOPENED = frozenset({SearchStatus.RUNNING})  # search_extended reopens an ended search
SEARCH: dict[SearchStatus, frozenset[SearchStatus]] = {
    SearchStatus.RUNNING: _ENDS,
    SearchStatus.TARGET_REACHED: _REOPENED,
    SearchStatus.METRIC_FELL: _REOPENED,
    SearchStatus.EXHAUSTED: _REOPENED,
    SearchStatus.FAILED: _REOPENED,
    SearchStatus.CANCELLED: _REOPENED,
}


class IllegalMove(ValueError):
    def __init__(self, what: str, state: object, new: object) -> None:
        before = "running" if state is None else str(state)
        super().__init__(f"{what} cannot move from {before} to {new}")
        self.what, self.state, self.new = what, state, new


S = TypeVar("S", bound=Hashable)
N = TypeVar("N")


def move(table: Mapping[S, frozenset[N]], what: str, state: S, new: N) -> N:
    """`new`, when the table lets `state` move to it; else IllegalMove naming `what`."""
    if new not in table[state]:
        raise IllegalMove(what, state, new)
    return new
