"""jobs.worker: the long-lived evaluator on a work queue, with tiny real checkpoints."""

from __future__ import annotations

import json
import os
import pickle
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from jobs import infer, worker
from orchestrator.common import layout
from orchestrator.config.settings import DataSettings, EvaluatorSpec, InferSpec
from orchestrator.placement import work_queue
from orchestrator.placement.work_queue import Where
from tests.support.evaluators import evaluator_spec, script, task, wait_for
from tests.support.job_settings import TrainedRun


def test_tasks_score_as_the_inference_job_does_tokenized_once_and_fast(
        trained_run: TrainedRun, tmp_path: Path) -> None:
    qdir = work_queue.queue_dir(tmp_path, layout.WORKERS)
    spec = evaluator_spec(trained_run, tmp_path, idle_s=1.0)
    summary: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: summary.update(worker.run(spec, "w1")))
    thread.start()
    overheads, posts = [], []
    for attempt, step in enumerate((20, 40, 60, 40), start=1):  # one at a time, as they come
        posted = task(trained_run, tmp_path, step, attempt=attempt)
        started = time.perf_counter()
        work_queue.post(qdir, posted)
        wait_for(lambda k=posted.key: work_queue.where(qdir, k).where is Where.DONE)
        result = json.loads(Path(posted.result).read_text())
        overheads.append(time.perf_counter() - started - result["seconds"])
        posts.append((posted, step))
    thread.join()
    for attempt, (posted, step) in enumerate(posts, start=1):
        result = json.loads(Path(posted.result).read_text())
        alone = infer.run(trained_run.infer_spec(tmp_path / f"alone-{attempt}.json", step))
        assert result.pop("runner") == "w1"
        for key in ("seconds", "examples_per_s", "peak_gpu_memory_bytes"):
            result.pop(key), alone.pop(key)
        assert result == alone  # the same JSON as jobs.infer's, but for "runner"
    assert summary["exit"].startswith("idle") and summary["evaluated"] == 4
    assert summary["tokenizations"] == 1  # one tokenizer: the splits tokenized once
    print(f"overhead per task after the first: {statistics.median(overheads[1:]):.3f} s, "
          f"first {overheads[0]:.3f} s, imports and data {summary['load_s']:.2f} s")
    assert statistics.median(overheads[1:]) < 1.0


@pytest.mark.parametrize(("setup", "exit_reason"), [
    (lambda qdir: work_queue.request_stop(qdir), "stop"),
    (lambda qdir: None, "idle for 0.2 s"),
])
def test_stop_and_idle_exit(trained_run: TrainedRun, tmp_path: Path, setup: Any,
                            exit_reason: str) -> None:
    setup(work_queue.queue_dir(tmp_path, layout.WORKERS))
    summary = worker.run(evaluator_spec(trained_run, tmp_path, idle_s=0.2), "w1")
    assert summary["exit"] == exit_reason and summary["evaluated"] == 0
    beat = work_queue.runners(work_queue.queue_dir(tmp_path, layout.WORKERS))
    assert [b["runner"] for b in beat] == ["w1"] and beat[0]["exited"] == exit_reason


def test_a_restarted_job_puts_back_the_claims_its_first_run_left(trained_run: TrainedRun,
                                                                 tmp_path: Path) -> None:
    qdir = work_queue.queue_dir(tmp_path, layout.WORKERS)
    left = task(trained_run, tmp_path, 20)
    work_queue.post(qdir, left)
    assert work_queue.claim(qdir, "w1") == left  # the first run of job w1, requeued since
    summary = worker.run(evaluator_spec(trained_run, tmp_path, idle_s=0.2), "w1")
    # put back in the queue (preempted, requeued: nothing failed), then taken and evaluated
    assert summary["evaluated"] == 1 and summary["failed"] == 0
    assert work_queue.where(qdir, left.key).where is Where.DONE


