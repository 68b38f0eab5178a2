"""Decisions the user configures: the metric's direction, the deciding split, and an ended
search continued with new settings. Config tests go through Hydra and validation; the
controller tests run against the in-memory scheduler of test_controller_logic."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli.cmd_status import status_text
from orchestrator.config import compose as config
from orchestrator.config.settings import Settings
from orchestrator.engine.controller import Controller
from orchestrator.engine.folder_checks import check_same_search
from orchestrator.engine.observe import read_metric
from orchestrator.errors import ConfigError
from orchestrator.journal.jsonl import Journal, read_events
from orchestrator.model.events import Event, SearchExtended, decode
from orchestrator.model.state import SearchState
from orchestrator.view.live import PlainView
from tests.support.fake_cluster import FakeScheduler, World

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
    world.script = {2: lambda: world.checkpoint(*steps), 8: world.end_training}
    return world, sched


def test_loss_without_a_mode_is_minimised_and_the_worst_checkpoint_does_not_reach(
        tmp_path: Path) -> None:
    """search.metric=loss search.target=0.55: the old default (max) had loss 0.9, the worst
    checkpoint, 'reach' the target, copied it to best/ and exited 0."""
    s = settings(tmp_path, "search.metric=loss", "search.target=0.55")
    world, sched = loss_world(tmp_path, {100: 0.9, 200: 0.6, 300: 0.5})
    state = control(s, world, sched)
    assert state.finished is not None and state.finished.status == "target_reached"
    assert (state.trials[1].ended, state.trials[1].ended_step) == ("target_reached", 300)
    assert state.promoted is not None and state.promoted.step == 300


def test_loss_that_never_gets_low_enough_does_not_reach(tmp_path: Path) -> None:
    s = settings(tmp_path, "search.metric=loss", "search.target=0.55",
                 "search.patience=5")
    world, sched = loss_world(tmp_path, {100: 0.9, 200: 0.7, 300: 0.8})
    state = control(s, world, sched)
    assert state.finished is not None and state.finished.status == "exhausted"
    assert state.promoted is not None and state.promoted.step == 200  # lowest loss


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
    world.script = {2: lambda: world.checkpoint(100, 200, 300),
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
    assert state.finished is not None and state.finished.status == status
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
    out = tmp_path / "out.txt"
    out.write_text("The generation accuracy is 81.5 %.\n")
    assert read_metric(s, out) == (81.5, {"validation": {"accuracy": 81.5}})


def test_a_changed_split_is_another_search(tmp_path: Path) -> None:
    first = settings(tmp_path, "search.target=0.8")
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append("search_started", settings=asdict(first))
    with pytest.raises(ConfigError, match=r"search\.split"):
        check_same_search(journal, settings(tmp_path, "search.target=0.8",
                                             "search.split=validation"), force=False)
    check_same_search(journal, first, force=False)
    journal.close()


# ---------------------------------------------------------------- 7: an ended search, new settings
def first_search(tmp_path: Path, *overrides: str,
                 results: dict[int, float] | None = None) -> FakeScheduler:
    """One trial, checkpoints 100..300; by default 200 reaches 0.8 and ends the search."""
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    world.auto_results = dict(results or {100: 0.7, 200: 0.85, 300: 0.86})
    world.script = {2: lambda: world.checkpoint(100, 200, 300),
                    8: world.end_training}
    control(settings(tmp_path, "search.target=0.8", *overrides), world, sched)
    return sched


def rerun(tmp_path: Path, sched: FakeScheduler, *overrides: str,
          trial2: dict[int, float] | None = None) -> SearchState:
    world = World(sched, tmp_path)
    world.by_trial = {(2, s): v for s, v in (trial2 or {}).items()}
    world.script = {3: lambda: world.checkpoint(*sorted(trial2 or {}), trial=2),
                    9: world.end_training}
    return control(settings(tmp_path, *overrides), world, sched)


def events(tmp_path: Path) -> list[Event]:
    return read_events(tmp_path / "journal.jsonl")[0]


def test_replay_of_an_extension_reopens_the_search_under_its_settings() -> None:
    def settings_with(target: float, max_trials: int) -> dict[str, Any]:
        return {"search": {"target": target, "max_trials": max_trials, "metric": "accuracy",
                           "mode": "max"}}

    state = SearchState.replay(decode(e, "test") for e in [
        {"event": "search_started", "t": 1.0, "settings": settings_with(0.8, 1)},
        {"event": "trial_started", "t": 2.0, "trial": 1, "seed": 42, "output_dir": "t1",
         "params": {}, "sampler_trial": None},
        {"event": "trial_ended", "t": 3.0, "trial": 1, "how": "target_reached", "step": 200,
         "reason": ""},
        {"event": "search_ended", "t": 4.0, "status": "target_reached", "reason": ""},
        {"event": "promoted", "t": 5.0, "trial": 1, "step": 200, "checkpoint": "t1/c-200",
         "value": 0.85, "path": "best"},
        {"event": "search_extended", "t": 6.0, "settings": settings_with(0.9, 2),
         "changed": {"search.target": [0.8, 0.9]}, "reopened": True},
        {"event": "trial_ended", "t": 7.0, "trial": 1, "how": "stopped", "step": 200,
         "reason": "reached the target under the earlier settings (search.target 0.8 -> "
                   "0.9), not accuracy >= 0.9"},
    ])
    assert state.finished is None and state.promoted is None
    assert state.settings()["search"]["target"] == 0.9 and state.extensions == 1
    assert state.started is not None and state.started.settings["search"]["target"] == 0.8
    assert (state.trials[1].ended, state.trials[1].ended_step) == ("stopped", 200)


def test_more_trials_and_a_higher_target_continue_an_ended_search(tmp_path: Path) -> None:
    sched = first_search(tmp_path)
    state = rerun(tmp_path, sched, "search.target=0.9", "search.max_trials=2",
                  trial2={100: 0.88, 200: 0.93})
    assert state.finished is not None and state.finished.status == "target_reached"
    assert (state.trials[1].ended, state.trials[2].ended) == ("stopped", "target_reached")
    assert state.trials[1].ended_reason == (
        "reached the target under the earlier settings (search.target 0.8 -> 0.9, "
        "search.max_trials 1 -> 2), not accuracy >= 0.9")
    assert [r.spec.seed for _, r in sched.by_kind("train")] == [42, 43]
    extended = [e for e in events(tmp_path) if isinstance(e, SearchExtended)]
    assert [e.changed for e in extended] == [
        {"search.target": [0.8, 0.9], "search.max_trials": [1, 2]}]
    best = json.loads((tmp_path / "best" / "best.json").read_text())
    assert (best["trial"], best["step"]) == (2, 200)  # re-promoted under the new rule
    summary = json.loads(status_text(tmp_path, as_json=True))
    assert summary["target"] == 0.9 and summary["status"] == "target_reached"


def test_a_higher_target_without_new_trials_is_judged_truthfully(tmp_path: Path) -> None:
    sched = first_search(tmp_path)
    submitted = len(sched.requests)
    state = rerun(tmp_path, sched, "search.target=0.9")
    assert state.finished is not None and state.finished.status == "exhausted"
    assert "allows no new trial" in state.finished.reason
    assert state.trials[1].ended == "stopped" and len(sched.requests) == submitted
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["status"], summary["target"]) == ("exhausted", 0.9)
    assert "allows no new trial" in summary["reason"]
    assert (summary["best"]["trial"], summary["best"]["step"]) == (1, 200)


def test_a_lowered_target_reached_by_an_evaluated_checkpoint_ends_it_at_once(
        tmp_path: Path) -> None:
    sched = first_search(tmp_path, results={100: 0.6, 200: 0.7, 300: 0.75})
    assert events(tmp_path)[-1].event in ("promoted", "search_ended")
    submitted = len(sched.requests)
    state = rerun(tmp_path, sched, "search.target=0.7", "search.max_trials=3")
    assert state.finished is not None and state.finished.status == "target_reached"
    assert (state.trials[1].ended, state.trials[1].ended_step) == ("target_reached", 200)
    assert len(state.trials) == 1 and len(sched.requests) == submitted  # nothing new ran


def test_an_unchanged_rerun_of_an_ended_search_changes_nothing(tmp_path: Path) -> None:
    sched = first_search(tmp_path)
    before = [e.event for e in events(tmp_path)]
    rerun(tmp_path, sched, "search.target=0.8")
    after = [e.event for e in events(tmp_path)]
    assert "search_extended" not in after and after.count("search_ended") == 1
    assert len(after) == len(before) + 1  # resumed


@pytest.mark.parametrize(("overrides", "refused"), [
    (["search.target=0.8"], None),
    (["search.target=0.8", "search.max_trials=2"], "search.max_trials 1 -> 2"),
    (["search.target=0.9"], "(search.target)"),
    (["search.target=0.8", "search.budget_job_hours=5"], "search.budget_job_hours 0.0 -> 5.0"),
])
def test_an_ended_search_with_new_settings_needs_force_resume(
        tmp_path: Path, overrides: list[str], refused: str | None) -> None:
    first_search(tmp_path)
    journal = Journal(tmp_path / "journal.jsonl")
    try:
        new = settings(tmp_path, *overrides)
        check_same_search(journal, new, force=True)
        if refused is None:
            check_same_search(journal, new, force=False)
            return
        with pytest.raises(ConfigError) as raised:
            check_same_search(journal, new, force=False)
        assert refused in str(raised.value) and "--force-resume" in str(raised.value)
    finally:
        journal.close()


def test_after_an_extension_the_new_settings_are_the_search(tmp_path: Path) -> None:
    sched = first_search(tmp_path)
    rerun(tmp_path, sched, "search.target=0.9")
    journal = Journal(tmp_path / "journal.jsonl")
    try:
        check_same_search(journal, settings(tmp_path, "search.target=0.9"), force=False)
        with pytest.raises(ConfigError, match=r"search\.target"):
            check_same_search(journal, settings(tmp_path, "search.target=0.8"), force=False)
    finally:
        journal.close()


def test_an_extended_optuna_search_continues_the_same_study(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    space = ["search.space={learning_rate: [0.001, 0.002]}", "search.sampler=optuna"]
    sched = first_search(tmp_path, *space)
    state = rerun(tmp_path, sched, "search.target=0.9", "search.max_trials=2", *space,
                  trial2={100: 0.91})
    assert state.finished is not None and state.finished.status == "target_reached"
    assert [t.sampler_trial for t in state.trials.values()] == [0, 1]
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "optuna-journal.log")))
    study = optuna.load_study(study_name="search", storage=storage)
    assert [(t.number, t.value) for t in study.trials] == [(0, 0.85), (1, 0.91)]


def test_a_kill_right_after_search_extended_still_rejudges_on_the_rerun(tmp_path: Path) -> None:
    """The extension is journaled before the trials are re-judged: a rerun with the same new
    settings (nothing changed any more) must still not report the old target as reached."""
    sched = first_search(tmp_path)
    journal = Journal(tmp_path / "journal.jsonl")
    journal.append("search_extended", settings=asdict(settings(tmp_path, "search.target=0.9")),
                   changed={"search.target": [0.8, 0.9]}, reopened=True)
    journal.close()
    state = rerun(tmp_path, sched, "search.target=0.9")
    assert state.finished is not None and state.finished.status == "exhausted"
    assert state.trials[1].ended == "stopped"
