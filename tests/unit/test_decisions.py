"""Decisions the user configures: the metric's direction, the deciding split, and an ended
search continued with new settings. Config tests go through Hydra and validation; the
controller tests run against the in-memory scheduler of test_controller_logic."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from test_controller_logic import FakeScheduler, World

from orchestrator import config
from orchestrator.app import _check_same_search
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


# ---------------------------------------------------------------- 6: the deciding split
def split_world(tmp_path: Path) -> tuple[World, FakeScheduler]:
    """Validation reaches 0.8 at step 200; the test split never does."""
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    validation = {100: 0.7, 200: 0.82, 300: 0.84}
    world.auto_results = {100: 0.6, 200: 0.75, 300: 0.78}  # test

    def result(test: float) -> dict[str, Any]:
        step = next(s for s, v in world.auto_results.items() if v == test)
        val = validation[step]
        return {"accuracy": test, "metrics": {"validation": {"accuracy": val, "n": 80},
                                              "test": {"accuracy": test, "n": 300}}}

    world.result_of = result
    world.script = {2: lambda: [world.checkpoint(s) for s in (100, 200, 300)],
                    8: world.end_training}
    return world, sched


@pytest.mark.parametrize(("split", "status", "best"), [
    ("validation", "target_reached", (200, 0.82, 0.75)),
    ("test", "exhausted", (300, 0.78, 0.84)),
])
def test_search_split_chooses_the_metric_that_decides(tmp_path: Path, split: str,
                                                      status: str,
                                                      best: tuple[int, float, float]) -> None:
    s = settings(tmp_path, "search.target=0.8", f"search.split={split}")
    world, sched = split_world(tmp_path)
    state = control(s, world, sched)
    assert state.finished is not None and state.finished["status"] == status
    summary = json.loads((tmp_path / "summary.json").read_text())
    other = "test" if split == "validation" else "validation"
    assert summary["split"] == split
    assert (summary["best"]["step"], summary["best"]["value"]) == best[:2]
    assert summary["best"]["metrics"][other]["accuracy"] == best[2]
    for e in summary["evaluations"]:
        assert e["split"] == split
        assert e["value"] == e["metrics"][split]["accuracy"]
        assert set(e["metrics"]) == {"validation", "test"}
    report = (tmp_path / "report.md").read_text()
    assert f"decided on: the {split} split" in report
    assert f"{split} accuracy (decides)" in report and f"| {other} accuracy |" in report
    assert "| 1 | 200 | 0.8200 | 0.7500 |" in report  # validation, then test


def test_a_users_script_records_its_number_as_search_split(tmp_path: Path) -> None:
    s = settings(tmp_path, "search.target=80", "search.split=validation",
                 "infer.command='bash inf.sh {checkpoint}'")
    controller = Controller(s, Journal(tmp_path / "journal.jsonl"), FakeScheduler(),
                            PlainView())
    out = tmp_path / "out.txt"
    out.write_text("The generation accuracy is 81.5 %.\n")
    assert controller._read_metric(out) == (81.5, {"validation": {"accuracy": 81.5}})
    controller.journal.close()


def test_a_changed_split_is_another_search(tmp_path: Path) -> None:
    first = settings(tmp_path, "search.target=0.8")
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append("search_started", settings=asdict(first))
    with pytest.raises(ConfigError, match=r"search\.split"):
        _check_same_search(journal, settings(tmp_path, "search.target=0.8",
                                             "search.split=validation"), force=False)
    _check_same_search(journal, first, force=False)
    journal.close()
