"""`orchestrator run` refuses a search folder whose trials/ holds trials its journal never
started (engine.folder_checks.check_own_trials): an earlier search's checkpoints and results,
which a new trial of that number would take as its own. tests/e2e/test_bad_input.py runs it
whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.common import layout
from orchestrator.engine import detach
from orchestrator.engine.folder_checks import check_own_trials
from orchestrator.errors import SearchDirError
from orchestrator.model import events as ev
from orchestrator.model.state import SearchState
from tests.support.fake_cluster import settings_for


@pytest.mark.parametrize(("name", "trial"), [
    ("001", 1), ("042", 42), ("999", 999), ("1000", 1000), ("12345", 12345),
    ("1", None), ("01", None), ("0001", None), ("abc", None), ("00a", None), ("", None),
    ("-01", None), ("\uff11\uff12\uff13", None),  # fullwidth: isdigit() and int() take them
    ("\u00b2", None), ("00\u00b2", None), ("\u2460", None),  # isdigit(), and int() refuses
])
def test_trial_of_dir_inverts_trial_dir(name: str, trial: int | None) -> None:
    assert layout.trial_of_dir(name) == trial
    if trial is not None:
        assert layout.trial_dir(Path("/s"), trial).name == name


def _state(*trials: int) -> SearchState:
    state = SearchState()
    for n in trials:
        state.apply(ev.TrialStarted(trial=n, seed=n, params={}, sampler_trial=None,
                                    output_dir=f"/s/trials/{n:03d}"))
    return state


def _folder(search_dir: Path, name: str, file: str | None = "trainer_state.json") -> None:
    folder = layout.trials_dir(search_dir) / name
    folder.mkdir(parents=True)
    if file is not None:
        (folder / file).write_text("{}")


@pytest.mark.parametrize(("folders", "journaled", "refused"), [
    ([], (), None),  # no trials/ at all: a first run
    (["001", "002"], (1, 2), None),  # a resume
    (["001"], (1, 2), None),  # trial 2 journaled, its job has not written yet
    (["001", "002"], (1,), "(002)"),  # the journal cut back after trial 1
    (["001", "003"], (), "(001, 003)"),  # the journal deleted: every one named
    (["notes", "1", "0001"], (), None),  # not a name the controller gives a trial
])
def test_check_own_trials(tmp_path: Path, folders: list[str], journaled: tuple[int, ...],
                          refused: str | None) -> None:
    for name in folders:
        _folder(tmp_path, name)
    if refused is None:
        check_own_trials(_state(*journaled), tmp_path)
        return
    with pytest.raises(SearchDirError) as raised:
        check_own_trials(_state(*journaled), tmp_path)
    message = str(raised.value)
    assert f"journal never started {refused}:" in message
    assert str(layout.trials_dir(tmp_path)) in message
    assert f"move {tmp_path} aside to start afresh, or use another search.dir" in message
    assert "\n" not in message


def test_many_strays_are_counted_not_listed(tmp_path: Path) -> None:
    for n in range(1, 1001):
        _folder(tmp_path, f"{n:03d}")
    with pytest.raises(SearchDirError, match=r"\(001, 002, 003, 004, 005 and 995 more\)"):
        check_own_trials(_state(), tmp_path)


@pytest.mark.parametrize("odd", ["a file named 001", "a dangling link named 001",
                                 "trials, a file"])
def test_odd_entries_hold_nothing_to_take(tmp_path: Path, odd: str) -> None:
    """Refused cleanly or passed, never an unexpected OSError."""
    trials = layout.trials_dir(tmp_path)
    if odd == "trials, a file":
        trials.write_text("x")
    else:
        trials.mkdir()
        if odd.startswith("a file"):
            (trials / "001").write_text("x")
        else:
            (trials / "001").symlink_to(tmp_path / "gone")
    check_own_trials(_state(), tmp_path)


def test_run_detach_refuses_before_it_starts_a_controller(tmp_path: Path) -> None:
    """A detached controller would only say it in its log (on SLURM, after the queue)."""
    _folder(tmp_path, "001")
    with pytest.raises(SearchDirError, match=r"journal never started \(001\)"):
        detach.detach(settings_for(tmp_path), ["run", f"search.dir={tmp_path}"])
    assert not layout.journal_path(tmp_path).exists()
    assert not layout.controller_log_path(tmp_path).exists()


def test_an_empty_trial_folder_holds_nothing_to_take(tmp_path: Path) -> None:
    _folder(tmp_path, "001", file=None)
    check_own_trials(_state(), tmp_path)
