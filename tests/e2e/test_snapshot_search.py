"""search.snapshot with the local executor: the jobs run the code copied when the search
started, whatever happens to the original afterwards."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from orchestrator import exit_codes
from orchestrator.common import snapshot
from orchestrator.config.settings import JobResources
from orchestrator.model.transitions import JobKind, JobState
from orchestrator.scheduler.interface import JobRef, JobRequest
from orchestrator.scheduler.local import LocalScheduler
from orchestrator.scheduler.submitit_jobs import job_paths, load_outcome
from tests.support import badkit as bk
from tests.support.cli import ROOT, cli, start
from tests.support.journal import summary, wait_for

pytestmark = pytest.mark.e2e

BROKEN = "import sys\nprint('edited after the start', file=sys.stderr)\nsys.exit(5)\n"


def test_editing_a_script_after_the_start_changes_nothing(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("fake_train.py", "fake_infer.py"):
        shutil.copy(bk.BYO / name, mine / name)
    directory = tmp_path / "s"
    train = f"{bk.PY} {mine / 'fake_train.py'} {{output_dir}} --checkpoints 6 --every-s 1"
    infer = f"{bk.PY} {mine / 'fake_infer.py'} {{checkpoint}} --curve {bk.CURVE}"
    proc = start(*bk.search(directory, train=train, infer=infer,
                            extra=("search.snapshot=true",)), log=tmp_path / "run.log")
    try:
        evs = wait_for(directory, lambda evs: any(e["event"] == "submitted" for e in evs), 60)
        for name in ("fake_train.py", "fake_infer.py"):  # the user edits (breaks) them
            (mine / name).write_text(BROKEN)
    finally:
        code = proc.wait(timeout=300)
    assert code == exit_codes.TARGET_REACHED, (tmp_path / "run.log").read_text()
    data = summary(directory)
    assert data["best"]["step"] == 500 and data["best"]["value"] == 81.0
    frozen = next(e for e in evs if e["event"] == "code_snapshot")
    status = cli("status", str(directory), timeout=60)
    assert f"code: snapshot {frozen['hash'][:12]}" in status.stdout


def where(_: object) -> str:
    """Run in a job: the file its in-job wrapper was imported from."""
    from orchestrator.scheduler import in_job

    return in_job.__file__


def test_a_builtin_job_imports_the_snapshot_first(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # where the code in place would be found first
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # for this test's module only
    _, copy = snapshot.take(snapshot.plan([], tmp_path / "s"), tmp_path / "s")
    request = JobRequest(key="where", kind=JobKind.INFER, name="where",
                         folder=tmp_path / "job", resources=JobResources(),
                         target="tests.e2e.test_snapshot_search:where", snapshot=str(copy))
    scheduler = LocalScheduler(interactive=False)
    ref = JobRef(scheduler.submit(request), request.folder)
    deadline = time.monotonic() + 120
    while scheduler.poll([ref])[ref.job_id] == JobState.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    outcome = load_outcome(job_paths(ref).result_pickle)
    assert outcome is not None and outcome[0] == "success", outcome
    assert Path(outcome[1]).resolve().is_relative_to(copy)
