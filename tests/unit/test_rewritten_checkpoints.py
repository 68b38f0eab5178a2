"""A checkpoint written again by a later training run is a new checkpoint (issue 22, item 6).

A training job that cannot resume (save_only_model) starts over and writes `checkpoint-N`
again at paths the controller already evaluated. The fold (model.state), retention's ledger
and the observer's scan tell the two apart by the run each marker names.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.common import layout
from orchestrator.common.checkpoints import complete_checkpoints, run_of, write_marker
from orchestrator.config.settings import SearchSettings
from orchestrator.decide import policy
from orchestrator.decide.retention import removals
from orchestrator.decide.stop_rule import Mode, Rule
from orchestrator.engine.observe import Observer
from orchestrator.model import events as ev
from orchestrator.model.events import Event, decode
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import JobKind, JobState

OUT = "/s/trials/001"


def _evaluated_once(run: str = "r1") -> SearchState:
    """Trial 1's checkpoint 10, written by `run`, measured, evaluated (0.9), its job ended."""
    state = SearchState()
    state.apply(ev.TrialStarted(trial=1, seed=1, output_dir=OUT, params={}, sampler_trial=None))
    state.apply(ev.Plan(trial=1, max_steps=20, run=run))
    state.apply(ev.Checkpoint(trial=1, step=10, path=f"{OUT}/checkpoint-10", run=run))
    state.apply(ev.CheckpointSized(trial=1, step=10, bytes=100))
    key = layout.infer_key(1, 10, 0)
    state.apply(ev.SubmitIntent(key=key, kind=JobKind.INFER, trial=1, step=10, attempt=0,
                                folder="/j", name=key, overrides={}))
    state.apply(ev.Submitted(key=key, job_id="7"))
    state.apply(ev.JobStateChanged(key=key, job_id="7", state=JobState.SUCCEEDED))
    state.apply(ev.Evaluation(trial=1, step=10, value=0.9, job_id="7",
                              checkpoint=f"{OUT}/checkpoint-10"))
    return state


@pytest.mark.parametrize(("first", "again", "rewritten"), [
    ("r1", "r1", False),  # the same checkpoint journaled again (a replay, a second look)
    ("", "", False),      # journals and markers from before runs were named
    ("r1", "r2", True),   # a later run wrote it again
    ("", "r2", True),     # an older run's marker named none; this one does
])
def test_the_fold_takes_another_runs_checkpoint_as_a_new_one(first: str, again: str,
                                                             rewritten: bool) -> None:
    state = _evaluated_once(first)
    state.apply(ev.Checkpoint(trial=1, step=10, path=f"{OUT}/checkpoint-10", run=again))
    trial = state.trials[1]
    assert trial.runs[10] == again and state.rewrite(1, 10) == int(rewritten)
    assert ((1, 10) in state.evaluations) is not rewritten
    assert [e.value for e in state.superseded] == ([0.9] if rewritten else [])
    assert len(state.attempts(JobKind.INFER, 1, 10)) == (0 if rewritten else 1)
    assert state.next_attempt(JobKind.INFER, 1, 10) == 1  # job keys stay unique
    assert state.disk.sizes.get((1, 10)) == (None if rewritten else 100)
    assert state.disk.bytes == (0 if rewritten else 100)


def test_a_rewritten_checkpoint_is_evaluated_again_and_decides_alone() -> None:
    state = _evaluated_once()
    state.apply(ev.Checkpoint(trial=1, step=10, path=f"{OUT}/checkpoint-10", run="r2"))
    search = SearchSettings(target=0.5)
    due = policy.evaluations_due(state, search)
    assert [(t.trial, step, attempts) for t, step, attempts in due] == [(1, 10, [])]
    assert state.all_results() == {}  # the old run's 0.9 decides nothing any more
    assert removals(state, search, Rule(0.99, Mode.MAX)) == []  # not evaluated: kept
    key = layout.infer_key(1, 10, 1)  # its own attempt, with its own result file
    state.apply(ev.SubmitIntent(key=key, kind=JobKind.INFER, trial=1, step=10, attempt=1,
                                folder="/j", name=key, overrides={}))
    state.apply(ev.Evaluation(trial=1, step=10, value=0.4, job_id="8",
                              checkpoint=f"{OUT}/checkpoint-10"))
    assert state.all_results() == {(1, 10): 0.4} and [e.value for e in state.superseded] == [0.9]
    assert layout.result_path(Path("/s"), 1, 10, state.rewrite(1, 10)).name == (
        "step-00000010-r1.json")


def test_a_rewrite_clears_what_retention_did_to_the_old_checkpoint() -> None:
    state = _evaluated_once()
    state.apply(ev.DeleteIntent(trial=1, step=10, path=f"{OUT}/checkpoint-10", what="all",
                                bytes=100))
    state.apply(ev.Deleted(trial=1, step=10, path=f"{OUT}/checkpoint-10", what="all",
                           bytes=100))
    assert state.disk.gone((1, 10)) and state.disk.freed == 100
    state.apply(ev.Checkpoint(trial=1, step=10, path=f"{OUT}/checkpoint-10", run="r2"))
    assert not state.disk.gone((1, 10)) and not state.disk.slim((1, 10))
    assert state.disk.freed == 100 and state.disk.bytes == 0  # what was freed stays freed


