"""What a busy real cluster does to a search, on the local cluster's hostile parts
(scripts/local-slurm: partitions scav (PreemptMode=CANCEL), requeue (REQUEUE) and urgent on the
namespaced nodes n1..n3; QOS tinyq with MaxSubmitJobsPerUser=3, MaxJobsPerUser=2):

- a training preempted for good is retried from its last complete checkpoint, without using
  a retry, and the search ends as it would have;
- a training SLURM requeues after preemption goes on under the same job id, no retry;
- a search that wants more jobs at once than the QOS lets a user queue waits and completes;
- a cancel slurmctld did not take is sent again until the job has ended.
No checkpoint is evaluated twice in any of them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from orchestrator.model.transitions import JobState
from orchestrator.scheduler import JobRef
from orchestrator.scheduler.slurm import SlurmScheduler
from tests.support.cli import start
from tests.support.journal import evaluations, events, summary, wait_for
from tests.support.searches import JOBS_PYTHON, TINY, search_dir
from tests.support.slurm import SlurmCluster, job_state, run

pytestmark = pytest.mark.slurm

NODE = "n3"  # the namespaced node these tests preempt (test_hostile_cluster.py uses n1, n2)
NODE_CPUS = 2
# the urgent job's run: the preemption happens at its start, so its length only delays the
# retry (test_hostile_cluster.py preempts with 1 s)
URGENT_S = 3
# a tiny search that runs to its last step (target out of reach): 3 checkpoints, evaluated
# on the host node's default partition; the training alone on NODE
PREEMPTIBLE = [*TINY, "train.max_steps=150", "search.target=0.999", "search.patience=10",
               "executor.poll_interval_s=1", "executor.max_poll_interval_s=2",
               "search.train_retries=0", f"executor.train.cpus_per_task={NODE_CPUS}",
               f"executor.train.additional={{nodelist: {NODE}}}", "--plain"]


def _preempt_training(directory: Path, log: Path, partition: str,
                      cluster: SlurmCluster) -> tuple[list[dict[str, object]], str]:
    """Run the search with its training on `partition`, and once its first checkpoint is
    journaled, take NODE with an urgent job for URGENT_S. The journal and the first training's
    id."""
    controller = start("run", "executor=slurm", *PREEMPTIBLE, f"search.dir={directory}",
                       f"executor.train.partition={partition}", log=log)
    try:
        first = wait_for(directory, lambda evs: any(e["event"] == "checkpoint" for e in evs),
                         timeout=600)
        train_id = next(str(e["job_id"]) for e in first
                        if e["event"] == "submitted" and str(e["key"]).startswith("train"))
        cluster.sbatch(["--job-name=preemption-test-urgent", "-p", "urgent", "-w", NODE,
                        f"-c{NODE_CPUS}", "--time=5", "--wrap", f"sleep {URGENT_S}"])
        assert controller.wait(timeout=900) in (0, 1), log.read_text()[-3000:]
    finally:
        if controller.poll() is None:
            controller.kill()
        run(["scancel", "--name=preemption-test-urgent"])
    return events(directory), train_id


def _evaluated_once_each(directory: Path, evs: list[dict[str, object]]) -> None:
    counts = evaluations(evs)
    assert counts and set(counts.values()) == {1}, counts
    assert sorted(step for _, step in counts) == [50, 100, 150], counts
    assert summary(directory)["status"] == "exhausted"


def test_a_training_preempted_for_good_resumes_from_its_checkpoint(
        slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    evs, first_id = _preempt_training(directory, tmp_path / "cancel.log", "scav", slurm_cluster)
    assert job_state(first_id).startswith("PREEMPTED")
    failed = [e for e in evs if e["event"] == "job_failed"]
    assert [(e["job_id"], e["state"], e["cause"]) for e in failed] == [
        (first_id, "PREEMPTED", "preempted")], failed
    trains = [e for e in evs if e["event"] == "submitted" and str(e["key"]).startswith("train")]
    assert len(trains) == 2, trains  # a retry, though search.train_retries=0
    # the retry resumed from a checkpoint the preempted run had written
    logs = list(directory.rglob(f"{trains[1]['job_id']}_0_log.out"))
    assert logs and "resuming from" in logs[0].read_text(), logs
    assert summary(directory)["trials"][0]["training"] == "succeeded"
    _evaluated_once_each(directory, evs)


def test_a_training_requeued_after_preemption_goes_on_under_its_id(
        slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    evs, first_id = _preempt_training(directory, tmp_path / "requeue.log", "requeue",
                                      slurm_cluster)
    done = run(["sacct", "-X", "--duplicates", "-n", "-P", "-o", "State", "-j", first_id])
    assert done.stdout.split()[:1] == ["PREEMPTED"], done.stdout  # it was preempted ...
    trains = [e for e in evs if e["event"] == "submitted" and str(e["key"]).startswith("train")]
    assert [e["job_id"] for e in trains] == [first_id]  # ... and came back as itself
    assert not [e for e in evs if e["event"] == "job_failed"]
    assert summary(directory)["trials"][0]["training"] == "succeeded"
    _evaluated_once_each(directory, evs)


def test_a_search_wider_than_the_submit_limit_waits_and_completes(
        slurm_cluster: SlurmCluster, tmp_path: Path) -> None:
    """A training and up to 4 evaluations at once, all under QOS tinyq (3 queued, 2 running
    per user): sbatch refuses the 4th job (QOSMaxSubmitJobPerUserLimit); the controller
    waits, says why, and the search completes.

    Two held jobs of someone else's under tinyq take two of its three submit slots until the
    first wait is journaled, so the limit is met for certain, not only when evaluations happen
    to pile up (on 24.11, with slower-starting jobs, they kept up and sbatch was never refused);
    then they go, and the search completes at its usual pace."""
    directory = search_dir(tmp_path)
    log = tmp_path / "controller.log"
    held = [slurm_cluster.sbatch(["--hold", "--qos=tinyq", f"--job-name=tinyq-slot-{i}",
                                  "--wrap", "true"]) for i in range(2)]
    controller = start(
        "run", "executor=slurm", "data=synthetic", "model=tiny",
        "data.synthetic_train_size=1000", "data.synthetic_test_size=300",
        "train.max_steps=100", "train.save_steps=20", "train.eval_steps=20",
        "search.max_concurrent_evals=4", "search.target=0.999", "search.patience=10",
        "executor.qos=tinyq", "executor.poll_interval_s=1", "executor.max_poll_interval_s=2",
        f"search.dir={directory}", "--plain", *JOBS_PYTHON, log=log)
    try:
        wait_for(directory, lambda evs: any(e["event"] == "scheduler_unavailable" for e in evs),
                 timeout=600)
    except BaseException:
        controller.kill()
        raise
    finally:
        run(["scancel", *held])
    assert controller.wait(timeout=1200) in (0, 1), log.read_text()[-3000:]
    evs = events(directory)
    waits = [e for e in evs if e["event"] == "scheduler_unavailable"]
    assert waits and all(e["limit"] for e in waits), waits
    assert "QOSMaxSubmitJobPerUserLimit" in str(waits[0]["reason"])
    assert "submissions wait: the scheduler takes no more of our jobs" in log.read_text()
    data = summary(directory)
    assert [t["training"] for t in data["trials"]] == ["succeeded"]
    counts = evaluations(evs)
    assert len(counts) == 5 and set(counts.values()) == {1}, counts  # steps 20 .. 100


def test_a_cancel_slurmctld_did_not_take_is_sent_again(
        slurm_cluster: SlurmCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """scancel fails once as it does while slurmctld is down: the next poll sends it again,
    and the job ends, without the controller asking twice."""
    name = f"cancel-again-{os.getpid()}"
    job_id = slurm_cluster.sbatch([f"--job-name={name}", "--wrap", "sleep 300"])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    real = run(["sh", "-c", "command -v scancel"]).stdout.strip()
    once = tmp_path / "failed-once"
    (bin_dir / "scancel").write_text(
        f'#!/bin/sh\nif [ ! -e "{once}" ]; then touch "{once}"\n'
        'echo "scancel: error: Unable to contact slurm controller (connect failure)" >&2\n'
        f'exit 1\nfi\nexec "{real}" "$@"\n')
    (bin_dir / "scancel").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    backend = SlurmScheduler(interactive=False)
    ref = JobRef(job_id, tmp_path, name)
    try:
        backend.cancel([ref])
        assert once.exists() and backend.commands.calls["scancel"] == 1
        deadline = time.monotonic() + 60
        state = JobState.RUNNING
        while not state.terminal and time.monotonic() < deadline:
            state = backend.poll([ref])[job_id]
            time.sleep(1)
        assert state is JobState.CANCELLED, state
        assert backend.commands.calls["scancel"] == 2
    finally:
        run(["scancel", job_id])
