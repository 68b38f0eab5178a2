"""The deletion protocol (engine.deletion) on a real folder: kill anywhere, symlinks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orchestrator.common import layout
from orchestrator.common.checkpoints import complete_checkpoints, is_complete, write_marker
from orchestrator.config.settings import SearchSettings
from orchestrator.decide.retention import Removal
from orchestrator.decide.stop_rule import Mode, Rule
from orchestrator.engine.deletion import Retention, carry_out
from orchestrator.model import events as ev
from orchestrator.model.events import Event
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import TrialEnd

FILES = {"model.safetensors": 3000, "optimizer.pt": 6000, "scheduler.pt": 10,
         "rng_state.pth": 20, "trainer_state.json": 5, "config.json": 7}


def make_checkpoint(search_dir: Path, trial: int, step: int) -> Path:
    path = layout.checkpoint_dir(layout.trial_dir(search_dir, trial), step)
    path.mkdir(parents=True)
    for name, size in FILES.items():
        (path / name).write_bytes(b"x" * size)
    write_marker(path, step)
    return path


def search(search_dir: Path, keep: int | str = 1) -> SearchSettings:
    return SearchSettings(dir=str(search_dir), target=0.99, keep=keep)


class Killed(Exception):
    pass


class Run:
    """A controller's journal and state; `kill_after` journaled events, it dies."""

    def __init__(self, journal: list[Event], kill_after: int | None = None) -> None:
        self.journal = journal
        self.state = SearchState.replay(journal)
        self.left = kill_after

    def record(self, event: Event) -> Event:
        if self.left is not None:
            if self.left == 0:
                raise Killed
            self.left -= 1
        self.journal.append(event)
        self.state.apply(event)
        return event


def ended_trial(search_dir: Path, values: dict[int, float]) -> list[Event]:
    journal: list[Event] = [ev.TrialStarted(trial=1, seed=1, params={}, sampler_trial=None,
                                            output_dir=str(layout.trial_dir(search_dir, 1)))]
    for step, value in values.items():
        path = make_checkpoint(search_dir, 1, step)
        journal += [ev.Checkpoint(trial=1, step=step, path=str(path)),
                    ev.Evaluation(trial=1, step=step, value=value, job_id="1",
                                  checkpoint=str(path))]
    journal.append(ev.TrialEnded(trial=1, how=TrialEnd.COMPLETE, step=None, reason=""))
    return journal


RULE = Rule(0.99, Mode.MAX)
VALUES = {10: 0.5, 20: 0.9, 30: 0.6}


def test_kept_and_deleted_and_figures(tmp_path: Path) -> None:
    best = layout.best_dir(tmp_path)
    best.mkdir(parents=True)
    (best / "model.safetensors").write_text("best")
    run = Run(ended_trial(tmp_path, VALUES))
    Retention(search(tmp_path), run.state, run.record, RULE).tick()
    trial = layout.trial_dir(tmp_path, 1)
    assert sorted(p.name for p in trial.iterdir()) == ["checkpoint-20"]
    assert sorted(p.name for p in (trial / "checkpoint-20").iterdir()) == [
        "checkpoint_complete.json", "config.json", "model.safetensors", "trainer_state.json"]
    assert (best / "model.safetensors").read_text() == "best"
    total = sum(FILES.values()) + (trial / "checkpoint-20" / layout.COMPLETE_MARKER).stat().st_size
    figures = run.state.disk.figures()
    assert figures["peak_bytes"] == 3 * total
    assert figures["freed_bytes"] == 2 * total + 6030
    assert figures["final_bytes"] == total - 6030


def _names(journal: list[Event]) -> list[str]:
    return [e.event for e in journal]


