"""Each trial's folder is read on its own back-off (engine.scan_cadence, issue 25)."""

from __future__ import annotations

import pytest

from orchestrator.config.settings import ExecutorSettings
from orchestrator.engine.cadence import report_every_s
from orchestrator.engine.observe import Observer
from orchestrator.engine.scan_cadence import PHASES, TrialScans, Unjudged, backoff
from orchestrator.model.events import Checkpoint, Heartbeat, SubmitIntent, TrainingEnded
from orchestrator.model.state import SearchState, TrialRecord
from orchestrator.model.transitions import JobKind, Training


@pytest.mark.parametrize(("interval", "news", "shortest", "longest", "expected"), [
    (1.0, False, 1.0, 75.0, 2.0),  # nothing new: doubled
    (32.0, False, 1.0, 75.0, 64.0),
    (64.0, False, 1.0, 75.0, 75.0),  # never past the longest: a checkpoint seen within it
    (75.0, False, 1.0, 75.0, 75.0),
    (64.0, True, 1.0, 75.0, 1.0),  # news: back to the shortest
    (0.0, False, 1.0, 75.0, 1.0),  # never under the shortest
    (1.0, False, 1.0, 0.5, 1.0),  # a longest under the shortest: every tick
    (0.01, False, 0.01, 0.01, 0.01),  # the unit tests' cadence: every tick
])
def test_backoff(interval: float, news: bool, shortest: float, longest: float,
                 expected: float) -> None:
    assert backoff(interval, news, shortest, longest) == expected


def _reads(scans: TrialScans, until: float, news_at: frozenset[float] = frozenset()) -> list[float]:
    """The seconds at which trial 1 is read on 1 s ticks, with news of it at `news_at`."""
    reads = []
    for tick in range(int(until) + 1):
        now = float(tick)
        if now in news_at:
            scans.heard(1)
        if scans.due(1, now):
            scans.read(1, now)
            reads.append(now)
    return reads


@pytest.mark.parametrize(("news_at", "expected"), [
    (frozenset(), [0, 1, 3, 7, 15, 31, 63, 123, 183]),  # a quiet trial: every 60 s at most
    (frozenset({40.0}), [0, 1, 3, 7, 15, 31, 40, 41, 43, 47, 55, 71, 103, 163]),
])
def test_a_quiet_trial_is_read_less_and_news_resets_it(news_at: frozenset[float],
                                                       expected: list[int]) -> None:
    assert _reads(TrialScans(1.0, 60.0), 200.0, news_at) == [float(x) for x in expected]


def test_without_a_cadence_every_trial_is_read_every_time() -> None:
    scans = TrialScans(0.0, 0.0)
    for now in (0.0, 0.0, 1.0):
        assert scans.due(1, now)
        scans.read(1, now)


@pytest.mark.parametrize(("event", "trial"), [
    (Checkpoint(trial=2, step=100, path="/x/checkpoint-100"), 2),
    (TrainingEnded(trial=3, outcome=Training.SUCCEEDED), 3),
    (SubmitIntent(key="train-3-0", kind=JobKind.TRAIN, trial=3, step=None, attempt=0,
                  folder="f", name="n", overrides={}), None),  # the controller's own act
    (Heartbeat(), None),
])
def test_a_fact_seen_is_news_of_its_trial(event: object, trial: int | None) -> None:
    scans = TrialScans(1.0, 60.0)
    for number in (2, 3):
        scans.read(number, 0.0)
        scans.read(number, 1.0)  # backed off: next due at 3.0
    observer = Observer(None, None, SearchState(), lambda e: e, lambda: 0.0,  # type: ignore[arg-type]
                        scans)
    observer.heard(event)  # type: ignore[arg-type]
    assert [n for n in (2, 3) if scans.due(n, 1.5)] == ([trial] if trial else [])


@pytest.mark.parametrize(("news", "judged"), [
    ((), [[1, 2, 3], []]),  # all at first, then none: nothing new to judge them on
    ((2,), [[1, 2, 3], [2]]),
    ((3, 1), [[1, 2, 3], [1, 3]]),
])
def test_the_stop_rule_judges_only_trials_with_news(news: tuple[int, ...],
                                                    judged: list[list[int]]) -> None:
    trials = [TrialRecord(n, 0, f"/x/{n}") for n in (1, 2, 3)]
    unjudged = Unjudged()
    first = [t.trial for t in unjudged.take(trials)]
    for trial in news:
        unjudged.heard(trial)
    assert [first, [t.trial for t in unjudged.take(trials)]] == judged


@pytest.mark.parametrize(("longest", "trials", "expected"), [
    (75.0, 10, 30.0),  # SLURM: 2 longest poll intervals, but never over 30 s
    (75.0, 100, 50.0),
    (5.0, 10, 10.0),  # local: at most every 2 longest poll intervals
    (75.0, 1000, 500.0),  # a large search: 0.5 s a trial, its metadata calls bounded
    (0.01, 1, 0.5),  # the unit tests' cadence: within one tick of their clock
])
def test_the_report_is_refreshed_at_most_so_often(longest: float, trials: int,
                                                  expected: float) -> None:
    executor = ExecutorSettings(poll_interval_s=0.01, max_poll_interval_s=longest)
    assert report_every_s(executor, trials) == expected


def test_trials_backing_off_together_are_read_apart_at_the_cap() -> None:
    """1,000 quiet trials started at once: once at the cap (60 s), no 1 s tick reads more
    than about an eighth of them (not all 1,000), and none waits longer than the cap."""
    scans, last = TrialScans(1.0, 60.0), dict[int, float]()
    per_tick = []
    for tick in range(400):
        now, read = float(tick), 0
        for trial in range(1, 1001):
            if scans.due(trial, now):
                assert now - last.get(trial, now) <= 60.0
                scans.read(trial, now)
                last[trial], read = now, read + 1
        per_tick.append(read)
    assert max(per_tick[200:]) <= 1000 / PHASES + 10  # in PHASES groups, evenly
    assert sum(per_tick[200:]) <= 1000 * 200 / 60 + 1000
