"""No orphans (search.orphan_grace_s): the rule by which a job judges its controller gone
(orchestrator/common/liveness.py), the watch that acts on it in the job
(orchestrator/scheduler/orphan_watch.py) and the job requests that carry it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.common import causes, failures, layout, liveness
from orchestrator.config import compose as config
from orchestrator.config.settings import DataSettings, EvaluatorSpec, InferSpec
from orchestrator.engine.job_requests import infer_request, train_request, worker_request
from orchestrator.errors import ConfigError
from orchestrator.placement import work_queue
from orchestrator.scheduler import in_job, orphan_watch
from orchestrator.scheduler.interface import OrphanWatch

NOW = 1_000_000.0
ROOT = Path(__file__).resolve().parents[2]


def _lease(beat: float, **extra: Any) -> dict[str, Any]:
    return {"host": "login1", "pid": 7, "since": NOW - 3600, "beat": beat, **extra}


ORPHANED = [
    # (lease, latest write of lease/journal, grace, detached job, its job queued?, orphaned?)
    (_lease(NOW - 500), 0.0, 0.0, None, False, False),  # off: never
    (_lease(NOW - 5), 0.0, 60.0, None, False, False),  # beating
    (_lease(NOW - 60), 0.0, 60.0, None, False, False),  # exactly the grace: not yet
    (_lease(NOW - 61), 0.0, 60.0, None, False, True),  # killed: no beat for longer
    (_lease(NOW - 61, released=True), 0.0, 60.0, None, False, True),  # stopped, not back
    (_lease(NOW - 10, released=True), 0.0, 60.0, None, False, False),  # restarting
    (_lease(NOW - 500), NOW - 30, 60.0, None, False, False),  # the journal was written
    ({"host": "h", "pid": 7, "since": NOW - 20}, 0.0, 60.0, None, False, False),  # no beat yet
    (None, NOW - 30, 60.0, None, False, False),  # no lease: the journal alone
    (None, 0.0, 60.0, None, False, True),  # nothing at all
    (_lease(NOW - 500), 0.0, 60.0, "42", True, False),  # detached, requeued: it comes back
    (_lease(NOW - 500), 0.0, 60.0, "42", False, True),  # detached, its job ended
]


@pytest.mark.parametrize(("holder", "written", "grace", "detached", "queued", "gone"), ORPHANED)
def test_the_orphan_rule(holder: dict[str, Any] | None, written: float, grace: float,
                         detached: str | None, queued: bool, gone: bool) -> None:
    asked: list[str] = []

    def is_queued(job_id: str) -> bool:
        asked.append(job_id)
        return queued

    found, why = liveness.orphaned(holder, written, NOW, grace, detached, is_queued)
    assert found is gone
    assert why.startswith("orphaned: ") is gone
    assert asked == ([detached] if detached and not _recent(holder, written, grace) else [])


def _recent(holder: dict[str, Any] | None, written: float, grace: float) -> bool:
    return NOW - liveness.last_sign(holder or {}, written) <= grace


def _folder(tmp_path: Path, beat: float, detached: str | None = None) -> Path:
    layout.holder_path(tmp_path).write_text(json.dumps(_lease(beat)))
    layout.journal_path(tmp_path).write_text("")
    old = time.time() - 3600
    for path in (layout.holder_path(tmp_path), layout.journal_path(tmp_path)):
        os.utime(path, (old, old))
    if detached:
        layout.controller_job_path(tmp_path).write_text(json.dumps({"job_id": detached}))
    return tmp_path


def test_the_signs_are_read_from_the_search_folder(tmp_path: Path) -> None:
    assert liveness.read_signs(tmp_path) == (None, 0.0, None)
    folder = _folder(tmp_path, time.time() - 3600, detached="42")
    holder, written, detached = liveness.read_signs(folder)
    assert holder is not None and holder["pid"] == 7
    assert abs(written - (time.time() - 3600)) < 5 and detached == "42"


@pytest.mark.parametrize(("age", "gone"), [(5.0, False), (120.0, True)])
def test_a_job_checks_its_search_folder(tmp_path: Path, age: float, gone: bool) -> None:
    folder = _folder(tmp_path, time.time() - age)
    assert orphan_watch.check(OrphanWatch(str(folder), 60.0))[0] is gone


def test_an_unanswered_squeue_keeps_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # no squeue at all
    assert orphan_watch.controller_queued("42") is True


# a job (in_job.call) whose watch finds its controller long gone: it ends itself as a cancel
# does, with cause "orphaned" written where the controller reads it
JOB = textwrap.dedent("""
    import sys
    from orchestrator.scheduler import in_job, orphan_watch
    from orchestrator.scheduler.interface import OrphanWatch
    orphan_watch.write_failure = lambda failure: print("cause", failure.cause, flush=True)
    orphan_watch.start(OrphanWatch(sys.argv[1], 30.0), check_s=0.1)
    in_job.call("time:sleep", 60)