@pytest.mark.parametrize("kill_after", range(9))  # 3 sized, 3 x (intent, deleted)
def test_kill_at_any_event_then_resume_finishes(tmp_path: Path, kill_after: int) -> None:
    journal = ended_trial(tmp_path, VALUES)
    start = len(journal)
    dying = Run(journal, kill_after)
    with pytest.raises(Killed):
        Retention(search(tmp_path), dying.state, dying.record, RULE).tick()
    run = Run(journal)  # the next controller: a replay of what was journaled
    Retention(search(tmp_path), run.state, run.record, RULE).tick()
    Retention(search(tmp_path), run.state, run.record, RULE).tick()  # nothing more
    trial = layout.trial_dir(tmp_path, 1)
    assert sorted(p.name for p in trial.iterdir()) == ["checkpoint-20"]
    assert not (trial / "checkpoint-20" / "optimizer.pt").exists()
    kinds = _names(journal[start:])
    assert kinds.count("deleted") == 3 and kinds.count("delete_intent") == 3


def test_kill_inside_a_deletion_leaves_nothing_complete(tmp_path: Path) -> None:
    path = make_checkpoint(tmp_path, 1, 10)
    (path / layout.COMPLETE_MARKER).unlink()  # killed after the first step
    assert not is_complete(path)  # trainer_state.json still there, but global_step missing
    (path / "trainer_state.json").write_text('{"global_step": 10}')
    assert is_complete(path)  # a user's checkpoint without our marker...
    (path / "trainer_state.json").unlink()  # ...is why trainer_state.json goes second
    assert complete_checkpoints(path.parent) == []
    carry_out(Removal(1, 10, str(path), "all"))
    carry_out(Removal(1, 10, str(path), "all"))  # idempotent
    assert not path.exists()


def test_symlinks_are_never_followed_out(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "precious.bin").write_text("keep me")
    search_dir = tmp_path / "search"
    journal = ended_trial(search_dir, VALUES)
    ten = layout.checkpoint_dir(layout.trial_dir(search_dir, 1), 10)
    (ten / "optimizer.pt").unlink()
    (ten / "optimizer.pt").symlink_to(outside / "precious.bin")
    thirty = layout.checkpoint_dir(layout.trial_dir(search_dir, 1), 30)
    os.rename(thirty, outside / "ckpt30")
    thirty.symlink_to(outside / "ckpt30", target_is_directory=True)
    run = Run(journal)
    Retention(search(search_dir), run.state, run.record, RULE).tick()
    assert not ten.exists() and not os.path.lexists(thirty)
    assert (outside / "precious.bin").read_text() == "keep me"
    assert (outside / "ckpt30" / "optimizer.pt").exists()


def test_a_trial_folder_linked_out_of_search_dir_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "scratch"
    search_dir = tmp_path / "search"
    journal = ended_trial(outside / "s", VALUES)
    (search_dir / "trials").mkdir(parents=True)
    (search_dir / "trials" / "001").symlink_to(layout.trial_dir(outside / "s", 1))
    journal = [ev.TrialStarted(trial=1, seed=1, params={}, sampler_trial=None,
                               output_dir=str(layout.trial_dir(search_dir, 1)))] + [
        ev.Checkpoint(trial=1, step=e.step, path=str(layout.checkpoint_dir(
            layout.trial_dir(search_dir, 1), e.step))) if isinstance(e, ev.Checkpoint) else e
        for e in journal[1:]]
    run = Run(journal)
    Retention(search(search_dir), run.state, run.record, RULE).tick()
    assert len(list(layout.trial_dir(outside / "s", 1).iterdir())) == 3
    refused = [e for e in journal if isinstance(e, ev.DeleteRefused)]
    assert len(refused) == 3 and "outside search.dir" in refused[0].reason
    assert not [e for e in journal if isinstance(e, ev.DeleteIntent)]


def test_keep_all_deletes_nothing_but_measures(tmp_path: Path) -> None:
    run = Run(ended_trial(tmp_path, VALUES))
    Retention(search(tmp_path, keep="all"), run.state, run.record, RULE).tick()
    assert len(list(layout.trial_dir(tmp_path, 1).iterdir())) == 3
    assert run.state.disk.figures()["freed_bytes"] == 0
    assert run.state.disk.figures()["final_bytes"] > 0