@pytest.mark.parametrize("rank_variable", ["SLURM_PROCID", "RANK"])
def test_a_second_rank_of_the_job_leaves_its_siblings_claims_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rank_variable: str) -> None:
    """A worker job with two tasks: both ranks run jobs.worker under the job's one id. Rank 0
    has claimed a task and evaluates it; rank 1 starting must neither fail that claim (it is
    not a restarted run's) nor claim work under the same name."""
    qdir = work_queue.queue_dir(tmp_path, layout.WORKERS)
    held, waiting = task(None, tmp_path, 20), task(None, tmp_path, 40)
    work_queue.post(qdir, held)
    work_queue.post(qdir, waiting)
    assert work_queue.claim(qdir, "j7") == held  # rank 0, at work
    spec = EvaluatorSpec(str(tmp_path), layout.WORKERS,
                         InferSpec(checkpoint="", result_path="", data=DataSettings()),
                         idle_s=0.2, preload=False)
    monkeypatch.setenv(rank_variable, "1")
    summary = worker.run(spec, "j7")
    assert summary["exit"] == "rank 1: only rank 0 evaluates" and summary["evaluated"] == 0
    assert work_queue.where(qdir, held.key).where is Where.CLAIMED
    assert work_queue.where(qdir, waiting.key).where is Where.POSTED
    monkeypatch.setenv(rank_variable, "0")  # rank 0 restarted: its own claim is failed
    assert worker.run(spec, "j7")["exit"] != "rank 1: only rank 0 evaluates"
    assert work_queue.where(qdir, held.key).where is Where.FAILED


def test_a_bad_task_fails_alone_and_the_worker_goes_on(trained_run: TrainedRun,
                                                       tmp_path: Path) -> None:
    qdir = work_queue.queue_dir(tmp_path, layout.WORKERS)
    good = script(tmp_path, "good.py", "print('The generation accuracy is 50.0 %.')")
    usage = script(tmp_path, "usage.py", "print('usage: x', file=sys.stderr); sys.exit(2)")
    crash = script(tmp_path, "crash.py", "sys.exit(3)")
    tasks = [task(None, tmp_path, 20, checkpoint=str(tmp_path / "nope")),  # no checkpoint
             task(None, tmp_path, 40, command=(good, "{checkpoint}")),
             task(None, tmp_path, 60, command=(usage,)),
             task(None, tmp_path, 80, command=(crash,)),
             task(None, tmp_path, 100, command=(str(tmp_path / "missing.sh"),)),
             task(trained_run, tmp_path, 60, trial=2)]
    for posted in tasks:
        work_queue.post(qdir, posted)
    summary = worker.run(evaluator_spec(trained_run, tmp_path, idle_s=0.2), "w1")
    assert (summary["evaluated"], summary["failed"]) == (2, 4)
    found = work_queue.snapshot(qdir)
    assert [(found[t.key].where, found[t.key].cause) for t in tasks] == [
        (Where.FAILED, "input"), (Where.DONE, None), (Where.FAILED, "input"),
        (Where.FAILED, "other"), (Where.FAILED, "input"), (Where.DONE, None)]
    assert Path(tasks[1].result).read_text() == "The generation accuracy is 50.0 %.\n"
    assert "usage: x" in found[tasks[2].key].reason
    assert json.loads(Path(tasks[5].result).read_text())["step"] == 60


def test_a_task_another_user_posted_is_never_run(tmp_path: Path) -> None:
    """Anyone who can write into a shared search.dir could post a command that the worker
    runs as the search's owner: a task file the worker's own uid did not write is refused
    (as root, the test's file is given to uid 65534)."""
    qdir = work_queue.queue_dir(tmp_path, layout.WORKERS)
    ran = tmp_path / "ran"
    marker = script(tmp_path, "mark.py", f"open({str(ran)!r}, 'a').write(sys.argv[1])")
    theirs = task(None, tmp_path, 20, command=(marker, "theirs"))
    ours = task(None, tmp_path, 40, command=(marker, "ours"))
    work_queue.post(qdir, theirs)
    os.chown(qdir / work_queue.POSTED / f"{theirs.key}.json", 65534, 65534)
    work_queue.post(qdir, ours)
    spec = EvaluatorSpec(str(tmp_path), layout.WORKERS,
                         InferSpec(checkpoint="", result_path="", data=DataSettings()),
                         idle_s=0.2, preload=False)
    summary = worker.run(spec, "w1")
    assert (summary["evaluated"], summary["failed"]) == (1, 0)
    assert ran.read_text() == "ours"
    found = work_queue.where(qdir, theirs.key)
    assert found.where is Where.FAILED and "belongs to uid 65534" in found.reason


