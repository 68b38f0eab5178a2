"""Decisions the user configures: the metric's direction, the deciding split, and an ended
search continued with new settings. Config tests go through Hydra and validation; the
controller tests run against the in-memory scheduler of test_controller_logic."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_controller_logic import FakeScheduler, World

from orchestrator import config
from orchestrator.controller import Controller
from orchestrator.errors import ConfigError
from orchestrator.journal import Journal
from orchestrator.settings import Settings
from orchestrator.state import SearchState
from orchestrator.view import PlainView

FAST = ["executor.poll_interval_s=0.01", "executor.max_poll_interval_s=0.01",
        "executor.fs_interval_s=0.01", "search.drain_timeout_s=1"]


def settings(tmp_path: Path, *overrides: str) -> Settings:
    """Settings as `orchestrator run` makes them: composed by Hydra, then validated."""
    return config.to_settings(config.compose([f"search.dir={tmp_path}", *FAST, *overrides]))


def control(s: Settings, world: World, sched: FakeScheduler) -> SearchState:
    journal = Journal(Path(s.search.dir) / "journal.jsonl")
    try:
        return Controller(s, journal, sched, PlainView(), clock=lambda: float(world.ticks),
                          sleep=world.sleep).run()
    finally:
        journal.close()


# ---------------------------------------------------------------- 5: the metric's direction
DIRECTIONS = [
    # (overrides, the mode below validation)
    (["search.metric=loss", "search.target=0.55"], "min"),
    (["search.metric=loss", "search.target=0.55", "search.mode=min"], "min"),
    (["search.metric=accuracy", "search.target=0.8"], "max"),
    (["search.metric=f1_macro", "search.target=0.8"], "max"),
    (["search.metric=precision_macro", "search.target=0.8"], "max"),
    (["search.metric=recall_macro", "search.target=0.8", "search.mode=max"], "max"),
    # users' own scripts print a number we cannot interpret: the legacy default
    (["search.metric=loss", "search.target=55", "infer.command='bash inf.sh {checkpoint}'"],
     "max"),
    (["search.metric=wer", "search.target=5", "infer.command='bash inf.sh {checkpoint}'"],
     "max"),
    (["search.metric=wer", "search.target=5", "search.mode=min",
      "infer.command='bash inf.sh {checkpoint}'"], "min"),
]


@pytest.mark.parametrize(("overrides", "mode"), DIRECTIONS,
                         ids=[" ".join(d[0]) for d in DIRECTIONS])
def test_the_mode_follows_a_known_metric_when_not_given(tmp_path: Path, overrides: list[str],
                                                        mode: str) -> None:
    assert settings(tmp_path, *overrides).search.mode == mode


CONTRADICTIONS = [
    (["search.metric=loss", "search.target=0.5", "search.mode=max"],
     "search.mode=max with search.metric=loss: lower is better for it; drop search.mode or "
     "use search.mode=min"),
    (["search.metric=accuracy", "search.target=0.5", "search.mode=min"],
     "search.mode=min with search.metric=accuracy: higher is better for it"),
    (["search.metric=f1_macro", "search.target=0.5", "search.mode=min"],
     "search.mode=min with search.metric=f1_macro: higher is better for it"),
]


@pytest.mark.parametrize(("overrides", "message"), CONTRADICTIONS,
                         ids=[" ".join(c[0]) for c in CONTRADICTIONS])
def test_a_mode_contradicting_the_metric_is_a_config_error(tmp_path: Path,
                                                           overrides: list[str],
                                                           message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        settings(tmp_path, *overrides)
    assert [p for p in raised.value.problems if message in p], raised.value.problems


def loss_world(tmp_path: Path, losses: dict[int, float]) -> tuple[World, FakeScheduler]:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    world.result_of = lambda v: {"loss": v, "accuracy": 1 - v}
    world.auto_results = dict(losses)
    steps = sorted(losses)
    world.script = {2: lambda: [world.checkpoint(s) for s in steps], 8: world.end_training}
    return world, sched


def test_loss_without_a_mode_is_minimised_and_the_worst_checkpoint_does_not_reach(
        tmp_path: Path) -> None:
    """search.metric=loss search.target=0.55: the old default (max) had loss 0.9, the worst
    checkpoint, 'reach' the target, copied it to best/ and exited 0."""
    s = settings(tmp_path, "search.metric=loss", "search.target=0.55")
    world, sched = loss_world(tmp_path, {100: 0.9, 200: 0.6, 300: 0.5})
    state = control(s, world, sched)
    assert state.finished is not None and state.finished["status"] == "target_reached"
    assert (state.trials[1].ended, state.trials[1].ended_step) == ("target_reached", 300)
    assert state.promoted is not None and state.promoted["step"] == 300


def test_loss_that_never_gets_low_enough_does_not_reach(tmp_path: Path) -> None:
    s = settings(tmp_path, "search.metric=loss", "search.target=0.55",
                 "search.patience=5")
    world, sched = loss_world(tmp_path, {100: 0.9, 200: 0.7, 300: 0.8})
    state = control(s, world, sched)
    assert state.finished is not None and state.finished["status"] == "exhausted"
    assert state.promoted is not None and state.promoted["step"] == 200  # lowest loss
