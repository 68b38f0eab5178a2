"""infer.placement=worker and with_training on the real cluster: a worker job evaluates the
checkpoints handed to it through files, the evaluator beside training needs no inference job
at all, a worker scancel'ed mid-evaluation hands its checkpoint on, and kill -9 of the
controller re-attaches to the live worker."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import cli, start
from tests.support.journal import decision, evaluations, events, submissions, summary, wait_for
from tests.support.searches import (
    ONLY_FIFTH,
    TINY_SEARCH_TIMEOUT_S,
    TINY_TO_TARGET,
    TinySearch,
    byo_overrides,
    search_dir,
)
from tests.support.slurm import sacct_jobs

pytestmark = pytest.mark.slurm


def _kinds(directory: Path) -> dict[str, list[str]]:
    """sacct's jobs of the search by kind (from the job name): kind -> their states."""
    kinds: dict[str, list[str]] = {}
    for _, name, state, _ in sacct_jobs(directory.name):
        kind = next(k for k in ("train", "infer", "worker") if f"-{k}-" in name)
        kinds.setdefault(kind, []).append(state)
    return kinds


# the first test to ask for the session's tiny_search pays for it (a venv, a search)
@pytest.mark.timeout(TINY_SEARCH_TIMEOUT_S)
def test_tiny_search_with_a_worker_decides_as_with_jobs(tiny_search: TinySearch,
                                                        tmp_path: Path) -> None:
    """The deterministic tiny search with one worker job for every checkpoint decides as
    conftest's ``tiny_search`` (the same search, one inference job per checkpoint; its own
    checks are test_executor_python_slurm.py's), with the same numbers."""
    jobs, worker = tiny_search.directory, search_dir(tmp_path)
    assert tiny_search.done.returncode == 0, tiny_search.done.stderr[-4000:]
    done = cli("run", "executor=slurm", *TINY_TO_TARGET, f"search.dir={worker}",
               "infer.placement=worker", timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert decision(worker) == decision(jobs)
    assert decision(worker)[0] == "target_reached"
    data = summary(worker)
    worker_ids = {e["job_id"] for e in events(worker)
                  if e["event"] == "submitted" and e["key"].startswith("worker-")}
    assert len(worker_ids) == 1
    assert {e["job_id"] for e in data["evaluations"]} == worker_ids
    assert data["scheduler_jobs"] == {"train": 1, "infer": 0, "worker": 1}
    kinds = _kinds(worker)
    assert set(kinds) == {"train", "worker"} and len(kinds["worker"]) == 1
    assert len(data["evaluations"]) > len(kinds["worker"])  # fewer jobs than evaluations
    ours = {e["step"]: e["value"] for e in data["evaluations"]}
    theirs = {e["step"]: e["value"] for e in summary(jobs)["evaluations"]}
    assert all(ours[s] == theirs[s] for s in ours.keys() & theirs.keys())  # same numbers


def test_with_training_needs_no_inference_job(slurm_cluster: object, tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    done = cli("run", *byo_overrides(directory, every_s=1.5, linger_s=120, curve=ONLY_FIFTH),
               "infer.placement=with_training", "--plain")
    assert done.returncode == 0, done.stdout + done.stderr
    assert decision(directory) == ("target_reached", [(1, "target_reached", 500)])
    kinds = _kinds(directory)
    assert set(kinds) == {"train"} and kinds["train"] == ["CANCELLED"]
    train_id = next(e["job_id"] for e in events(directory)
                    if e["event"] == "submitted" and e["key"] == "train-t001-a0")
    data = summary(directory)
    assert {e["job_id"] for e in data["evaluations"]} == {train_id}
    assert [e["step"] for e in data["evaluations"]][:5] == [100, 200, 300, 400, 500]


def _claimed(step: int) -> Any:
    def ready(evs: list[dict[str, Any]]) -> bool:
        return any(e["event"] == "job_state" and f"-s{step:08d}-" in e["key"]
                   and e["state"] == "RUNNING" and e.get("runner") for e in evs)
    return ready


def test_scancel_of_a_worker_mid_evaluation_hands_the_checkpoint_on(
        slurm_cluster: object, tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    overrides = byo_overrides(directory, every_s=1.0, linger_s=120, curve=ONLY_FIFTH,
                              infer_args="--sleep-at 300:20")
    proc = start("run", *overrides, "infer.placement=worker", "search.max_concurrent_evals=1",
                 "--plain", log=tmp_path / "controller.log")
    evs = wait_for(directory, _claimed(300), timeout=180)
    runner = next(e["runner"] for e in evs if e["event"] == "job_state"
                  and "-s00000300-" in e["key"] and e.get("runner"))
    subprocess.run(["scancel", runner], check=True)
    assert proc.wait(timeout=400) == 0, (tmp_path / "controller.log").read_text()
    evs = events(directory)
    assert all(n == 1 for n in evaluations(evs).values())  # no checkpoint twice
    data = summary(directory)
    by_step = {e["step"]: e for e in data["evaluations"]}
    assert by_step[300]["value"] == 62.0 and by_step[300]["job_id"] != runner
    # the scancel'ed worker's task goes back to the queue (its SIGTERM'd script is put back,
    # not failed) and the same attempt is evaluated by the next worker; a task lost with the
    # worker before it could be put back is a second attempt instead
    first = data["jobs"]["infer-t001-s00000300-a0"]["state"]
    assert (first, submissions(evs)[("infer", 1, 300)]) in (
        ("SUCCEEDED", 1), ("FAILED", 2), ("LOST", 2)), first
    assert decision(directory) == ("target_reached", [(1, "target_reached", 500)])
    workers = [k for k in data["jobs"] if k.startswith("worker-")]
    assert workers == ["worker-w01-a0", "worker-w01-a1"]


def test_kill_9_of_the_controller_reattaches_to_the_live_worker(
        slurm_cluster: object, tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    overrides = [*byo_overrides(directory, every_s=1.5, linger_s=120, curve=ONLY_FIFTH,
                                infer_args="--sleep-s 2"),
                 "infer.placement=worker",
                 "infer.worker_idle_s=600", "--plain"]
    proc = start("run", *overrides, log=tmp_path / "first.log")
    wait_for(directory, lambda evs: len(evaluations(evs)) >= 2, timeout=180)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    worker_id = next(e["job_id"] for e in events(directory)
                     if e["event"] == "submitted" and e["key"] == "worker-w01-a0")
    again = cli("run", *overrides)
    assert again.returncode == 0, again.stdout + again.stderr
    evs = events(directory)
    assert any(e["event"] == "resumed" for e in evs)
    assert all(n == 1 for n in submissions(evs).values())  # one worker, never a second
    assert all(n == 1 for n in evaluations(evs).values())
    assert {e["job_id"] for e in summary(directory)["evaluations"]} == {worker_id}
    assert decision(directory) == ("target_reached", [(1, "target_reached", 500)])
    kinds = _kinds(directory)
    assert len(kinds["worker"]) == 1 and "infer" not in kinds
    # the task the finish cancelled (its worker, scancel'ed, may have put it back) is seen
    # CANCELLED, so the finish did not wait out search.drain_timeout_s for it (it did: 30 s)
    last = {e["key"]: e["state"] for e in evs if e["event"] == "job_state"}
    cancelled = {k for e in evs if e["event"] == "cancel" for k in e["keys"]}
    assert cancelled and all(last[k] == "CANCELLED" for k in cancelled), last