def _start_worker(spec_path: Path, runner: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "jobs.worker", str(spec_path),
                             "--runner", runner], env={**os.environ, "PYTHONPATH": os.getcwd()})


def test_two_workers_do_every_task_exactly_once(trained_run: TrainedRun, tmp_path: Path) -> None:
    qdir = work_queue.queue_dir(tmp_path, layout.WORKERS)
    spec_path = tmp_path / "spec.pkl"
    spec_path.write_bytes(pickle.dumps(evaluator_spec(trained_run, tmp_path, idle_s=1.0)))
    tasks = [task(trained_run, tmp_path, step, trial=trial)
             for trial in (1, 2) for step in (20, 40, 60)]
    for posted in tasks:
        work_queue.post(qdir, posted)
    workers = [_start_worker(spec_path, runner) for runner in ("a", "b")]
    assert [w.wait(120) for w in workers] == [0, 0]
    done = sorted(os.listdir(qdir / work_queue.DONE))
    assert sorted(n.partition("@")[0] for n in done) == sorted(t.key for t in tasks)
    assert os.listdir(qdir / work_queue.CLAIMED) == []
    runners = {json.loads(Path(t.result).read_text())["runner"] for t in tasks}
    assert runners <= {"a", "b"}


def test_a_users_command_over_its_limit_is_stopped_and_the_worker_goes_on(
        trained_run: TrainedRun, tmp_path: Path) -> None:
    qdir = work_queue.queue_dir(tmp_path, layout.WORKERS)
    # it starts a child that holds its output pipes, as bash, torchrun or DataLoader
    # workers do: stopping the script alone would leave the evaluator reading them
    hangs = script(tmp_path, "hangs.py",
                   "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)")
    good = script(tmp_path, "good.py", "print('The generation accuracy is 50.0 %.')")
    tasks = [task(None, tmp_path, 20, command=(hangs,)), task(None, tmp_path, 40, command=(good,))]
    for posted in tasks:
        work_queue.post(qdir, posted)
    started = time.monotonic()
    spec = evaluator_spec(trained_run, tmp_path, idle_s=0.2, task_limit_s=1.0)
    summary = worker.run(spec, "w1")
    assert time.monotonic() - started < 20  # not the script's 60 s
    assert (summary["evaluated"], summary["failed"]) == (1, 1)
    hung = work_queue.where(qdir, tasks[0].key)
    assert (hung.where, hung.cause) == (Where.FAILED, "other")
    assert "hangs.py ran over its limit of 1 s" in hung.reason
    assert 1.0 <= work_queue.held_s(qdir, tasks[0].key, hung) < 10


def test_a_hung_evaluation_fails_its_task_and_its_evaluator_exits(
        trained_run: TrainedRun, tmp_path: Path) -> None:
    """An evaluation that never returns (as a read from a dead NFS server does) cannot be
    stopped from inside its process: the watchdog fails the task, and the worker leaves."""
    qdir = work_queue.queue_dir(tmp_path, layout.WORKERS)
    hung = task(trained_run, tmp_path, 20)
    work_queue.post(qdir, hung)
    spec_path = tmp_path / "spec.pkl"
    spec_path.write_bytes(pickle.dumps(evaluator_spec(trained_run, tmp_path, idle_s=30.0,
                                                      task_limit_s=2.0)))
    hang = ("import sys, time; from jobs import evaluator, worker; "
            "evaluator.Evaluator.evaluate = lambda *a, **k: time.sleep(600); "
            "sys.exit(worker.main(sys.argv[1:]))")
    process = subprocess.Popen([sys.executable, "-c", hang, str(spec_path), "--runner", "w1"],
                               env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert process.wait(120) == worker.EXIT_OVERRAN  # long before its 30 s idle exit
    found = work_queue.where(qdir, hung.key)
    assert (found.where, found.cause) == (Where.FAILED, "other")
    assert "ran over its limit of 2 s" in found.reason and "job w1" in found.reason
    assert 2.0 <= work_queue.held_s(qdir, hung.key, found) < 30
    assert os.listdir(qdir / work_queue.CLAIMED) == []
    assert work_queue.runners(qdir)[0]["exited"] == f"{hung.key} ran over its limit"
