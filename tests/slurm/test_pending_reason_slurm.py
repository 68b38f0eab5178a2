"""Why a SLURM job waits, from the controller's one batched sacct poll (and, for pending jobs
sacct gives no reason, one batched squeue), shown to people."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.support.cli import cli, start
from tests.support.journal import events, wait_for
from tests.support.searches import TINY, search_dir
from tests.support.slurm import SlurmCluster, counting_path, run

pytestmark = pytest.mark.slurm
# why a job that asks for every CPU of the busy node waits, as squeue says it
WAITING = ("Resources", "Priority")


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


def _journaled_reasons(evs: list[dict[str, object]], job_id: str) -> list[object]:
    return [e.get("reason") for e in evs if e["event"] == "job_state" and e["job_id"] == job_id]


def test_a_job_waiting_for_cpus_shows_squeues_reason(slurm_cluster: SlurmCluster,
                                                     tmp_path: Path) -> None:
    """SLURM 22.05's sacct says Reason None for a job waiting for Priority or Resources: the
    controller asks squeue, once per poll, about the pending jobs only."""
    directory = search_dir(tmp_path)
    log = tmp_path / "controller.log"
    env, calls_log = counting_path(tmp_path)
    cpus = run(["sinfo", "-h", "-N", "-n", slurm_cluster.node, "-o", "%c"]).stdout.split()[0]
    # one CPU held by a sleep: a training job asking for every CPU of the one node must wait.
    # --nice: any other session's job goes first, so ours only ever waits longer
    blocker = slurm_cluster.sbatch([f"--job-name={directory.name}-blocker", "--time=5",
                                    "--cpus-per-task=1", "--wrap", "sleep 300"])
    proc = None
    try:
        slurm_cluster.wait_for_state(blocker, {"RUNNING"}, timeout=120)
        proc = start("run", "executor=slurm", *TINY, "search.target=0.99",
                     f"search.dir={directory}", f"executor.train.cpus_per_task={cpus}",
                     "executor.train.additional={nice: 10000}", "executor.poll_interval_s=1",
                     "executor.max_poll_interval_s=2", "--plain", log=log, env=env)
        evs = wait_for(directory, lambda es: any(
            e["event"] == "job_state" and e.get("reason") in WAITING for e in es), timeout=120)
        job_id = next(e["job_id"] for e in evs if e["event"] == "submitted")
        # what squeue says now is what the controller journals (within a poll or two)
        seen = run(["squeue", "--noheader", f"--jobs={job_id}", "--format=%r"]).stdout.strip()
        evs = wait_for(directory, lambda es: _journaled_reasons(es, job_id)[-1:] == [seen],
                       timeout=30)
        status = cli("status", str(directory))
    finally:
        if proc is not None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        for e in events(directory):  # ours, by name: never another session's job
            if e["event"] == "submit_intent":
                run(["scancel", f"--name={e['name']}"])
        run(["scancel", blocker])
    assert seen in WAITING
    assert f"job {job_id} (train-t001-a0) is PENDING (waiting: {seen})" in log.read_text()
    assert f"train-t001-a0: job {job_id} PENDING ({seen})" in status.stdout, status.stdout
    calls = [line.split()[1:] for line in calls_log.read_text().splitlines()]
    polls = [c for c in calls if c[0] == "sacct" and "JobID,State,Reason,JobName" in c]
    asked = [c for c in calls if c[0] == "squeue"]
    assert asked, calls
    assert all(c == ["squeue", "--noheader", f"--jobs={job_id}", "--format=%i|%r"]
               for c in asked), asked
    # exactly one squeue after each poll whose sacct saw the job PENDING (the first poll or
    # two may precede sacct's row): never two in a row, never more than the polls
    status_calls = [c[0] for c in calls if c[0] in ("sacct", "squeue")]
    assert "squeue squeue" not in " ".join(status_calls), status_calls
    assert len(polls) - 3 <= len(asked) <= len(polls), (len(polls), len(asked))
