"""The long-lived evaluator: takes evaluation tasks from a work queue until told to stop.

Theory of operation. A worker job (infer.placement=worker) or the evaluator beside training
(with_training: `orchestrator.scheduler.in_job.beside` starts `python -m jobs.worker`)
imports torch and transformers and loads the evaluation splits once, at its start, while it
waits for its first checkpoint; then it loops over `orchestrator.placement.work_queue`:

- the controller's stop file: exit 0 after the current task;
- claim the earliest posted task (a rename: one evaluator wins it) and do it: a built-in
  task is scored by `jobs.evaluator.Evaluator`, which tokenizes the splits once per
  tokenizer, and its result is jobs.infer's JSON plus "runner"; a user's command
  (infer.command) runs without a shell and its stdout is kept in the task's result file.
  Then the claim, rewritten with the seconds spent on the task, moves to done/. Any
  exception in a task (a broken checkpoint, out of memory) fails that task alone (failed/,
  with orchestrator.common.failures' cause and line): the evaluator goes on with the next one;
- nothing posted: exit after `idle_s` without a task; beside training (`trial_dir` set) the
  idle clock runs only once training has ended, and the evaluator exits as soon as every
  complete checkpoint of its trial has a result or a failure and no task is open;
- a heartbeat (work_queue.beat) at most every ~5 s and at each task's start and end;
- a task still running after `task_limit_s` (infer.task_timeout_s, else the inference
  jobs' time limit) fails, so that a hung evaluation does not hold its checkpoint for the
  rest of a long job: a user's command is stopped and the evaluator goes on; a built-in
  evaluation cannot be stopped from inside its own process, so a watchdog thread dumps
  every thread's stack to the log (where it hung), fails the task and exits the evaluator
  (work_queue.EXIT_OVERRAN; faulthandler exits it anyway if those writes hang too). Its job
  then ends (a worker: the controller submits another when work waits) or, beside
  training, it is restarted. One lock, and a mark set as the evaluation returns, keep the
  watchdog and the task's own end from both writing its outcome.

SIGTERM (scancel, preemption; SLURM sends it to every process of the job, and submitit's job
process ignores it until KillWait ends) means the job is going: the evaluator takes no new
task and leaves; a user's command killed by it goes back to the queue (work_queue.repost),
as do the claims a killed run left, which the job's next run under its id (a requeue) or
the controller (its job ended preempted or lost with its node) puts back.

Its runner id, which names its claims and which the controller journals as the job that did
the evaluation, is the scheduler's id of the job it runs in. Every task (rank) of a job has
that id, so only rank 0 of a job with several tasks (executor.infer.ntasks > 1) is the
evaluator; the other ranks leave at once: they would otherwise take their sibling's open
claims for a restarted run's and fail them, and claim tasks under the same name.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator.common import causes, failures, layout
from orchestrator.common.checkpoints import complete_checkpoints
from orchestrator.config.settings import EvaluatorSpec
from orchestrator.placement import work_queue

POLL_S = 0.1  # between looks at an empty queue
BEAT_S = 5.0  # the most between two heartbeats
EXIT_OVERRAN = work_queue.EXIT_OVERRAN
OVERRAN_WRITES_S = 60.0  # the most the watchdog waits for its own writes before exiting


def runner_id(given: str = "") -> str:
    """The scheduler's id of the job this runs in: `given`, else submitit's, else pid<N>."""
    from orchestrator.scheduler.in_job import job_id

    return given or job_id()


def run(spec: EvaluatorSpec, runner: str = "", parent: int = 0) -> dict[str, Any]:
    """Evaluate tasks until stopped, idle or drained; a summary of what was done.
    `parent`: exit when that process is gone (the training job beside which this runs)."""
    from orchestrator.scheduler.in_job import task_rank

    rank = task_rank()
    if rank != 0:  # the job's claims are rank 0's (the module's docstring)
        print(f"evaluator {runner_id(runner)}: rank {rank} leaves; rank 0 evaluates", flush=True)
        return {"runner": runner_id(runner), "evaluated": 0, "failed": 0,
                "exit": f"rank {rank}: only rank 0 evaluates", "load_s": 0.0, "tokenizations": 0}
    worker = _Worker(spec, runner_id(runner), parent)
    if threading.current_thread() is not threading.main_thread():
        return worker.loop()
    previous = signal.signal(signal.SIGTERM, worker.terminate)
    try:
        return worker.loop()
    finally:  # run in a test's process: its later children must not inherit this handler
        signal.signal(signal.SIGTERM, previous)


class _Worker:
    def __init__(self, spec: EvaluatorSpec, runner: str, parent: int) -> None:
        self.spec, self.runner, self.parent = spec, runner, parent
        self.qdir = work_queue.queue_dir(spec.search_dir, spec.queue)
        self.started_t = time.time()
        self.evaluated = self.failed = 0
        self.task_key = ""
        self.returned = ""  # the key of the task whose evaluation has just returned
        self.last_beat = 0.0
        self.evaluator: Any = None
        self.load_error: BaseException | None = None
        self.load_s = 0.0
        self.terminated = False  # SIGTERM: the job is being cancelled or requeued
        self.outcome = threading.Lock()  # a task's end, or its watchdog's verdict: one wins
        # a job requeued under the same id (SLURM: preempted under PreemptMode=REQUEUE, its
        # node lost) left its claims open: nobody else will end them, and the controller sees
        # the job alive. Nothing failed: they go back to the queue, evaluated anew
        for task in work_queue.claimed_by(self.qdir, runner):
            work_queue.repost(self.qdir, task.key, runner)
            print(f"evaluator {runner}: {task.key} claimed by this job's last run: put back "
                  "in the queue", file=sys.stderr, flush=True)
        if spec.preload:  # before the first task arrives: overlaps the wait for a checkpoint
            self._load()

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            from jobs.evaluator import Evaluator

            self.evaluator = Evaluator(self.spec.infer)
            self.load_error = None
        except Exception as exc:  # bad data: every built-in task fails with it, not the worker
            self.load_error = exc
        self.load_s = time.perf_counter() - started
        print(f"evaluator {self.runner}: imports and data loaded in {self.load_s:.2f} s",
              flush=True)

    def loop(self) -> dict[str, Any]:
        idle_since = time.monotonic()
        self.beat(force=True)
        while True:
            reason = self._why_exit(idle_since)
            if reason:
                break
            task = work_queue.claim(self.qdir, self.runner)
            if task is None:
                self.beat()
                time.sleep(POLL_S)
                continue
            self.do(task)
            idle_since = time.monotonic()
        self.beat(force=True, exited=reason)
        print(f"evaluator {self.runner}: exits ({reason}) after {self.evaluated} evaluations, "
              f"{self.failed} failed", flush=True)
        return {"runner": self.runner, "evaluated": self.evaluated, "failed": self.failed,
                "exit": reason, "load_s": self.load_s,
                "tokenizations": getattr(self.evaluator, "tokenizations", 0)}

    def terminate(self, signum: int, frame: Any) -> None:
        self.terminated = True

    def _why_exit(self, idle_since: float) -> str:
        if self.terminated:
            return "its job got SIGTERM (cancelled, or requeued)"
        if work_queue.stop_requested(self.qdir):
            return "stop"
        if self.parent and os.getppid() != self.parent:
            return "training job gone"
        if self.spec.max_s and time.time() - self.started_t > self.spec.max_s:
            return f"near its time limit ({self.spec.max_s:g} s of work)"
        if self.spec.trial_dir:
            if not work_queue.training_ended(self.qdir):
                return ""  # beside training: stay while it runs, however long
            if drained(self.spec, self.qdir):
                return "training ended, every checkpoint evaluated"
            idle_since = max(idle_since, _ended_at(self.qdir))
        if time.monotonic() - idle_since > self.spec.idle_s:
            return f"idle for {self.spec.idle_s:g} s"
        return ""

    def do(self, task: work_queue.Task) -> None:
        self.task_key = task.key
        start = time.monotonic()
        self.beat(force=True)
        limit = self.spec.task_limit_s
        watchdog = threading.Timer(limit, self._overran, (task, start))
        watchdog.daemon = True
        error: Exception | None = None
        try:
            if task.command:
                from orchestrator.scheduler.in_job import run_script

                run_script(list(task.command), task.result, limit_s=limit)
            else:
                if limit:
                    watchdog.start()
                self._evaluate(task)
        except Exception as exc:  # one task's failure, never the evaluator's
            error = exc
        finally:
            self.returned = task.key  # a watchdog firing from now on leaves the task be
            watchdog.cancel()
        with self.outcome:
            if error is not None:
                self._failed(task, error, start)
            else:
                work_queue.finish(self.qdir, task, self.runner, seconds=time.monotonic() - start)
                self.evaluated += 1
            self.task_key = ""
        self.beat(force=True)

    def _failed(self, task: work_queue.Task, exc: Exception, start: float) -> None:
        if self.terminated and work_queue.repost(self.qdir, task.key, self.runner):
            # the command died of SIGTERM: its job is cancelled, preempted or requeued, and
            # the task goes back to the queue for another evaluator (nothing failed)
            print(f"evaluator {self.runner}: {task.key} put back in the queue (SIGTERM)",
                  file=sys.stderr, flush=True)
            return
        failure = failures.classify(exc)
        if self.terminated:  # the command died of the same signal: say why
            failure = failure._replace(cause=causes.OTHER, reason=(
                f"its evaluator's job {self.runner} was cancelled while it evaluated "
                f"this ({failure.reason})"))
        print(f"evaluator {self.runner}: {task.key} failed: {failure.reason}",
              file=sys.stderr, flush=True)
        work_queue.fail(self.qdir, task, self.runner, failure.cause or causes.OTHER,
                        failure.reason, seconds=time.monotonic() - start)
        self.failed += 1
        _release_gpu_memory()

    def _overran(self, task: work_queue.Task, start: float) -> None:
        """The watchdog: the built-in evaluation of `task` ran over its limit. Fail it, then
        leave: the evaluation cannot be stopped from inside this process."""
        with self.outcome:
            if self.task_key != task.key or self.returned == task.key:
                return  # it ended as the timer fired
            # the writes below go to the file system the evaluation may be hung on: exit
            # anyway if they hang too
            faulthandler.dump_traceback_later(OVERRAN_WRITES_S, exit=True)
            try:
                limit = self.spec.task_limit_s
                reason = (f"the evaluation ran over its limit of {limit:g} s "
                          "(infer.task_timeout_s, else executor.infer.timeout_min); its "
                          f"evaluator (job {self.runner}) exits so that a hung evaluation "
                          "frees the job; its stack is in the job's log")
                print(f"evaluator {self.runner}: {task.key} failed: {reason}",
                      file=sys.stderr, flush=True)
                faulthandler.dump_traceback(sys.stderr, all_threads=True)
                work_queue.fail(self.qdir, task, self.runner, causes.OTHER, reason,
                                seconds=time.monotonic() - start)
                self.failed += 1
                self.beat(force=True, exited=f"{task.key} ran over its limit")
            finally:
                os._exit(EXIT_OVERRAN)

    def _evaluate(self, task: work_queue.Task) -> None:
        if self.evaluator is None:
            self._load()  # the data may have been fixed since; else fail with its error
            if self.load_error is not None:
                raise self.load_error
        self.evaluator.evaluate(task.checkpoint, task.result, extra={"runner": self.runner})

    def beat(self, force: bool = False, **more: Any) -> None:
        now = time.monotonic()
        if force or now - self.last_beat >= BEAT_S:
            self.last_beat = now
            work_queue.beat(self.qdir, self.runner, task=self.task_key,
                            evaluated=self.evaluated, failed=self.failed,
                            started_t=self.started_t, **more)


def drained(spec: EvaluatorSpec, qdir: Path) -> bool:
    """Beside training, once it has ended: no task open, and every complete checkpoint of
    the trial has its result (or its output, for a user's script) or a failed task."""
    found = work_queue.snapshot(qdir)
    if any(f.where in (work_queue.Where.POSTED, work_queue.Where.CLAIMED)
           for f in found.values()):
        return False
    search, trial = Path(spec.search_dir), int(Path(spec.trial_dir).name)
    failed = [key for key, f in found.items() if f.where is work_queue.Where.FAILED]
    for checkpoint in complete_checkpoints(spec.trial_dir):
        stem = layout.infer_key_stem(trial, checkpoint.step)
        if not (layout.result_path(search, trial, checkpoint.step).exists()
                or layout.output_path(search, trial, checkpoint.step).exists()
                or any(key.startswith(stem) for key in failed)):
            return False
    return True


def _ended_at(qdir: Path) -> float:
    """When training ended, on this process's monotonic clock."""
    try:
        age = time.time() - (qdir / work_queue.TRAINING_ENDED_FILE).stat().st_mtime
    except OSError:
        return time.monotonic()
    return time.monotonic() - max(0.0, age)


def _release_gpu_memory() -> None:
    # after an out-of-memory the next checkpoint must not inherit the cached blocks
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.worker",
                                     description="A long-lived evaluator on a work queue.")
    parser.add_argument("spec", help="a pickled orchestrator.config.settings.EvaluatorSpec")
    parser.add_argument("--runner", default="", help="the id of the job this runs in")
    parser.add_argument("--parent", type=int, default=0,
                        help="exit when this process (the training job's) is gone")
    args = parser.parse_args(argv)
    with open(args.spec, "rb") as handle:
        spec = pickle.load(handle)
    try:
        run(spec, args.runner, args.parent)
    except KeyboardInterrupt:  # the local executor's cancel reaches the job's whole group
        print("evaluator: cancelled", file=sys.stderr, flush=True)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
