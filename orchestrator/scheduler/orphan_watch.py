"""A job that ends itself once its search's controller is gone (search.orphan_grace_s > 0).

Theory of operation. A job submitted with an OrphanWatch runs its work wrapped in `Watched`,
which starts a daemon thread in the job's process. Every CHECK_S it reads the controller's
signs of life in the search folder and judges them (orchestrator.common.liveness.orphaned:
the lease's beat and the journal's writes against the grace, a detached controller's SLURM
job still queued counting as alive). Orphaned, the job writes why (cause "orphaned", which
the controller reads when it resumes and retries like a preemption: from the last complete
checkpoint, not counted as a failure), then interrupts itself as a cancel does (in_job: a
user's script, the evaluator beside training, a worker's evaluation are stopped; the tasks
an evaluator held are failed as orphaned too, so that they cost no retry). A main
thread that does not return within STOP_GRACE_S (stuck where no signal reaches it) has the
job's processes killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from orchestrator.common import causes, liveness
from orchestrator.config.settings import EvaluatorSpec
from orchestrator.errors import SchedulerUnavailable
from orchestrator.scheduler.commands import Commands
from orchestrator.scheduler.in_job import (
    CANCELLED_STATUS,
    ORPHANED,
    fail_claims,
    job_id,
    write_failure,
)
from orchestrator.scheduler.interface import OrphanWatch
from orchestrator.scheduler.processes import descendants

CHECK_S = 10.0  # how often a job looks at its controller's signs of life
STOP_GRACE_S = 60.0  # after its interrupt, how long an orphaned job may take to end


class Watched:
    """`function`, run in a job whose `watch` thread ends it once its controller is gone.
    Picklable: it travels to the job as submitit's callable."""

    def __init__(self, function: Any, watch: OrphanWatch) -> None:
        self.function, self.watch = function, watch

    def __call__(self, *args: Any) -> Any:
        start(self.watch)
        try:
            return self.function(*args)
        except BaseException:
            if ORPHANED.is_set():  # a worker job's claimed tasks: orphaned, not failed
                for spec in (a for a in args if isinstance(a, EvaluatorSpec)):
                    fail_claims(spec, job_id(), "its evaluator's job ended itself: its "
                                "controller was gone")
            raise


def start(watch: OrphanWatch, check_s: float = CHECK_S) -> threading.Thread:
    thread = threading.Thread(target=_watch, args=(watch, check_s), daemon=True,
                              name="orphan-watch")
    thread.start()
    return thread


def _watch(watch: OrphanWatch, check_s: float) -> None:
    while True:
        time.sleep(check_s)
        try:
            gone, why = check(watch)
        except Exception as exc:  # the watch must never be what kills a job
            print(f"orphan watch: {exc}", file=sys.stderr, flush=True)
            continue
        if gone:
            end_orphaned(why)
            return


def check(watch: OrphanWatch, now: float | None = None) -> tuple[bool, str]:
    """Whether the job is orphaned now, and why (orchestrator.common.liveness.orphaned)."""
    holder, written, detached = liveness.read_signs(Path(watch.search_dir))
    return liveness.orphaned(holder, written, time.time() if now is None else now,
                             watch.grace_s, detached, controller_queued)


def controller_queued(job_id: str) -> bool:
    """Whether SLURM still holds the detached controller's job `job_id` queued or running.
    When squeue cannot say (no squeue, slurmctld silent), yes: no job ends itself on a
    question nobody answered."""
    try:
        done = Commands().run(["squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T"])
    except SchedulerUnavailable:
        return True
    if done.returncode != 0:
        return "invalid job id" not in done.stderr.lower()  # purged: long gone
    return bool({line.strip() for line in done.stdout.splitlines()} & liveness.QUEUED_STATES)


def end_orphaned(why: str, stop_grace_s: float = STOP_GRACE_S) -> None:
    """Say why (the job's log, its failure file), then end the job as a cancel would."""
    ORPHANED.set()
    write_failure(causes.JobFailure(causes.ORPHANED, why))
    print(why, file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGINT)  # in_job's cancel: the main thread stops its work
    time.sleep(stop_grace_s)
    # still here: the main thread is stuck where the interrupt does not reach it
    for pid in descendants(os.getpid()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    os._exit(CANCELLED_STATUS)
