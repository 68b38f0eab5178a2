"""`orchestrator status` under search.early_stop=asha and hyperband: why a trial stopped, and
the rungs (who reached each, with what value, who was stopped there), from the journal."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from orchestrator.cli.cmd_status import status_text
from tests.support.fake_cluster import FakeScheduler, World
from tests.unit.test_controller_logic import run


def _checkpoints(world: World, step: int, trials: tuple[int, ...]) -> Callable[[], None]:
    def write() -> None:
        for t in trials:
            world.checkpoint(step, trial=t)

    return write


def test_status_shows_asha_rungs_and_why_a_trial_stopped(tmp_path: Path) -> None:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    world.by_trial = {(1, 100): 0.6, (2, 100): 0.7, (3, 100): 0.5, (1, 300): 0.7,
                      (2, 300): 0.85}
    world.script = {2: _checkpoints(world, 100, (1, 2, 3)), 6: _checkpoints(world, 300, (1, 2))}
    run(tmp_path, world, sched, max_trials=3, max_concurrent_trials=3, early_stop="asha",
        early_stop_min_trials=1, early_stop_grace_steps=100)
    text = status_text(tmp_path)
    assert ("  ended: at rung 100 (step 100) its accuracy 0.5000 was not in the top 1/3 of the "
            "3 trials that reached it (the best 1 continue, down to 0.7000)") in text
    assert ("rungs (search.early_stop=asha; at each, the best max(n // 3, 1) of the n trials "
            "that reached it go on; in the order they reached it):\n"
            "  rung 100: trial 1 0.6000, trial 2 0.7000, trial 3 0.5000 (stopped)\n"
            "  rung 300: trial 1 0.7000, trial 2 0.8500\n") in text
    assert json.loads(status_text(tmp_path, as_json=True))["rungs"] == [
        {"bracket": None, "rung": 100, "trials": [
            {"trial": 1, "value": 0.6, "stopped": False},
            {"trial": 2, "value": 0.7, "stopped": False},
            {"trial": 3, "value": 0.5, "stopped": True}]},
        {"bracket": None, "rung": 300, "trials": [
            {"trial": 1, "value": 0.7, "stopped": False},
            {"trial": 2, "value": 0.85, "stopped": False}]}]


def test_status_shows_hyperband_rungs_per_bracket(tmp_path: Path) -> None:
    # grace 100, last step 900, eta 3: 3 brackets; trial 1 is drawn into bracket 1 (first
    # rung 300), trials 2 to 4 into bracket 0 (first rung 100)
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    world.by_trial = {(1, 100): 0.3, (2, 100): 0.6, (3, 100): 0.7, (4, 100): 0.5,
                      (1, 300): 0.9}
    world.script = {2: _checkpoints(world, 100, (1, 2, 3, 4)), 6: _checkpoints(world, 300, (1,))}
    state = run(tmp_path, world, sched, max_trials=4, max_concurrent_trials=4,
                early_stop="hyperband", early_stop_min_trials=1, early_stop_grace_steps=100,
                early_stop_max_resource=900)
    assert {t.trial: t.ended for t in state.trials.values()} == {
        1: "target_reached", 2: "stopped", 3: "stopped", 4: "pruned"}
    assert state.trials[4].ended_reason == (
        "at rung 100 (step 100) its accuracy 0.5000 was not in the top 1/3 of the 3 trials "
        "that reached it in bracket 0 (the best 1 continue, down to 0.7000)")
    text = status_text(tmp_path)
    assert ("  bracket 0, rung 100: trial 2 0.6000, trial 3 0.7000, trial 4 0.5000 (stopped)\n"
            "  bracket 1, rung 300: trial 1 0.9000\n") in text
    rungs = json.loads(status_text(tmp_path, as_json=True))["rungs"]
    assert [(r["bracket"], r["rung"], [(t["trial"], t["stopped"]) for t in r["trials"]])
            for r in rungs] == [(0, 100, [(2, False), (3, False), (4, True)]),
                                (1, 300, [(1, False)])]


def test_status_says_no_trial_reached_a_rung_yet(tmp_path: Path) -> None:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    world.by_trial = {(1, 50): 0.9}
    world.script = {2: _checkpoints(world, 50, (1,))}
    run(tmp_path, world, sched, max_trials=1, early_stop="asha", early_stop_grace_steps=100)
    assert "  no trial has reached a rung yet\n" in status_text(tmp_path)
    assert json.loads(status_text(tmp_path, as_json=True))["rungs"] == []


def test_status_shows_no_rungs_without_them(tmp_path: Path) -> None:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    world.by_trial = {(1, 100): 0.9}
    world.script = {2: _checkpoints(world, 100, (1,))}
    run(tmp_path, world, sched, max_trials=1, early_stop="median")
    assert "rungs" not in status_text(tmp_path)
    assert json.loads(status_text(tmp_path, as_json=True))["rungs"] is None
