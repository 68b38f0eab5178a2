"""How a trial's training, a trial and the search end: enums and one transition table each.

Theory of operation: `SearchState` moves these states only through `move`, so the tables
below are the one place that says which change may follow which, as `lifecycle` does for a
job. Every change today's controller journals is in them, re-judging included: a rerun with
new settings (`search_extended`) reopens an ended search (its status back to RUNNING), and
re-judges ended trials, so an ended trial may become TARGET_REACHED (at a new step, too),
and one that had reached the old target becomes STOPPED. Anything else (a trial ended twice,
training ending twice, a search ended twice without a reopening) is impossible for that
controller, so a journal holding it was edited or is corrupt: `move` raises.

The values are plain strings (`str` enums) so that summary.json, report.md and the status
text stay what they were, and a comparison with a string still holds.
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Mapping
from typing import TypeVar


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
