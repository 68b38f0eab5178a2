"""A job the controller cancels on the local executor really stops, within a bounded time,
even when its script ignores SIGINT (and SIGTERM); its log says it was cancelled."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from orchestrator.config.settings import JobResources
from orchestrator.model.transitions import JobKind, JobState, as_seen_after_cancel
from orchestrator.scheduler import JobRef, JobRequest
from orchestrator.scheduler.local import LocalScheduler
from orchestrator.scheduler.processes import group_members

pytestmark = pytest.mark.e2e

STUBBORN = {
    "ignores SIGINT": "signal.signal(signal.SIGINT, signal.SIG_IGN)",
    "ignores SIGINT and SIGTERM": "signal.signal(signal.SIGINT, signal.SIG_IGN); "
                                  "signal.signal(signal.SIGTERM, signal.SIG_IGN)",
}
GONE_WITHIN_S = 15.0


def _wait(predicate: object, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():  # type: ignore[operator]
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s")


@pytest.mark.parametrize("resumed", [False, True], ids=["same controller", "resumed controller"])
@pytest.mark.parametrize("stubborn", sorted(STUBBORN))
def test_a_cancelled_local_job_is_gone_and_cancelled(tmp_path: Path, stubborn: str,
                                                     resumed: bool) -> None:
    code = (f"import signal, time; {STUBBORN[stubborn]}; print('ready', flush=True); "
            "time.sleep(300)")
    folder = tmp_path / "jobs" / "train-t001-a0"
    request = JobRequest(key="train-t001-a0", kind=JobKind.TRAIN, name="x-train-t001-a0",
                         folder=folder, resources=JobResources(timeout_min=5),
                         command=(sys.executable, "-c", code), output=str(tmp_path / "out"))
    first = LocalScheduler()
    job_id = first.submit(request)
    ref = JobRef(job_id, folder, request.name)
    log = folder / f"{job_id}_0_log.out"
    _wait(lambda: log.exists() and "ready" in log.read_text(), 60)
    assert len(group_members(int(job_id))) >= 3  # submitit's controller, its task, the script
    # a resumed controller knows the job by its id alone
    sched = LocalScheduler() if resumed else first
    assert sched.poll([ref])[job_id] is JobState.RUNNING
    sched.cancel([ref])
    took = _wait(lambda: sched.poll([ref])[job_id].terminal, GONE_WITHIN_S)
    assert not group_members(int(job_id)), "a process of the cancelled job still runs"
    seen = as_seen_after_cancel(sched.poll([ref])[job_id], cancel_requested=True)
    assert seen is JobState.CANCELLED, (seen, took)
    err = (folder / f"{job_id}_0_log.err").read_text()
    assert "cancelled by the controller" in err and "Traceback" not in err, err
