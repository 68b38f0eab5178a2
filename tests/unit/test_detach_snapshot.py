"""search.snapshot for a detached controller (`run --detach`): the snapshot it runs from
(engine.snapshot.for_controller), the PYTHONPATH its SLURM job or background process gets
(engine.detach), and the hash it journals once it runs from the copy (common.snapshot plans
a snapshot from itself)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from orchestrator.common import snapshot
from orchestrator.config.settings import Settings
from orchestrator.engine import detach
from orchestrator.engine import snapshot as freezing
from orchestrator.model.events import CodeSnapshot
from orchestrator.scheduler.submitit_jobs import python_command
from tests.support.snapshots import byo_settings


def _scripts(where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "train.py").write_text("print('train')\n")
    return where / "train.py"


def _byo(tmp_path: Path, script: Path, on: bool = True) -> Settings:
    return byo_settings(tmp_path, script, on, executor="slurm")


def _first(settings: Settings) -> CodeSnapshot:
    code, _ = freezing.prepare(settings, [], force=False)
    assert code is not None
    return code


@pytest.mark.parametrize(("journaled", "edited", "force", "runs", "warned"), [
    (False, False, False, "new", False),  # a first detach: the code now, copied
    (True, False, False, "journaled", False),  # a resume, same code
    (True, True, False, "journaled", True),  # other code: kept, and said so
    (True, True, True, "new", False),  # other code, --force-resume: the new code
], ids=["first", "same", "edited", "edited-forced"])
def test_the_controller_runs_the_journaled_snapshot_unless_forced(
        tmp_path: Path, journaled: bool, edited: bool, force: bool, runs: str,
        warned: bool) -> None:
    script = _scripts(tmp_path / "mine")
    settings = _byo(tmp_path, script)
    before = _first(settings) if journaled else None
    current = snapshot.current(tmp_path / "runs")
    if edited:
        script.write_text("raise SystemExit(1)\n")
    code, lines = freezing.for_controller(settings, before, force)
    assert code is not None and code.is_dir()
    if runs == "journaled":
        assert before is not None and code == Path(before.dir)
    else:  # the code as it is now
        assert (code / snapshot.user_key(script)).read_text() == script.read_text()
    assert bool(lines) is warned and all("--force-resume" in line for line in lines)
    # what the jobs of a controller still running use is left alone
    assert snapshot.current(tmp_path / "runs") == current


def test_no_snapshot_no_copy(tmp_path: Path) -> None:
    settings = _byo(tmp_path, _scripts(tmp_path / "mine"), on=False)
    assert freezing.for_controller(settings, None, force=False) == (None, [])
    assert not (tmp_path / "runs").exists()


def test_a_dry_run_names_the_copy_without_making_it(tmp_path: Path) -> None:
    settings = _byo(tmp_path, _scripts(tmp_path / "mine"))
    named, _ = freezing.for_controller(settings, None, force=False, copy=False)
    assert named is not None and not named.exists()
    made, _ = freezing.for_controller(settings, None, force=False)
    assert made == named


def test_code_run_from_a_snapshot_plans_that_snapshot(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The detached controller, started from the copy, journals the copy's own hash, and a
    requeue with --force-resume after the user edited the scripts changes nothing."""
    script = _scripts(tmp_path / "mine")
    settings = _byo(tmp_path, script)
    code, _ = freezing.for_controller(settings, None, force=False)
    assert code is not None and snapshot.frozen_root(tmp_path / "runs", code) == code
    assert snapshot.frozen_root(tmp_path / "runs") is None  # the tests run the checkout
    monkeypatch.setattr(snapshot, "project_root", lambda: code)  # as the controller job
    script.write_text("raise SystemExit(1)\n")  # edited while the controller queued
    journaled = _first(settings)
    assert Path(journaled.dir) == code and journaled.hash[:snapshot.SHORT] == code.name
    assert snapshot.current(tmp_path / "runs") == code
    assert freezing.prepare(settings, [journaled], force=True) == (None, [])


def test_the_controller_job_runs_the_snapshot_first(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/site/extra")
    settings = _byo(tmp_path, _scripts(tmp_path / "mine"))
    argv = ["run", "executor=slurm", "--detach"]
    assert detach.controller_request(settings, argv).snapshot == ""
    frozen = tmp_path / "runs" / "snapshot" / "abc"
    request = detach.controller_request(settings, argv, frozen)
    assert request.snapshot == str(frozen) and "--detach" not in request.spec
    words = shlex.split(python_command(request.resources, request.snapshot) or "")
    assert words[:3] == ["env", "PYTHONSAFEPATH=1", f"PYTHONPATH={frozen}:/site/extra"]


@pytest.mark.parametrize(("code", "before", "after"), [
    (None, {"PYTHONPATH": "/x", "HOME": "/h"}, {"PYTHONPATH": "/x", "HOME": "/h"}),
    ("/r/snapshot/abc", {"HOME": "/h"},
     {"HOME": "/h", "PYTHONPATH": "/r/snapshot/abc", "PYTHONSAFEPATH": "1"}),
    ("/r/snapshot/abc", {"PYTHONPATH": "/x"},
     {"PYTHONPATH": "/r/snapshot/abc:/x", "PYTHONSAFEPATH": "1"}),
], ids=["in-place", "snapshot", "snapshot-then-theirs"])
def test_a_local_detached_controller_gets_the_snapshot_first(
        code: str | None, before: dict[str, str], after: dict[str, str]) -> None:
    assert detach.controller_env(Path(code) if code else None, before) == after


def test_the_copy_is_importable_as_the_project(tmp_path: Path) -> None:
    """The copy holds what `python -m orchestrator run` needs: its packages and conf/."""
    settings = _byo(tmp_path, _scripts(tmp_path / "mine"))
    code, _ = freezing.for_controller(settings, None, force=False)
    assert code is not None
    for needed in ("orchestrator/__main__.py", "jobs", "conf/config.yaml"):
        assert (code / needed).exists(), needed
