"""How training, a trial and the search end: one transition table each, allowing exactly what
today's controller journals (re-judging under new settings included), and a replay that
refuses a journal holding anything else."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from orchestrator.errors import JournalCorrupt
from orchestrator.model.events import Event, decode
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import (
    SEARCH,
    TRAINING,
    TRIAL,
    IllegalMove,
    SearchStatus,
    Training,
    TrialEnd,
    move,
)

TR, STOPPED = TrialEnd.TARGET_REACHED, TrialEnd.STOPPED
# every (from, to) a journal written today may hold; anything else must raise
TRIAL_ALLOWED = (
    {(None, end) for end in TrialEnd}  # the stop rule, pruning, or the search's end
    | {(TR, TR), (TR, STOPPED)}  # re-judged: at another step, or not reaching the new target
    | {(end, TR) for end in TrialEnd if end is not TR}  # re-judged: reaches the new target
)
TRAINING_ALLOWED = {(Training.RUNNING, end) for end in Training if end is not Training.RUNNING}
SEARCH_ALLOWED = (
    {(SearchStatus.RUNNING, end) for end in SearchStatus if end is not SearchStatus.RUNNING}
    | {(end, SearchStatus.RUNNING) for end in SearchStatus if end is not SearchStatus.RUNNING}
)
CASES: list[tuple[str, Any, Any, Any, bool]] = [
    *(("trial", TRIAL, a, b, (a, b) in TRIAL_ALLOWED)
      for a, b in itertools.product([None, *TrialEnd], TrialEnd)),
    *(("training", TRAINING, a, b, (a, b) in TRAINING_ALLOWED)
      for a, b in itertools.product(Training, Training)),
    *(("search", SEARCH, a, b, (a, b) in SEARCH_ALLOWED)
      for a, b in itertools.product(SearchStatus, SearchStatus)),
]


def test_each_table_covers_every_state() -> None:
    assert set(TRIAL) == {None, *TrialEnd}
    assert set(TRAINING) == set(Training) and set(SEARCH) == set(SearchStatus)


@pytest.mark.parametrize(("what", "table", "state", "new", "allowed"), CASES,
                         ids=[f"{c[0]}:{c[2]}->{c[3]}" for c in CASES])
def test_the_table_allows_exactly_what_the_controller_journals(
        what: str, table: Any, state: Any, new: Any, allowed: bool) -> None:
    if allowed:
        assert move(table, what, state, new) is new
    else:
        with pytest.raises(IllegalMove, match=f"{what} cannot move from "):
            move(table, what, state, new)


@pytest.mark.parametrize("member", [*Training, *TrialEnd, *SearchStatus])
def test_values_read_as_the_plain_strings_they_were(member: Any) -> None:
    assert str(member) == f"{member}" == member.value == member
    assert json.dumps({"x": member}) == json.dumps({"x": member.value})


def _journal(*tail: dict[str, Any]) -> list[Event]:
    head = [
        {"event": "search_started", "t": 1.0, "settings": {"search": {"target": 0.8}}},
        {"event": "trial_started", "t": 2.0, "trial": 1, "seed": 42, "output_dir": "/o",
         "params": {}, "sampler_trial": None},
    ]
    return [decode(e, f"journal.jsonl:{n}") for n, e in enumerate([*head, *tail], start=1)]


def _ended(how: str, step: int | None = 200) -> dict[str, Any]:
    return {"event": "trial_ended", "t": 3.0, "trial": 1, "how": how, "step": step,
            "reason": ""}


def _search_ended(status: str) -> dict[str, Any]:
    return {"event": "search_ended", "t": 4.0, "status": status, "reason": ""}


EXTENDED = {"event": "search_extended", "t": 5.0, "settings": {"search": {"target": 0.9}},
            "changed": {"search.target": [0.8, 0.9]}, "reopened": True}


def test_rejudging_under_new_settings_replays() -> None:
    """An exhausted search extended twice: its trial reaches the first new target (at another
    step), then is stopped under the second, and the reopened search ends again."""
    state = SearchState.replay(_journal(
        _ended("complete", None), _search_ended("exhausted"),
        EXTENDED, _ended("target_reached", 100), _search_ended("target_reached"),
        EXTENDED, _ended("target_reached", 300), _ended("stopped"), _search_ended("exhausted"),
        {"event": "training_ended", "t": 6.0, "trial": 1, "outcome": "succeeded"},
    ))
    trial = state.trials[1]
    assert (trial.ended, trial.ended_step, trial.training) == (
        TrialEnd.STOPPED, 200, Training.SUCCEEDED)
    assert state.status is SearchStatus.EXHAUSTED and state.extensions == 2


@pytest.mark.parametrize(("tail", "says"), [
    ([_ended("complete", None), _ended("pruned")], "trial 1 cannot move from complete to pruned"),
    ([_search_ended("failed"), _search_ended("exhausted")],
     "the search cannot move from failed to exhausted"),
    ([{"event": "training_ended", "t": 6.0, "trial": 1, "outcome": "failed", "reason": "x"}] * 2,
     "trial 1's training cannot move from failed to failed"),
])
def test_an_impossible_journal_is_refused_naming_the_event(tail: list[dict[str, Any]],
                                                           says: str) -> None:
    with pytest.raises(JournalCorrupt, match=f"event 4 .*{says}") as caught:
        SearchState.replay(_journal(*tail))
    assert "\n" not in str(caught.value)
