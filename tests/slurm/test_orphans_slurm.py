"""No orphans on the real cluster (search.orphan_grace_s): a controller killed with -9 while
training runs leaves no job holding its node past the grace, and the same command run again
resumes the search from the last checkpoint and finishes it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.cli import cli, start
from tests.support.journal import by_step, evaluations, events, summary, wait_for, wait_until
from tests.support.searches import ONLY_FIFTH, byo_overrides, search_dir
from tests.support.slurm import sacct_jobs

pytestmark = pytest.mark.slurm

GRACE_S = 20
ENDED_WITHIN_S = GRACE_S + 30
ALIVE = ("PENDING", "RUNNING", "REQUEUED", "COMPLETING", "CONFIGURING", "SUSPENDED")


def test_jobs_of_a_killed_controller_end_themselves_and_the_search_resumes(
    slurm_cluster: object, tmp_path: Path
) -> None:
    # training lingers after its last checkpoint: only the controller's cancel or the orphan
    # watch ends it; only checkpoint 500 reaches the target
    directory = search_dir(tmp_path)
    overrides = [*byo_overrides(directory, every_s=3, infer_args="--sleep-s 2", linger_s=300,
                                curve=ONLY_FIFTH), f"search.orphan_grace_s={GRACE_S}"]
    proc = start("run", *overrides, "--plain", log=tmp_path / "first.log")
    try:
        wait_for(directory, lambda evs: len(evaluations(evs)) >= 1, timeout=180)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    killed = time.monotonic()

    # every job of the search ends by itself: none runs or waits past the grace
    def all_ended() -> bool:
        rows = sacct_jobs(directory.name)
        return bool(rows) and not any(r[2].split()[0] in ALIVE for r in rows)

    wait_until(all_ended, timeout=ENDED_WITHIN_S + 15, every_s=1)
    assert time.monotonic() - killed <= ENDED_WITHIN_S, sacct_jobs(directory.name)
    trains = [r for r in sacct_jobs(directory.name) if "-train-" in r[1]]
    assert [r[2] for r in trains] == ["FAILED"]  # it ended itself (not the controller)
    log = next(directory.glob("jobs/train-t001-a0/*_0_log.err")).read_text()
    assert "orphaned: the controller's last sign of life" in log

    again = cli("run", *overrides, "--plain", timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    evs = events(directory)
    failed = [e for e in evs if e["event"] == "job_failed" and e["key"] == "train-t001-a0"]
    assert [e["cause"] for e in failed] == ["orphaned"]
    # retried like a preemption: from its last checkpoint, and not one of the retries
    assert any(e["event"] == "submitted" and e["key"] == "train-t001-a1" for e in evs)
    assert all(n == 1 for n in evaluations(evs).values())  # nothing evaluated twice
    assert summary(directory)["status"] == "target_reached"
    assert by_step(directory)[500]["value"] >= 80
