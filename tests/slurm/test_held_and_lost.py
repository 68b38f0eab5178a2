"""A held training and a lost node, on the local cluster's hostile parts (scripts/local-slurm):

- a training `scontrol requeuehold` puts on hold is named in `orchestrator status` while it
  waits, released by the controller after search.held_grace_s, and the search completes
  under the same job id;
- a training whose node is lost (`scripts/local-slurm kill-node n2`: NODE_FAIL ~25-30 s
  later) is retried from its last checkpoint once the node is back; the NODE_FAIL'd job is
  cancelled (SLURM would requeue it under its id, beside the retry).
No checkpoint is evaluated twice in either.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.cli import cli, start
from tests.support.journal import evaluations, events, summary, wait_for
from tests.support.searches import TINY, search_dir
from tests.support.slurm import LOCAL_SLURM, SlurmCluster, job_state, run

pytestmark = pytest.mark.slurm

NODE = "n2"  # the node the lost-node test kills (test_preemption_slurm.py preempts n3)
# a tiny search that runs to its last step (target out of reach): 3 checkpoints, evaluated
# on the host node's default partition
SEARCH = [*TINY, "train.max_steps=150", "search.target=0.999", "search.patience=10",
          "executor.poll_interval_s=1", "executor.max_poll_interval_s=2", "--plain"]


def _first_training(evs: list[dict[str, object]]) -> str:
    return next(str(e["job_id"]) for e in evs
                if e["event"] == "submitted" and str(e["key"]).startswith("train"))


def _evaluated_once_each(directory: Path, evs: list[dict[str, object]]) -> None:
    counts = evaluations(evs)
    assert counts and set(counts.values()) == {1}, counts
    assert sorted(step for _, step in counts) == [50, 100, 150], counts
    assert summary(directory)["status"] == "exhausted"
    assert summary(directory)["trials"][0]["training"] == "succeeded"


def test_a_held_training_is_named_then_released(slurm_cluster: SlurmCluster,
                                                tmp_path: Path) -> None:
    directory, log, train_id = search_dir(tmp_path), tmp_path / "held.log", ""
    controller = start("run", "executor=slurm", *SEARCH, f"search.dir={directory}",
                       "search.train_retries=0", "search.held_grace_s=15", log=log)
    try:
        first = wait_for(directory, lambda evs: any(e["event"] == "checkpoint" for e in evs),
                         timeout=600)
        train_id = _first_training(first)
        held = run(["scontrol", "requeuehold", train_id])
        assert held.returncode == 0, held.stderr
        wait_for(directory, lambda evs: any(
            e["event"] == "job_state" and "held" in str(e.get("reason", "")).lower()
            for e in evs), timeout=120)
        status = cli("status", str(directory))
        assert f"train-t001-a0: job {train_id} PENDING (" in status.stdout, status.stdout
        assert "held; released after 15 s held (search.held_grace_s)" in status.stdout, \
            status.stdout
        assert controller.wait(timeout=900) in (0, 1), log.read_text()[-3000:]
    finally:
        if controller.poll() is None:
            controller.kill()
        if train_id:  # never left held on the cluster
            run(["scancel", train_id])
    evs = events(directory)
    released = [e for e in evs if e["event"] == "job_released"]
    assert [e["job_id"] for e in released] == [train_id], released
    assert float(str(released[0]["held_s"])) >= 15
    assert "asking the scheduler to release it" in log.read_text()
    trains = [e for e in evs if e["event"] == "submitted" and str(e["key"]).startswith("train")]
    assert [e["job_id"] for e in trains] == [train_id]  # released, not replaced
    assert not [e for e in evs if e["event"] == "job_failed"]
    _evaluated_once_each(directory, evs)


@pytest.mark.skipif(os.geteuid() != 0, reason="kill-node needs root")
def _lost_or_requeued(evs: list[dict[str, object]], job_id: str) -> str:
    """How the controller saw the node's loss: "failed" (a NODE_FAIL poll), "requeued" (the
    id RUNNING, then PENDING again: SLURM requeued it under its id before any poll read
    NODE_FAIL, which takes slurmctld under a second), or "" (not yet)."""
    states = [e.get("state") for e in evs if e["event"] == "job_state"
              and e.get("job_id") == job_id]
    if any(e["event"] == "job_failed" and e.get("job_id") == job_id for e in evs):
        return "failed"
    if "RUNNING" in states and "PENDING" in states[states.index("RUNNING"):]:
        return "requeued"
    return ""


def test_a_training_whose_node_is_lost_is_retried_and_the_search_completes(
        slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    directory, log = search_dir(tmp_path), tmp_path / "lost.log"
    controller = start("run", "executor=slurm", *SEARCH, f"search.dir={directory}",
                       "executor.train.partition=nodes", "executor.train.cpus_per_task=2",
                       f"executor.train.additional={{nodelist: {NODE}}}", log=log)
    try:
        first = wait_for(directory, lambda evs: any(e["event"] == "checkpoint" for e in evs),
                         timeout=600)
        train_id = _first_training(first)
        killed = run([str(LOCAL_SLURM), "kill-node", NODE])
        assert killed.returncode == 0, killed.stdout + killed.stderr
        seen = _lost_or_requeued(wait_for(
            directory, lambda evs: bool(_lost_or_requeued(evs, train_id)), timeout=180),
            train_id)
        # either way the training waits for its node (executor.train.additional's nodelist)
        revived = run([str(LOCAL_SLURM), "revive-node", NODE])
        assert revived.returncode == 0, revived.stdout + revived.stderr
        assert controller.wait(timeout=900) in (0, 1), log.read_text()[-3000:]
    finally:
        run([str(LOCAL_SLURM), "revive-node", NODE])
        if controller.poll() is None:
            controller.kill()
    evs = events(directory)
    failed = [e for e in evs if e["event"] == "job_failed"]
    trains = [e for e in evs if e["event"] == "submitted" and str(e["key"]).startswith("train")]
    runs = run(["sacct", "-X", "-D", "-n", "-P", "-o", "State,ElapsedRaw", "-j", train_id]).stdout
    ran = [line for line in runs.splitlines() if line and line.split("|")[1] not in ("0", "")]
    if seen == "requeued":
        # SLURM's own requeue: the same id ran again and resumed; nothing failed, no retry
        assert failed == [] and len(trains) == 1, (failed, trains)
        assert ran[0].startswith("NODE_FAIL") and len(ran) == 2, runs
        # and the journal, hence the view, status and report.md, names the lost node
        said = [e.get("requeued") for e in evs if e["event"] == "job_state"
                and e.get("job_id") == train_id and e.get("requeued")]
        assert said == [f"node {NODE} was lost (NODE_FAIL)"], said
        assert f"after node {NODE} was lost" in (directory / "report.md").read_text()
        resumed = trains[0]
    else:
        assert [(e["job_id"], e["state"]) for e in failed] == [(train_id, "NODE_FAIL")], failed
        assert f"node {NODE} lost" in str(failed[0].get("detail", "")), failed
        cancels = [e for e in evs if e["event"] == "cancel" and train_id in e["job_ids"]]
        assert cancels, "the NODE_FAIL'd job was not cancelled"
        assert len(trains) == 2 and trains[1]["job_id"] != train_id, trains
        # the NODE_FAIL'd id never ran again beside its retry (SLURM's JobRequeue=1)
        assert len(ran) == 1 and ran[0].startswith("NODE_FAIL"), runs  # its first run only
        assert job_state(train_id) in {"NODE_FAIL", "CANCELLED"}, runs
        resumed = trains[1]
    logs = list(directory.rglob(f"{resumed['job_id']}_0_log.out"))
    assert logs and "resuming from" in logs[0].read_text(), logs
    _evaluated_once_each(directory, evs)
