"""Why a SLURM job waits, from the controller's one batched sacct poll, shown to people."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.support.cli import cli, start
from tests.support.journal import events, wait_for
from tests.support.searches import TINY, search_dir
from tests.support.slurm import run

pytestmark = pytest.mark.slurm


def test_a_job_held_until_later_shows_slurms_reason(slurm_cluster: object,
                                                    tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    log = tmp_path / "controller.log"
    # --begin an hour from now: SLURM keeps the training job PENDING with Reason=BeginTime,
    # whatever else the shared cluster runs
    proc = start("run", "executor=slurm", *TINY, "search.target=0.99",
                 f"search.dir={directory}", "executor.train.additional={begin: now+1hour}",
                 "executor.poll_interval_s=1", "executor.max_poll_interval_s=2", "--plain",
                 log=log)
    try:
        evs = wait_for(directory, lambda es: any(
            e["event"] == "job_state" and e.get("reason") == "BeginTime" for e in es),
            timeout=120)
        status = cli("status", str(directory))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        for e in events(directory):  # ours, by name: never another session's job
            if e["event"] == "submit_intent":
                run(["scancel", f"--name={e['name']}"])
    held = [e for e in evs if e["event"] == "job_state"]
    job_id = held[-1]["job_id"]
    assert (held[-1]["state"], held[-1]["reason"]) == ("PENDING", "BeginTime")
    assert f"job {job_id} (train-t001-a0) is PENDING (waiting: BeginTime)" in log.read_text()
    assert f"train-t001-a0: job {job_id} PENDING (BeginTime)" in status.stdout, status.stdout
    assert "training PENDING (BeginTime)" in status.stdout
