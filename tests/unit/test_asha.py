"""Asynchronous successive halving (decide.pruning.asha_prune): a table of journals, and the
same trials stopped at the same steps as Optuna's SuccessiveHalvingPruner."""

from __future__ import annotations

import pytest

from orchestrator.decide.pruning import asha_prune, in_step_order
from orchestrator.decide.stop_rule import Mode, Rule
from tests.support.pruning_journals import interleaved, optuna_cuts

MAX, MIN = Rule(0.99), Rule(0.0, Mode.MIN)
Arrivals = list[tuple[int, int, float | None]]

CASES: list[tuple[str, Rule, Arrivals, set[int], int, list[tuple[int, int, int]]]] = [
    # name, rule, arrivals (trial, step, value) in journal order, active, min_trials,
    # cut (trial, step, rung); first rung 100, eta 3: rungs 100, 300, 900
    ("first at a rung goes on", MAX, [(1, 100, 0.1)], {1}, 1, []),
    ("worse than the one before", MAX, [(1, 100, 0.5), (2, 100, 0.4)], {1, 2}, 1,
     [(2, 100, 100)]),
    ("better than the one before", MAX, [(1, 100, 0.4), (2, 100, 0.5)], {1, 2}, 1, []),
    ("a tie goes on", MAX, [(1, 100, 0.5), (2, 100, 0.5), (3, 100, 0.5)], {1, 2, 3}, 1, []),
    ("min mode: the higher is cut", MIN, [(1, 100, 0.5), (2, 100, 0.6)], {1, 2}, 1,
     [(2, 100, 100)]),
    ("min mode: the lower goes on", MIN, [(1, 100, 0.5), (2, 100, 0.4)], {1, 2}, 1, []),
    ("too few before it (min_trials=2)", MAX, [(1, 100, 0.5), (2, 100, 0.4)], {1, 2}, 2, []),
    ("judged once enough came before", MAX,
     [(1, 100, 0.5), (2, 100, 0.6), (3, 100, 0.4)], {1, 2, 3}, 2, [(3, 100, 100)]),
    # each judged against those before it: under 6 only the best goes on; the 6th (0.92)
    # is 2nd best of 6, in the top 1/3
    ("top 1/3 of those so far", MAX,
     [(t, 100, v) for t, v in enumerate([.9, .5, .8, .95, .6, .92], 1)], set(range(1, 7)), 1,
     [(2, 100, 100), (3, 100, 100), (5, 100, 100)]),
    ("a later trial never judges an earlier one", MAX,
     [(1, 100, 0.4), (2, 100, 0.9), (3, 100, 0.95)], {1, 2, 3}, 1, []),
    ("before the first rung: never judged", MAX, [(1, 50, 0.9), (2, 50, 0.1)], {1, 2}, 1, []),
    ("a trial that never reaches a rung is no competitor", MAX,
     [(1, 100, 0.9), (1, 300, 0.2), (2, 100, 0.95), (3, 50, 0.99), (2, 300, 0.1)],
     {1, 2, 3}, 1, [(2, 300, 300)]),
    ("first checkpoint past the rung counts", MAX, [(1, 250, 0.8), (2, 400, 0.7)], {1, 2}, 1,
     [(2, 400, 100)]),
    ("one result passes two rungs", MAX, [(1, 100, 0.8), (1, 300, 0.8), (2, 300, 0.9)],
     {1, 2}, 1, []),
    ("cut at the second rung", MAX,
     [(1, 100, 0.5), (2, 100, 0.6), (1, 300, 0.7), (2, 300, 0.65)], {1, 2}, 1, [(2, 300, 300)]),
    ("a failed evaluation is no result", MAX, [(1, 100, 0.5), (2, 100, None)], {1, 2}, 1, []),
    ("ended trials compete but are not reported", MAX,
     [(1, 100, 0.5), (2, 100, 0.4), (3, 100, 0.3)], {1, 3}, 1, [(3, 100, 100)]),
    ("a cut trial's late result is no competitor", MAX,
     [(1, 100, 0.5), (2, 100, 0.4), (2, 300, 0.9), (1, 300, 0.6)], {1, 2}, 1, [(2, 100, 100)]),
]


@pytest.mark.parametrize(("name", "rule", "arrivals", "active", "min_trials", "cut"), CASES,
                         ids=[c[0] for c in CASES])
