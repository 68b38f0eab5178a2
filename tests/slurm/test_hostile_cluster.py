"""The local cluster's hostile parts (scripts/local-slurm, issue 22): namespaced nodes n1..n3,
preemption (scav CANCEL, requeue REQUEUE, urgent), the tinyq QOS, a lost node.

Each test pins its jobs to its own node (-w), so they do not preempt one another's jobs."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest

from tests.support.slurm import LOCAL_SLURM, SlurmCluster, run

pytestmark = pytest.mark.slurm

NAME = "--job-name=hostile-cluster-test"
NODE_CPUS = 2  # LOCAL_SLURM_NODE_CPUS: a job with this many takes the whole node


@pytest.fixture
def hostile(slurm_cluster: SlurmCluster) -> SlurmCluster:
    if "nodes" not in slurm_cluster.partitions:
        pytest.skip("the local cluster has no namespaced nodes (LOCAL_SLURM_NODES=0)")
    return slurm_cluster


def poll(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not after {timeout}s")
        time.sleep(0.2)


def squeue(job_id: str) -> str:
    """``%T|%r`` of the job, as the controller reads it; empty once plain squeue drops it."""
    return run(["squeue", "-h", "-j", job_id, "-o", "%T|%r"]).stdout.strip()


def restarts(job_id: str) -> int:
    out = run(["scontrol", "show", "job", job_id]).stdout
    return int(out.split("Restarts=")[1].split()[0])


def test_srun_spans_two_nodes_with_their_own_hostnames(hostile: SlurmCluster) -> None:
    proc = run(["srun", "-N2", "-p", "nodes", NAME, "sh", "-c",
                'echo "$(hostname) $SLURMD_NODENAME"; getent hosts n1 n2 n3 | wc -l'], timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    pairs = sorted(tuple(line.split()) for line in lines if " " in line)
    assert len(pairs) == 2 and pairs[0] != pairs[1], proc.stdout
    assert all(host == node and node in {"n1", "n2", "n3"} for host, node in pairs), pairs
    # node names resolve inside jobs (a rendezvous by hostname)
    assert [line for line in lines if line.strip().isdigit()] == ["3", "3"], proc.stdout


def preempt(cluster: SlurmCluster, partition: str, node: str, urgent_s: int) -> str:
    """A job of `partition` taking all of `node`, then an urgent one wanting it: the victim."""
    victim = cluster.sbatch([NAME, "-p", partition, "-w", node, f"-c{NODE_CPUS}", "--time=5",
                             "--wrap", "sleep 300"])
    poll(f"job {victim} running", lambda: cluster.squeue_state(victim) == "RUNNING", 30)
    cluster.sbatch([NAME, "-p", "urgent", "-w", node, f"-c{NODE_CPUS}", "--time=5",
                    "--wrap", f"sleep {urgent_s}"])
    return victim


def test_scav_job_preempted_by_urgent_ends_preempted_for_good(hostile: SlurmCluster) -> None:
    victim = preempt(hostile, "scav", "n1", urgent_s=1)
    try:
        assert hostile.wait_for_state(victim, {"PREEMPTED"}, timeout=30) == "PREEMPTED"
        # gone from plain squeue at once on 22.05; 24.11 shows it COMPLETING for a moment first
        # (scheduler/slurm_parse.py's release differences)
        poll(f"job {victim} gone from squeue", lambda: squeue(victim) == "", 10)
        time.sleep(11)  # past cred_expire=10 s: a requeued job would have started again
        assert hostile.sacct(victim, "State") == ["PREEMPTED"]
        assert squeue(victim) == ""
    finally:
        run(["scancel", "--name=hostile-cluster-test", "-w", "n1"])


def test_requeue_job_preempted_comes_back_with_the_same_id(hostile: SlurmCluster) -> None:
    victim = preempt(hostile, "requeue", "n2", urgent_s=1)
    try:
        poll(f"job {victim} requeued", lambda: squeue(victim).startswith("PENDING|"), 30)
        poll(f"job {victim} running again", lambda: squeue(victim) == "RUNNING|None", 40)
        assert restarts(victim) == 1
    finally:
        run(["scancel", victim])
        run(["scancel", "--name=hostile-cluster-test", "-w", "n2"])


def test_tinyq_refuses_the_fourth_submission_and_runs_two(hostile: SlurmCluster) -> None:
    args = ["sbatch", "--parsable", "--output=/dev/null", NAME, "--qos=tinyq", "-p", "scav",
            "--time=5", "--wrap", "sleep 60"]
    ids: list[str] = []
    try:
        for _ in range(3):
            proc = run(args)
            assert proc.returncode == 0, proc.stderr
            ids.append(proc.stdout.strip())
        refused = run(args)
        assert refused.returncode != 0
        assert "QOSMaxSubmitJobPerUserLimit" in refused.stderr, refused.stderr
        poll("two running, one waiting for the QOS", lambda: sorted(squeue(i) for i in ids) == [
            "PENDING|QOSMaxJobsPerUserLimit", "RUNNING|None", "RUNNING|None"], 30)
    finally:
        run(["scancel", *ids])


@pytest.mark.skipif(os.geteuid() != 0, reason="kill-node needs root")
def test_kill_node_gives_node_fail_and_revive_node_returns_it(hostile: SlurmCluster) -> None:
    job = hostile.sbatch([NAME, "-p", "nodes", "-w", "n3", "--no-requeue", "--time=5",
                          "--wrap", "sleep 300"])
    try:
        poll(f"job {job} running", lambda: hostile.squeue_state(job) == "RUNNING", 30)
        proc = run([str(LOCAL_SLURM), "kill-node", "n3"])
        assert proc.returncode == 0, proc.stdout + proc.stderr
        # SlurmdTimeout=10 s, but the failed ping's MessageTimeout too: ~25-30 s measured
        assert hostile.wait_for_state(job, {"NODE_FAIL"}, timeout=60) == "NODE_FAIL"
    finally:
        revived = run([str(LOCAL_SLURM), "revive-node", "n3"])
        run(["scancel", job])
    assert revived.returncode == 0, revived.stdout + revived.stderr
    state = run(["sinfo", "-h", "-n", "n3", "-o", "%T"]).stdout.split()
    assert state and state[0] in {"idle", "mixed", "allocated"}, state
