"""Hyperband (decide.pruning.hyperband_prune): brackets drawn as Optuna draws them, and the
same trials stopped at the same steps as Optuna's HyperbandPruner on recorded journals."""

from __future__ import annotations

import pytest

from orchestrator.decide.pruning import bracket_of, brackets, hyperband_prune
from orchestrator.decide.stop_rule import Mode, Rule
from tests.support.pruning_journals import interleaved, optuna_cuts

MAX = Rule(0.99)


@pytest.mark.parametrize(("low", "high", "eta", "n"), [
    (100, 100, 3, 1), (100, 299, 3, 1), (100, 300, 3, 2), (100, 900, 3, 3), (10, 120, 3, 3),
    (100, 1600, 2, 5), (50, 3200, 4, 4)])
def test_bracket_count_is_floor_log_eta_of_max_over_min_plus_one(low: int, high: int,
                                                                  eta: int, n: int) -> None:
    assert brackets(low, high, eta) == n


def test_brackets_take_trials_in_optunas_proportions() -> None:
    # 3 brackets, eta 3: budgets ceil(3*9/3)=9, ceil(3*3/2)=5, ceil(3/1)=3 of 17
    counts = [0, 0, 0]
    for trial in range(1, 1701):
        counts[bracket_of(trial, 3, 3)] += 1
    assert [round(c / 1700 * 17) for c in counts] == [9, 5, 3]


def test_a_trial_meets_only_its_own_brackets_trials() -> None:
    n = brackets(100, 900, 3)
    by = {t: bracket_of(t, n, 3) for t in range(1, 40)}
    first = [t for t in by if by[t] == 0][:2]
    other = next(t for t in by if by[t] != 0)
    # `other` is worse than both bracket-0 trials at rung 100, but is not judged against them
    arrivals: list[tuple[int, int, float | None]] = [
        (first[0], 100, 0.9), (first[1], 100, 0.8), (other, 100, 0.1)]
    got = hyperband_prune(MAX, arrivals, set(by), 1, 100, 900, 3)
    assert [(c.trial, c.rung, c.bracket) for c in got] == [(first[1], 100, 0)]
    assert got[0].explain("accuracy").startswith(
        "at rung 100 (step 100) its accuracy 0.8000 was not in the top 1/3 of the 2 trials "
        "that reached it in bracket 0 (the best 1 continue")


@pytest.mark.parametrize("mode", [Mode.MAX, Mode.MIN])
@pytest.mark.parametrize(("seed", "eta", "trials"), [(0, 3, 20), (1, 3, 24), (2, 2, 16),
                                                     (3, 4, 20), (4, 3, 32)])
def test_hyperband_stops_what_optunas_hyperband_pruner_stops(seed: int, eta: int, trials: int,
                                                             mode: Mode) -> None:
    optuna = pytest.importorskip("optuna")
    arrivals = interleaved(seed, trials=trials, steps=12)  # steps 10, 20, ..., 120
    running, expected = optuna_cuts(optuna, optuna.pruners.HyperbandPruner(
        min_resource=10, max_resource=120, reduction_factor=eta), arrivals, mode,
        study_name="search")
    got = hyperband_prune(Rule(0.5, mode), arrivals, running, 1, 10, 120, eta)
    assert sorted((c.trial, c.step) for c in got) == sorted(expected)
    assert expected, "a case where nothing is cut proves little"
    assert len({c.bracket for c in got}) > 1, "cuts in one bracket only prove little"
