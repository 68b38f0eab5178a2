"""search.keep's decisions (orchestrator.decide.retention): which checkpoints go, as a table."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.config.settings import SearchSettings
from orchestrator.decide.retention import Removal, best_steps, removals
from orchestrator.decide.stop_rule import Mode, Rule
from orchestrator.model import events as ev
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import JobKind, JobState, Training, TrialEnd

MAX = Rule(0.99, Mode.MAX)


def state_of(trials: dict[int, dict[str, Any]]) -> SearchState:
    """trial -> {values: {step: value or None (failed) or 'todo'}, training, ended, live}."""
    state = SearchState()
    for n, t in trials.items():
        state.apply(ev.TrialStarted(trial=n, seed=n, output_dir=f"/s/trials/{n:03d}",
                                    params={}, sampler_trial=None))
        for step, value in t["values"].items():
            state.apply(ev.Checkpoint(trial=n, step=step, path=f"/s/c{n}-{step}"))
            if value != "todo":
                state.apply(ev.Evaluation(trial=n, step=step, value=value, job_id="1",
                                          checkpoint=f"/s/c{n}-{step}"))
        for step in t.get("live", ()):  # an inference job still running on it
            key = f"infer-{n}-{step}"
            state.apply(ev.SubmitIntent(key=key, kind=JobKind.INFER, trial=n, step=step, attempt=0,
                                        folder="/j", name=key, overrides={}))
            state.apply(ev.Submitted(key=key, job_id=f"9{step}"))
            state.apply(ev.JobStateChanged(key=key, job_id=f"9{step}", state=JobState.RUNNING))
        if t.get("training"):
            state.apply(ev.TrainingEnded(trial=n, outcome=t["training"]))
        if t.get("ended"):
            state.apply(ev.TrialEnded(trial=n, how=t["ended"], step=None, reason=""))
    return state


def gone(found: list[Removal]) -> dict[tuple[int, int], str]:
    return {(r.trial, r.step): r.what for r in found}


ALL, SLIM = "all", "training_state"
CASES = [
    # id, trials, keep, keep_optimizer, rule, expected deletions
    ("running trial: best and latest stay, the rest goes",
     {1: {"values": {10: 0.5, 20: 0.7, 30: 0.6, 40: 0.65}}}, 1, "all", MAX,
     {(1, 10): ALL, (1, 30): ALL}),
    ("the best loses its training state with keep_optimizer=latest",
     {1: {"values": {10: 0.5, 20: 0.7, 30: 0.6, 40: 0.65}}}, 1, "latest", MAX,
     {(1, 10): ALL, (1, 30): ALL, (1, 20): SLIM}),
    ("not yet evaluated: kept whatever its neighbours",
     {1: {"values": {10: 0.5, 20: "todo", 30: 0.7, 40: "todo"}}}, 1, "all", MAX,
     {(1, 10): ALL}),
    ("an evaluation in flight (result read, job still live) is never deleted under",
     {1: {"values": {10: 0.5, 20: 0.4, 30: 0.7, 40: 0.6}, "live": [20]}}, 1, "all", MAX,
     {(1, 10): ALL}),
    ("keep=2 keeps the two best",
     {1: {"values": {10: 0.5, 20: 0.7, 30: 0.6, 40: 0.65, 50: 0.1}}}, 2, "all", MAX,
     {(1, 10): ALL, (1, 30): ALL}),
    ("keep=all deletes nothing",
     {1: {"values": {10: 0.5, 20: 0.7, 30: 0.6}, "ended": TrialEnd.METRIC_FELL}}, "all",
     "latest", MAX, {}),
    ("ended trial: its latest is not needed any more",
     {1: {"values": {10: 0.5, 20: 0.7, 30: 0.6}, "ended": TrialEnd.METRIC_FELL}}, 1, "all",
     MAX, {(1, 10): ALL, (1, 30): ALL}),
    ("training succeeded, trial still judged: latest not needed for resuming",
     {1: {"values": {10: 0.5, 20: 0.7, 30: 0.6}, "training": Training.SUCCEEDED}}, 1, "all",
     MAX, {(1, 10): ALL, (1, 30): ALL}),
    ("pruned trial: best only; its never-evaluated checkpoints go too",
     {1: {"values": {10: 0.5, 20: 0.7, 30: 0.8}},
      2: {"values": {10: 0.3, 20: 0.2, 30: "todo"}, "ended": TrialEnd.PRUNED}}, 1, "all",
     MAX, {(1, 10): ALL, (1, 20): ALL, (2, 20): ALL, (2, 30): ALL}),
    ("concurrent trials: each keeps its own best and latest",
     {1: {"values": {10: 0.5, 20: 0.9, 30: 0.6}}, 2: {"values": {10: 0.8, 20: 0.1, 30: 0.2}}},
     1, "all", MAX, {(1, 10): ALL, (2, 20): ALL}),
    ("min mode: the lowest is best",
     {1: {"values": {10: 0.5, 20: 0.2, 30: 0.4}, "ended": TrialEnd.COMPLETE}}, 1, "all",
     Rule(0.1, Mode.MIN), {(1, 10): ALL, (1, 30): ALL}),
    ("failed and NaN evaluations are never best",
     {1: {"values": {10: None, 20: float("nan"), 30: 0.1},
          "ended": TrialEnd.COMPLETE}}, 1, "all", MAX, {(1, 10): ALL, (1, 20): ALL}),
    ("ties go to the earlier step, as best/ chooses",
     {1: {"values": {10: 0.7, 20: 0.7, 30: 0.6}, "ended": TrialEnd.COMPLETE}}, 1, "all",
     MAX, {(1, 20): ALL, (1, 30): ALL}),
]


@pytest.mark.parametrize(("trials", "keep", "keep_optimizer", "rule", "expected"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_removals(trials: dict[int, dict[str, Any]], keep: int | str, keep_optimizer: str,
                  rule: Rule, expected: dict[tuple[int, int], str]) -> None:
    search = SearchSettings(keep=keep, keep_optimizer=keep_optimizer)
    assert gone(removals(state_of(trials), search, rule)) == expected


def test_a_deletion_journaled_is_not_wanted_again_and_a_slim_one_may_still_go() -> None:
    state = state_of({1: {"values": {10: 0.5, 20: 0.7, 30: 0.6}}})
    search = SearchSettings(keep=1, keep_optimizer="latest")
    state.apply(ev.DeleteIntent(trial=1, step=10, path="/s/c1-10", what=ALL, bytes=5))
    state.apply(ev.Deleted(trial=1, step=20, path="/s/c1-20", what=SLIM, bytes=3))
    assert gone(removals(state, search, MAX)) == {}
    state.apply(ev.Evaluation(trial=1, step=30, value=0.9, job_id="1", checkpoint="/s/c1-30"))
    state.apply(ev.Checkpoint(trial=1, step=40, path="/s/c1-40"))
    state.apply(ev.Evaluation(trial=1, step=40, value=0.1, job_id="1", checkpoint="/s/c1-40"))
    # 30 is now best (slimmed), 20 goes whole, 40 is the latest
    assert gone(removals(state, search, MAX)) == {(1, 20): ALL, (1, 30): SLIM}


@pytest.mark.parametrize("values", [{10: 0.7, 20: 0.9, 30: 0.1}, {10: 0.7, 20: 0.7, 30: 0.7}])
def test_the_checkpoint_best_is_copied_from_is_never_deleted_whole(
        values: dict[int, float]) -> None:
    from orchestrator.decide.stop_rule import best_of

    state = state_of({1: {"values": values, "ended": TrialEnd.COMPLETE},
                      2: {"values": {10: 0.2}, "ended": TrialEnd.COMPLETE}})
    best = best_of(MAX, state.all_results())
    assert best is not None and best_steps(MAX, state.results(1), 1) == {best[1]}
    assert gone(removals(state, SearchSettings(keep=1), MAX)).get(best) != ALL


def test_disk_figures_add_up() -> None:
    state = SearchState()
    for step, size in ((10, 100), (20, 100)):
        state.apply(ev.CheckpointSized(trial=1, step=step, bytes=size))
    state.apply(ev.DeleteIntent(trial=1, step=10, path="/c", what=ALL, bytes=100))
    assert state.disk.gone((1, 10)) and state.disk.figures()["freed_bytes"] == 0
    state.apply(ev.Deleted(trial=1, step=10, path="/c", what=ALL, bytes=100))
    state.apply(ev.Deleted(trial=1, step=10, path="/c", what=ALL, bytes=100))  # a repeat
    state.apply(ev.Deleted(trial=1, step=20, path="/c", what=SLIM, bytes=60))
    assert state.disk.figures() == {"peak_bytes": 200, "final_bytes": 40, "freed_bytes": 160}


CONFIG_CASES = [
    (["train.save_total_limit=3"], "train.save_total_limit=3: the Trainer would delete "
     "checkpoints before they are evaluated; drop it and set search.keep=N"),
    (["search.space={save_total_limit: [2, 3]}"], "train.save_total_limit=(in search.space)"),
    (["search.keep=0"], "search.keep=0: must be a number >= 1"),
    (["search.keep=best"], "search.keep=best: must be a number >= 1"),
    (["search.keep_optimizer=some"], "search.keep_optimizer=some: must be one of latest, all"),
]


@pytest.mark.parametrize(("words", "message"), CONFIG_CASES)
def test_retention_settings_are_checked(tmp_path: Any, words: list[str], message: str) -> None:
    from orchestrator.config import compose as config
    from orchestrator.errors import ConfigError

    cfg = config.compose(["search.target=0.8", f"search.dir={tmp_path / 's'}", *words])
    with pytest.raises(ConfigError) as caught:
        config.to_settings(cfg)
    assert any(p.startswith(message) for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(("words", "keep", "keep_optimizer"), [
    ([], 1, "latest"), (["search.keep=all"], "all", "latest"),
    (["search.keep=3", "search.keep_optimizer=all"], 3, "all")])
def test_retention_settings_accepted(tmp_path: Any, words: list[str], keep: int | str,
                                     keep_optimizer: str) -> None:
    from orchestrator.config import compose as config

    cfg = config.compose(["search.target=0.8", f"search.dir={tmp_path / 's'}", *words])
    search = config.to_settings(cfg).search
    assert (search.keep, search.keep_optimizer) == (keep, keep_optimizer)


def test_disk_is_shown_in_the_view_and_the_report() -> None:
    from orchestrator.model.ledger import human
    from orchestrator.reporting.outcome import disk_lines
    from orchestrator.view.live import describe

    state = SearchState()
    state.apply(ev.CheckpointSized(trial=1, step=10, bytes=1_300_000_000))
    state.apply(ev.CheckpointSized(trial=1, step=20, bytes=1_300_000_000))
    deleted = ev.Deleted(trial=1, step=10, path="/c", what="all", bytes=1_300_000_000)
    state.apply(deleted)
    assert describe(deleted, state) == (
        "trial 1: checkpoint 10 deleted (search.keep), 1.3 GB freed; checkpoints on disk: "
        "1.3 GB (peak 2.6 GB), freed 1.3 GB")
    assert disk_lines({"disk": state.disk.figures()}) == [
        "- disk (checkpoints): peak 2.6 GB, now 1.3 GB, freed 1.3 GB (search.keep)"]
    assert disk_lines({}) == []  # a summary written before search.keep
    assert [human(n) for n in (0, 999, 1000, 5_668_447)] == ["0 B", "999 B", "1.0 kB", "5.7 MB"]


def test_a_state_deletion_that_freed_nothing_is_not_shown() -> None:
    """A user's script saves no optimizer or RNG state: no line per checkpoint saying 0 B."""
    from orchestrator.model.ledger import summary_text
    from orchestrator.view.live import describe

    state = SearchState()
    state.apply(ev.CheckpointSized(trial=1, step=10, bytes=5_000))
    empty = ev.Deleted(trial=1, step=10, path="/c", what="training_state", bytes=0)
    state.apply(empty)
    assert describe(empty, state) is None
    some = ev.Deleted(trial=1, step=20, path="/c", what="training_state", bytes=4_000)
    assert describe(some, state) is not None and "4.0 kB freed" in (describe(some, state) or "")
    # a new search, nothing sized yet: no talk of old journals
    assert summary_text(SearchState().disk) == "checkpoints on disk: none measured yet"