def test_asha(name: str, rule: Rule, arrivals: Arrivals, active: set[int], min_trials: int,
              cut: list[tuple[int, int, int]]) -> None:
    got = asha_prune(rule, arrivals, active, min_trials, first_rung=100, eta=3)
    assert [(c.trial, c.step, c.rung) for c in got] == cut


def test_asha_explains_the_rung_and_the_cut() -> None:
    arrivals: Arrivals = [(t, 300, v) for t, v in enumerate([.9, .8, .7, .6, .5, .4], 1)]
    got = asha_prune(MAX, arrivals, {6}, 2, first_rung=300, eta=3)
    assert got[0].explain("accuracy") == (
        "at rung 300 (step 300) its accuracy 0.4000 was not in the top 1/3 of the 6 trials "
        "that reached it (the best 2 continue, down to 0.8000)")


@pytest.mark.parametrize("mode", [Mode.MAX, Mode.MIN])
@pytest.mark.parametrize(("seed", "eta"), [(0, 3), (1, 3), (2, 2), (3, 4), (4, 3)])
def test_asha_stops_what_optunas_successive_halving_stops(seed: int, eta: int,
                                                          mode: Mode) -> None:
    optuna = pytest.importorskip("optuna")
    arrivals = interleaved(seed, trials=9, steps=12)
    running, expected = optuna_cuts(optuna, optuna.pruners.SuccessiveHalvingPruner(
        min_resource=20, reduction_factor=eta, min_early_stopping_rate=0), arrivals, mode)
    got = asha_prune(Rule(0.5, mode), arrivals, running, 1, first_rung=20, eta=eta)
    assert sorted((c.trial, c.step) for c in got) == sorted(expected)
    assert expected, "a case where nothing is cut proves little"


ORDER_CASES: list[tuple[str, Arrivals, dict[int, set[int]], Arrivals]] = [
    # name, arrivals in journal order, checkpoints journaled, the order the rungs take them
    ("in step order already", [(1, 100, 0.4), (1, 200, 0.5)], {1: {100, 200}},
     [(1, 100, 0.4), (1, 200, 0.5)]),
    ("a later checkpoint's result waits for the earlier",
     [(1, 200, 0.5), (2, 100, 0.6), (1, 100, 0.4)], {1: {100, 200}, 2: {100}},
     [(2, 100, 0.6), (1, 100, 0.4), (1, 200, 0.5)]),
    ("an earlier checkpoint still evaluating holds the later", [(1, 200, 0.5)],
     {1: {100, 200}}, []),
    ("a failed evaluation (no value) releases what waited",
     [(1, 300, 0.7), (1, 200, 0.5), (1, 100, None)], {1: {100, 200, 300}},
     [(1, 100, None), (1, 200, 0.5), (1, 300, 0.7)]),
    ("a result of no journaled checkpoint is taken in its step's place",
     [(1, 100, 0.4), (1, 150, 0.45)], {1: {100}}, [(1, 100, 0.4), (1, 150, 0.45)]),
]


@pytest.mark.parametrize(("arrivals", "checkpoints", "taken"),
                         [c[1:] for c in ORDER_CASES], ids=[c[0] for c in ORDER_CASES])
def test_each_trial_reaches_its_rungs_in_step_order(
        arrivals: Arrivals, checkpoints: dict[int, set[int]], taken: Arrivals) -> None:
    assert in_step_order(arrivals, checkpoints) == taken


def test_the_cut_does_not_depend_on_which_evaluation_finished_first() -> None:
    # trial 2's step-300 evaluation came back before its step-100 one: it reaches rung 100
    # with its step-100 result (0.4, cut there), not with step 300's (0.95)
    checkpoints = {1: {100, 300}, 2: {100, 300}}
    raced = [(1, 100, 0.5), (2, 300, 0.95), (2, 100, 0.4)]
    in_order = [(1, 100, 0.5), (2, 100, 0.4), (2, 300, 0.95)]
    cuts = [[(c.trial, c.step, c.rung) for c in asha_prune(
        MAX, in_step_order(a, checkpoints), {1, 2}, 1, 100, 3)] for a in (raced, in_order)]
    assert cuts == [[(2, 100, 100)], [(2, 100, 100)]]