""")


def test_an_orphaned_job_ends_itself(tmp_path: Path) -> None:
    folder = _folder(tmp_path, time.time() - 3600)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", JOB, str(folder)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          check=False)
    assert time.monotonic() - started < 30
    assert done.returncode == 130, done.stderr
    assert "cause orphaned" in done.stdout
    assert "orphaned: the controller's last sign of life" in done.stderr


def test_the_orphaned_cause_travels_to_the_controller(tmp_path: Path) -> None:
    path = layout.failure_path(tmp_path, "7")
    failures.write(path, causes.JobFailure(causes.ORPHANED, "orphaned: ..."))
    assert failures.read(path) == causes.JobFailure(causes.ORPHANED, "orphaned: ...")


@pytest.mark.parametrize(("grace", "watched"), [("0", False), ("900", True)])
def test_every_job_of_the_search_carries_the_watch(tmp_path: Path, grace: str,
                                                    watched: bool) -> None:
    settings = config.to_settings(config.compose([
        f"search.dir={tmp_path}", "search.target=0.8", f"search.orphan_grace_s={grace}"]))
    requests = [train_request(settings, tmp_path, 1, 1, 0),
                infer_request(settings, tmp_path, 1, 10, "c", 0),
                worker_request(settings, tmp_path, 1, 0)]
    expected = OrphanWatch(str(tmp_path.resolve()), 900.0) if watched else None
    assert [r.orphan_watch for r in requests] == [expected] * 3


def test_a_negative_grace_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"search.orphan_grace_s=-1.0: must be >= 0"):
        config.to_settings(config.compose([
            f"search.dir={tmp_path}", "search.target=0.8", "search.orphan_grace_s=-1"]))


def test_a_worker_job_that_ends_orphaned_leaves_its_tasks_orphaned(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orphan_watch, "start", lambda watch: None)
    spec = EvaluatorSpec(str(tmp_path), layout.WORKERS,
                         InferSpec(checkpoint="", result_path="", data=DataSettings()))
    qdir = work_queue.queue_dir(tmp_path, layout.WORKERS)
    work_queue.post(qdir, work_queue.Task("infer-t001-s00000100-a0", 1, 100, "/c", "/r"))
    runner = in_job.job_id()
    assert work_queue.claim(qdir, runner) is not None

    def evaluating(target: str, given: EvaluatorSpec) -> None:
        in_job.ORPHANED.set()  # what the watch does before it interrupts the job
        raise KeyboardInterrupt

    try:
        with pytest.raises(KeyboardInterrupt):
            orphan_watch.Watched(evaluating, OrphanWatch(str(tmp_path), 20.0))(
                "jobs.worker:run", spec)
    finally:
        in_job.ORPHANED.clear()
    failed = json.loads(next((qdir / work_queue.FAILED).glob("*.json")).read_text())
    assert failed["cause"] == causes.ORPHANED
    assert work_queue.claimed_by(qdir, runner) == []
