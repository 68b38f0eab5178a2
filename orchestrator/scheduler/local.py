"""The local backend: every job a process group of this machine, started by submitit.

Theory of operation: submitit starts one controller process per job; its pid is the job id.
A job is RUNNING while that process lives, SUCCEEDED/FAILED from its result pickle, and LOST
when the process is gone without a result (so the controller resubmits it). The job runs in
a session of its own; a cancel sends SIGINT to its whole process group (the job logs
"cancelled by the controller"), then SIGKILL after LOCAL_CANCEL_GRACE_S to whatever of it
still runs (submitit's job process ignores SIGTERM; a script may ignore SIGINT or be stuck
in C code), and the job counts as running until none of its processes is left.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import submitit

from orchestrator.model.transitions import JobState
from orchestrator.scheduler.interface import JobRef, JobRequest
from orchestrator.scheduler.processes import group_members
from orchestrator.scheduler.submitit_jobs import (
    SubmititBackend,
    describe,
    job_paths,
    outcome_state,
    python_command,
)

LOCAL_CANCEL_GRACE_S = 5.0  # a cancelled local job's time to stop on SIGINT before SIGKILL


class LocalScheduler(SubmititBackend):
    """The `Scheduler` interface on submitit's LocalExecutor."""

    def __init__(self, interactive: bool | None = None) -> None:
        super().__init__(interactive)
        self._kill_at: dict[str, float] = {}  # cancelled job id -> when SIGKILL follows

    def executor(self, request: JobRequest, create: bool = True) -> submitit.Executor:
        # submitit's LocalExecutor makes its folder: there is none to render without one
        request.folder.mkdir(parents=True, exist_ok=True)
        executor = submitit.LocalExecutor(folder=request.folder,
                                          python=python_command(request.resources,
                                                                request.snapshot))
        executor.update_parameters(**local_parameters(request))
        return executor

    def render(self, request: JobRequest) -> str:
        python = (python_command(request.resources, request.snapshot)
                  or shlex.quote(sys.executable))
        return (f"# executor=local: no sbatch script; runs {describe(request)} "
                f"through {python} -m submitit.core._submit\n")

    def _start(self, request: JobRequest, executor: submitit.Executor, function: Any,
               args: tuple[Any, ...]) -> submitit.Job[Any]:
        with _child_output_to(request.folder / "local-controller.log"), _own_session():
            return executor.submit(function, *args)

    def poll(self, jobs: Sequence[JobRef]) -> dict[str, JobState]:
        return {ref.job_id: self._state(ref) for ref in jobs}

    def _state(self, ref: JobRef) -> JobState:
        paths = job_paths(ref)
        job = self._live.get(ref.job_id)
        if ref.job_id in self._kill_at and group_members(int(ref.job_id)):
            if time.monotonic() >= self._kill_at[ref.job_id]:
                _signal_group(int(ref.job_id), signal.SIGKILL)
            return JobState.RUNNING  # cancelled, but some process of it still runs
        if job is not None and job._process is not None and job._process.poll() is None:
            return JobState.RUNNING
        if paths.result_pickle.exists():
            return outcome_state(paths.result_pickle)
        if job is not None and job._process is not None:
            code = job._process.poll()
            return JobState.CANCELLED if code is not None and code < 0 else JobState.LOST
        if _local_alive(int(ref.job_id)):
            return JobState.RUNNING
        # it may have written its result and exited since the first look
        return outcome_state(paths.result_pickle) if paths.result_pickle.exists() else (
            JobState.LOST)

    def cancel(self, jobs: Sequence[JobRef]) -> None:
        """SIGINT to each job's process group now; SIGKILL at the first poll after the
        grace, or at once when asked again (the controller's last word before it exits)."""
        for ref in jobs:
            if ref.job_id not in self._kill_at:
                if _signal_group(int(ref.job_id), signal.SIGINT):
                    self._kill_at[ref.job_id] = time.monotonic() + LOCAL_CANCEL_GRACE_S
            else:
                _signal_group(int(ref.job_id), signal.SIGKILL)


def local_parameters(request: JobRequest) -> dict[str, Any]:
    """submitit's LocalExecutor parameters for `request`."""
    return {"timeout_min": request.resources.timeout_min,
            "tasks_per_node": request.resources.tasks_per_node,
            "gpus_per_node": request.resources.gpus_per_node}


@contextlib.contextmanager
def _own_session() -> Iterator[None]:
    """Start local jobs in a session of their own, as sbatch jobs are: a Ctrl-C meant for
    the controller must not kill them (they would come back LOST and use up retries).
    submitit offers no option for it, so Popen is wrapped for the one call that starts the
    job's process; the controller is single-threaded."""
    real = subprocess.Popen
    subprocess.Popen = functools.partial(real, start_new_session=True)  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        subprocess.Popen = real  # type: ignore[misc]


@contextlib.contextmanager
def _child_output_to(log: Path) -> Iterator[None]:
    """Point fds 1 and 2 at `log` while submitit starts a local job's controller process.

    That process inherits our terminal otherwise, and prints a KeyboardInterrupt traceback
    over the live view whenever a job is cancelled (submitit cancels with SIGINT).
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)  # less the umask
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, target):
            os.close(fd)


def _local_alive(pid: int) -> bool:
    """True when `pid` is a live (not zombie) submitit local job controller."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state != "Z" and b"submitit" in cmdline


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Signal a local job's process group; False when nothing of it is left. A group whose
    leader is alive but not submitit's is someone else's (the pid was reused): untouched."""
    members = group_members(pgid)
    if not members or (pgid in members and not _local_alive(pgid)):
        return False
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True