def test_older_journal_lines_read_with_no_run() -> None:
    checkpoint = decode({"event": "checkpoint", "t": 1.0, "trial": 1, "step": 5,
                         "path": "/c"}, "journal.jsonl:3")
    plan = decode({"event": "plan", "t": 1.0, "trial": 1, "max_steps": 9}, "journal.jsonl:4")
    assert isinstance(checkpoint, ev.Checkpoint) and checkpoint.run == ""
    assert isinstance(plan, ev.Plan) and plan.run == ""


# ---------------------------------------------------------------- the observer's scan
def _write_checkpoint(out: Path, step: int, run: str) -> None:
    folder = layout.checkpoint_dir(out, step)
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"w")
    write_marker(folder, step, run)


def _plan(out: Path, run: str) -> None:
    (out / "plan.json").write_text(json.dumps({"max_steps": 20, "save_steps": 10, "run": run}))


def _observer(out: Path) -> tuple[Observer, SearchState, list[Event]]:
    state, recorded = SearchState(), []
    state.apply(ev.TrialStarted(trial=1, seed=1, output_dir=str(out), params={},
                                sampler_trial=None))

    def record(event: Event) -> Event:
        recorded.append(event)
        state.apply(event)
        return event

    return Observer(None, None, state, record, lambda: 0.0), state, recorded  # type: ignore[arg-type]


def _moved_aside(out: Path) -> None:
    aside = out / "superseded-1"
    aside.mkdir()
    for folder in sorted(out.glob("checkpoint-*")):
        folder.rename(aside / folder.name)


def test_the_scan_journals_a_checkpoint_written_again_by_a_later_run(tmp_path: Path) -> None:
    out = tmp_path / "trial-1"
    out.mkdir()
    _plan(out, "r1")
    _write_checkpoint(out, 10, "r1")
    _write_checkpoint(out, 20, "r1")
    observer, state, recorded = _observer(out)
    observer.scan(state.trials[1])
    assert [(type(e).__name__, getattr(e, "step", None), e.run) for e in recorded] == [  # type: ignore[attr-defined]
        ("Checkpoint", 10, "r1"), ("Checkpoint", 20, "r1"), ("Plan", None, "r1")]
    _moved_aside(out)  # the job restarts: save_only_model, so it starts over
    _plan(out, "r2")
    recorded.clear()
    observer.scan(state.trials[1])  # nothing written again yet: nothing to journal but the plan
    assert [type(e).__name__ for e in recorded] == ["Plan"] and state.trials[1].run == "r2"
    _write_checkpoint(out, 10, "r2")
    observer.scan(state.trials[1])
    observer.scan(state.trials[1])  # a second look journals nothing more
    assert [(type(e).__name__, getattr(e, "step", None)) for e in recorded] == [
        ("Plan", None), ("Checkpoint", 10)]
    assert state.rewrite(1, 10) == 1 and state.rewrite(1, 20) == 0


def test_checkpoints_a_resumed_run_kept_are_read_once_and_stay(tmp_path: Path) -> None:
    out = tmp_path / "trial-1"
    out.mkdir()
    _plan(out, "r1")
    _write_checkpoint(out, 10, "r1")
    observer, state, recorded = _observer(out)
    observer.scan(state.trials[1])
    _plan(out, "r2")  # resumed from checkpoint-10: it stays the first run's
    _write_checkpoint(out, 20, "r2")
    for _ in range(3):
        observer.scan(state.trials[1])
    assert [(type(e).__name__, e.run) for e in recorded[2:]] == [  # type: ignore[attr-defined]
        ("Checkpoint", "r2"), ("Plan", "r2")]
    assert state.rewrite(1, 10) == 0 and observer._kept == {(1, 10): "r2"}


def test_markers_name_their_run(tmp_path: Path) -> None:
    _write_checkpoint(tmp_path, 5, "abc")
    _write_checkpoint(tmp_path, 6, "")
    assert [(c.step, c.run) for c in complete_checkpoints(tmp_path)] == [(5, "abc"), (6, "")]
    assert run_of(tmp_path / "checkpoint-7") is None


def test_our_checkpoint_waits_for_its_marker_not_trainer_state(tmp_path: Path) -> None:
    """The Trainer writes trainer_state.json, then our callback the marker naming the run.
    A scan between the two journaled the checkpoint with no run, and the next one took the
    marker's run for a later run's rewrite: evaluated twice (seen in CI, with_training)."""
    out = tmp_path / "trial-1"
    out.mkdir()
    _plan(out, "r1")
    observer, state, recorded = _observer(out)
    observer.scan(state.trials[1])  # the plan: our job, run r1
    folder = layout.checkpoint_dir(out, 10)
    folder.mkdir()
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 10}))
    observer.scan(state.trials[1])
    assert [type(e).__name__ for e in recorded] == ["Plan"]  # not complete yet
    write_marker(folder, 10, "r1")
    observer.scan(state.trials[1])
    observer.scan(state.trials[1])
    assert [(type(e).__name__, e.run) for e in recorded] == [  # type: ignore[attr-defined]
        ("Plan", "r1"), ("Checkpoint", "r1")]
    assert state.rewrite(1, 10) == 0


def test_a_users_checkpoint_is_complete_by_its_trainer_state(tmp_path: Path) -> None:
    """No plan names a run (a users' script): trainer_state.json says complete, as before."""
    out = tmp_path / "trial-1"
    folder = layout.checkpoint_dir(out, 10)
    folder.mkdir(parents=True)
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 10}))
    observer, state, recorded = _observer(out)
    observer.scan(state.trials[1])
    assert [(type(e).__name__, e.run) for e in recorded] == [("Checkpoint", "")]  # type: ignore[attr-defined]
    assert [c.step for c in complete_checkpoints(out, marked=True)] == []
