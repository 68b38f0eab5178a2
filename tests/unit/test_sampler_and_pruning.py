from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.config.settings import SamplerName, SearchSettings
from orchestrator.decide.optuna_sampler import OptunaSampler, sampler_for
from orchestrator.decide.pruning import median_prune
from orchestrator.decide.sampler import draw, grid, grid_size
from orchestrator.decide.stop_rule import Mode, Rule

SPACE = {"learning_rate": [1e-3, 3e-3], "per_device_batch_size": [16, 32, 64]}


def test_grid_walks_every_combination_in_a_fixed_order() -> None:
    combos = grid(SPACE)
    assert grid_size(SPACE) == len(combos) == 6
    assert combos[0] == {"learning_rate": 1e-3, "per_device_batch_size": 16}
    assert combos[-1] == {"learning_rate": 3e-3, "per_device_batch_size": 64}
    assert len({tuple(sorted(c.items())) for c in combos}) == 6


def test_random_draws_are_a_function_of_seed_and_trial() -> None:
    space = {"learning_rate": {"low": 1e-5, "high": 1e-2, "log": True},
             "warmup_steps": {"low": 0, "high": 500}, "seed": [1, 2, 3]}
    assert draw(space, 7, 3) == draw(space, 7, 3)  # a resumed search draws the same
    assert draw(space, 7, 3) != draw(space, 7, 4)
    lr = [draw(space, 0, n)["learning_rate"] for n in range(1, 200)]
    assert all(1e-5 <= v <= 1e-2 for v in lr)
    assert sum(v < 1e-4 for v in lr) > 40  # log-uniform: a third of the mass below 1e-4


def test_optuna_study_lives_in_the_search_dir_and_resumes(tmp_path: Path) -> None:
    space = {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}, "epochs": [1, 2]}
    first = OptunaSampler(tmp_path, space, seed=0, mode="max")
    number, params = first.ask()
    assert number == 0 and set(params) == {"learning_rate", "epochs"}
    first.tell(number, 0.7)
    first.tell(number, 0.7)  # idempotent
    lost, _ = first.ask()  # asked, then the controller died before journaling it
    again = OptunaSampler(tmp_path, space, seed=0, mode="max")
    again.abandon_unknown({0})
    states = [t.state.name for t in again.study.get_trials()]
    assert states == ["COMPLETE", "FAIL"] and lost == 1
    assert again.ask()[0] == 2


@pytest.mark.parametrize(("sampler", "space", "size", "first"), [
    ("grid", {}, 5, {}),  # no space: every trial the same settings, whatever the sampler
    ("optuna", {}, 5, {}),
    ("grid", SPACE, 5, {"learning_rate": 1e-3, "per_device_batch_size": 16}),
    ("grid", {"learning_rate": [1e-3, 3e-3]}, 2, {"learning_rate": 1e-3}),  # the grid caps
    ("random", SPACE, 5, draw(SPACE, 7, 1)),
])
def test_one_sampler_interface_chosen_from_the_settings(
        tmp_path: Path, sampler: str, space: dict[str, Any], size: int,
        first: dict[str, Any]) -> None:
    chosen = sampler_for(SearchSettings(dir=str(tmp_path), target=0.8, space=space,
                                        sampler=SamplerName(sampler), sampler_seed=7, max_trials=5))
    assert chosen.size(5) == size
    assert chosen.ask(1) == (first, None)
    chosen.tell(0, 0.5)  # nothing to tell but Optuna
    chosen.abandon_unknown(set())
    assert not (tmp_path / "optuna-journal.log").exists()


def test_the_optuna_sampler_behind_the_interface(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    space = {"learning_rate": {"low": 1e-4, "high": 1e-2, "log": True}}
    settings = SearchSettings(dir=str(tmp_path), target=0.8, space=space,
                              sampler=SamplerName.OPTUNA, mode="max", max_trials=4)
    chosen = sampler_for(settings)
    assert not (tmp_path / "optuna-journal.log").exists()  # opened on first use
    params, number = chosen.ask(1)
    assert number == 0 and set(params) == {"learning_rate"} and chosen.size(4) == 4
    chosen.tell(0, 0.7)
    chosen.ask(2)  # asked, then the controller died before journaling it
    again = sampler_for(settings)
    again.abandon_unknown({0})
    assert again.ask(3)[1] == 2
    study = OptunaSampler(tmp_path, space, seed=0, mode="max").study
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE", "FAIL", "RUNNING"]


MAX = Rule(0.99)
CASES = [
    # results: trial -> step -> value; active; min_trials; grace; pruned (trial, step)
    ({1: {100: 0.5}, 2: {100: 0.7}, 3: {100: 0.72}}, {1, 2, 3}, 2, 0, [(1, 100)]),
    ({1: {100: 0.5}, 2: {100: 0.7}}, {1, 2}, 2, 0, []),  # too few others
    ({1: {100: 0.5}, 2: {100: 0.7}, 3: {100: 0.72}}, {1, 2, 3}, 2, 200, []),  # grace
    ({1: {100: 0.7}, 2: {100: 0.7}, 3: {100: 0.7}}, {1, 2, 3}, 2, 0, []),  # equal is fine
    # judged against the median of the OTHERS: two of three can fall below it
    ({1: {100: 0.5, 200: 0.8}, 2: {200: 0.7}, 3: {200: 0.72}}, {1, 2, 3}, 2, 0,
     [(2, 200), (3, 200)]),
    ({1: {100: None}, 2: {100: 0.7}, 3: {100: 0.72}}, {1, 2, 3}, 2, 0, []),  # failed eval
    # ended trials still count as others; only active ones are judged
    ({1: {100: 0.5}, 2: {100: 0.7}, 3: {100: 0.72}}, {1}, 2, 0, [(1, 100)]),
    ({1: {100: 0.5}, 2: {100: 0.7}, 3: {100: 0.72}}, {2, 3}, 2, 0, []),
]


@pytest.mark.parametrize(("results", "active", "min_trials", "grace", "pruned"), CASES)
def test_median_rule(results: dict[int, dict[int, float | None]], active: set[int],
                     min_trials: int, grace: int, pruned: list[tuple[int, int]]) -> None:
    got = median_prune(MAX, results, active, min_trials, grace)
    assert [(p.trial, p.step) for p in got] == pruned


def test_median_rule_minimises_too_and_explains() -> None:
    rule = Rule(1.0, Mode.MIN)
    got = median_prune(rule, {1: {5: 9.0}, 2: {5: 3.0}, 3: {5: 4.0}}, {1, 2, 3}, 2, 0)
    assert [(p.trial, p.median) for p in got] == [(1, 3.5)]
    assert "median 3.5000 of 2 other trials" in got[0].explain("loss")
