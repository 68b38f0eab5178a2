"""The poll cadence's budget (issue 25): a ceiling of scheduler queries in any hour, for any
number of jobs and however often they change; pure, on a simulated clock."""

from __future__ import annotations

import pytest

from orchestrator.engine.cadence import BURST, Cadence, ceiling_per_hour


def polls_at(changed: bool, hours: float, shortest: float = 5.0,
             longest: float = 75.0) -> list[float]:
    """When a controller ticking every second polls, each poll seeing a change or none."""
    now = [0.0]
    cadence = Cadence(shortest, longest, lambda: now[0])
    times: list[float] = []
    while now[0] < hours * 3600:
        if cadence.due(now[0]):
            times.append(now[0])
            cadence.polled(now[0], changed)
        now[0] += 1.0
    return times


def most_in_any_hour(times: list[float]) -> int:
    return max(sum(1 for t in times if start <= t < start + 3600) for start in times)


def test_the_slurm_defaults_ceiling_is_60_an_hour() -> None:
    assert ceiling_per_hour(75.0) == BURST + 48 == 60


@pytest.mark.parametrize("changed", [True, False])
@pytest.mark.parametrize(("shortest", "longest"), [(5.0, 75.0), (2.0, 30.0), (1.0, 4.0)])
def test_no_hour_holds_more_polls_than_the_ceiling(changed: bool, shortest: float,
                                                   longest: float) -> None:
    times = polls_at(changed, 3.0, shortest, longest)
    assert most_in_any_hour(times) <= ceiling_per_hour(longest)


def test_a_search_that_always_changes_settles_to_one_poll_per_longest_interval() -> None:
    times = polls_at(True, 3.0)
    assert times[:3] == [0.0, 5.0, 10.0]  # the burst: the shortest interval while it lasts
    late = [t for t in times if t >= 7200]
    assert len(late) == pytest.approx(3600 / 75, abs=1)


def test_a_quiet_hour_refills_the_bucket_for_a_new_burst() -> None:
    now = [0.0]
    cadence = Cadence(5.0, 75.0, lambda: now[0])
    for _ in range(BURST):  # spend it all
        cadence.polled(now[0], True)
    assert cadence.tokens_at(now[0]) == 0.0 and not cadence.due(now[0] + 5.0)
    assert cadence.due(now[0] + 75.0)  # one token back
    now[0] = 3600.0
    assert cadence.tokens_at(now[0]) == BURST
    cadence.submitted()  # a new job: polled again soon, the budget allowing
    assert cadence.due(now[0])


def test_submissions_and_cancels_do_not_break_the_budget() -> None:
    now = [0.0]
    cadence = Cadence(5.0, 75.0, lambda: now[0])
    polls = 0
    while now[0] < 3600:
        cadence.cancelled()  # every tick: as eager as a poll can be asked for
        if cadence.due(now[0]):
            polls += 1
            cadence.polled(now[0], True)
        now[0] += 1.0
    assert polls <= ceiling_per_hour(75.0)
