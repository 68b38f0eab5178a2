"""Trials that span nodes on the local cluster's namespaced nodes (partition `nodes`, n1..n3):

- two 2-node trials at once share a node (3 nodes, 4 node-slots), each meets at its own
  rendezvous port (orchestrator.scheduler.rendezvous: derived from the job id) and forms
  its process group;
- a node lost under a 2-node trial: the trial resumes from its last complete checkpoint on
  the two nodes left, nothing evaluated is lost or evaluated twice, and the journal and
  `status` name the lost node.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

import pytest

from orchestrator.scheduler.rendezvous import port_for
from tests.support.cli import cli, start
from tests.support.journal import evaluations, events, summary, wait_for
from tests.support.searches import JOBS_PYTHON, search_dir
from tests.support.slurm import LOCAL_SLURM, SlurmCluster, run

pytestmark = pytest.mark.slurm

TWO_NODES = ["executor=slurm", "data=synthetic", "model=tiny", "data.synthetic_train_size=1200",
             "data.synthetic_test_size=300", "train.save_steps=20", "train.eval_steps=20",
             "executor.train.nodes=2", "executor.train.partition=nodes",
             "search.target=0.99", "search.patience=10", "executor.poll_interval_s=1",
             "executor.max_poll_interval_s=2", "--plain", *JOBS_PYTHON]
MET = re.compile(r"rank (\d): all 2 ranks met at (\w+):(\d+) \(gloo\)")


def _trainings(evs: list[dict[str, object]]) -> list[str]:
    return [str(e["job_id"]) for e in evs
            if e["event"] == "submitted" and str(e["key"]).startswith("train")]


def _hosts(node_list: str) -> set[str]:
    return set(run(["scontrol", "show", "hostnames", node_list]).stdout.split())


def _ran(job_id: str) -> tuple[set[str], datetime, datetime]:
    """The job's nodes, start and end (its end: now while it runs)."""
    row = run(["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "NodeList,Start,End"]).stdout
    nodes, begun, ended = row.strip().splitlines()[0].split("|")
    end = datetime.now() if ended == "Unknown" else datetime.fromisoformat(ended)
    return _hosts(nodes), datetime.fromisoformat(begun), end


def _met(directory: Path, job_id: str) -> set[tuple[str, str, int]]:
    """(rank, host, port) each task's log says it met at."""
    found = set()
    for log in directory.rglob(f"{job_id}_*_log.out"):
        found |= {(r, h, int(p)) for r, h, p in MET.findall(log.read_text())}
    return found


def test_two_two_node_trials_share_a_node_each_at_its_own_port(
        slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    # 1 CPU per task: each training takes 1 of each node's 2 CPUs, so the two share a node;
    # 20 steps, one checkpoint each: the overlap below is about the two jobs' SLURM run times,
    # which a serialised placement breaks at any length
    done = cli("run", *TWO_NODES, "train.max_steps=20", "executor.train.cpus_per_task=1",
               "search.space={learning_rate: [5e-4, 1e-3]}", "search.max_trials=2",
               "search.max_concurrent_trials=2", f"search.dir={directory}", timeout=900)
    assert done.returncode == 1, done.stdout + done.stderr  # 0.99 is out of reach
    data = summary(directory)
    assert [t["training"] for t in data["trials"]] == ["succeeded", "succeeded"], data
    assert sorted(evaluations(events(directory)).values()) == [1] * 2
    first, second = _trainings(events(directory))
    (nodes_a, start_a, end_a), (nodes_b, start_b, end_b) = _ran(first), _ran(second)
    assert len(nodes_a) == len(nodes_b) == 2 and nodes_a & nodes_b, (nodes_a, nodes_b)
    assert start_a < end_b and start_b < end_a, "the two trainings did not run at once"
    ports = {}
    for job_id, nodes in ((first, nodes_a), (second, nodes_b)):
        met = _met(directory, job_id)
        assert {r for r, _, _ in met} == {"0", "1"}, met  # both ranks in one group
        assert len({(h, p) for _, h, p in met}) == 1 and {h for _, h, _ in met} <= nodes, met
        ports[job_id] = next(p for _, _, p in met)
        assert ports[job_id] == port_for(job_id, "0")
    assert ports[first] != ports[second], ports


@pytest.mark.reliability
@pytest.mark.skipif(os.geteuid() != 0, reason="kill-node needs root")
def test_a_two_node_trial_that_loses_a_node_resumes_on_the_nodes_left(
        slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    """Reliability tier (2-5 min; a node killed under a 2-node training). CI keeps the fast
    variants: a one-node trial's lost node (test_held_and_lost.py) and the node named in the
    failure line (tests/unit/test_slurm_nodes.py)."""
    directory, log, lost = search_dir(tmp_path), tmp_path / "lost.log", ""
    # 2 CPUs per task: the training holds two whole nodes, its retry the two that are left;
    # 100 steps: the node is killed at the first checkpoint (20), long before the last
    controller = start("run", *TWO_NODES, "train.max_steps=100",
                       "executor.train.cpus_per_task=2", f"search.dir={directory}", log=log)
    try:
        first = wait_for(directory, lambda evs: any(e["event"] == "checkpoint" for e in evs),
                         timeout=600)
        train_id = _trainings(first)[0]
        nodes, _, _ = _ran(train_id)
        lost = sorted(nodes)[-1]
        killed = run([str(LOCAL_SLURM), "kill-node", lost])
        assert killed.returncode == 0, killed.stdout + killed.stderr
        wait_for(directory, lambda evs: len(_trainings(evs)) == 2, timeout=240)
        assert controller.wait(timeout=900) in (0, 1), log.read_text()[-3000:]
    finally:
        if lost:  # the other tests (and sessions) need all three nodes
            run([str(LOCAL_SLURM), "revive-node", lost])
        if controller.poll() is None:
            controller.kill()
    evs = events(directory)
    failed = [e for e in evs if e["event"] == "job_failed"]
    assert [(e["job_id"], e["state"]) for e in failed] == [(train_id, "NODE_FAIL")], failed
    assert f"node {lost} lost (the job ran on " in str(failed[0]["reason"]), failed
    assert f"NODE_FAIL: other: node {lost} lost" in log.read_text()  # the live view says it
    assert f"ended NODE_FAIL: node {lost} lost" in cli("status", str(directory)).stdout
    retry = _trainings(evs)[1]
    again, _, _ = _ran(retry)
    assert lost not in again and len(again) == 2, (lost, again)  # the two nodes left
    assert len(_met(directory, retry)) == 2
    logs = list(directory.rglob(f"{retry}_*_log.out"))
    assert any("resuming from" in p.read_text() for p in logs), logs
    counts = evaluations(evs)
    assert sorted(step for _, step in counts) == [20, 40, 60, 80, 100], counts
    assert set(counts.values()) == {1}, counts
    assert summary(directory)["trials"][0]["training"] == "succeeded"
