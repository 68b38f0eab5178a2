"""What the three submitit backends share: the callable a job runs, the submission itself
(a template whose steps each backend may replace), why a finished job failed, its logs.

A request becomes a submitit executor in one method, `executor`, used alike by `submit`
and by `render` (the dry-run): the script a user is shown is the one that is sent.
"""

from __future__ import annotations

import abc
import os
import pickle
import shlex
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import submitit
from submitit.core.utils import FailedJobError, JobPaths
from submitit.helpers import TorchDistributedEnvironment

from orchestrator.common import failures, layout
from orchestrator.common.causes import JobFailure
from orchestrator.config.settings import JobResources
from orchestrator.errors import SchedulerError, SchedulerUnavailable, SubmitLimited
from orchestrator.model.transitions import JobState
from orchestrator.scheduler.commands import last_line
from orchestrator.scheduler.in_job import call, call_beside, run_command, run_command_beside
from orchestrator.scheduler.interface import JobRef, JobRequest, Refusal
from orchestrator.scheduler.orphan_watch import Watched
from orchestrator.scheduler.rendezvous import port_for


def python_command(res: JobResources, snapshot: str = "") -> str | None:
    """submitit's `python=` (a shell command line, None: the controller's interpreter):
    `res.python` split into words, each quoted, a path made absolute (jobs may start in
    another directory). With a code `snapshot` (search.snapshot) the interpreter starts with
    it first on PYTHONPATH, and without the job's directory on sys.path (PYTHONSAFEPATH):
    started in the project's folder, it would import the code in place before the copy."""
    if not res.python and not snapshot:
        return None
    words = [res.python] if Path(res.python).is_file() else shlex.split(res.python)
    words = words or [sys.executable]
    if "/" in words[0]:
        words[0] = os.path.abspath(words[0])
    if snapshot:
        path = os.pathsep.join(p for p in (snapshot, os.environ.get("PYTHONPATH", "")) if p)
        words = ["env", "PYTHONSAFEPATH=1", f"PYTHONPATH={path}", *words]
    return shlex.join(words)


class Distributed:
    """Runs in every task of a several-task job: exports torch.distributed's env:// variables
    (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK) from SLURM's, so that the
    Trainer (through accelerate) forms one process group across the tasks. MASTER_PORT is
    the job's and step's own (scheduler.rendezvous), never submitit's draw nor an inherited
    one, so that two several-node jobs sharing a node never meet at the same port."""

    def __init__(self, function: Any) -> None:
        self.function = function

    def __call__(self, *args: Any) -> Any:
        env = TorchDistributedEnvironment()
        job_id = str(submitit.JobEnvironment().raw_job_id)
        env.master_port = port_for(job_id, os.environ.get("SLURM_STEP_ID", "0"))
        env.export(set_cuda_visible_devices=False, overwrite=True)
        return self.function(*args)


def in_job_call(request: JobRequest) -> tuple[Any, tuple[Any, ...]]:
    """The function a job runs and its arguments: a user's script, or `module:function`;
    with `request.beside`, an evaluator runs beside it (infer.placement=with_training)."""
    if request.beside is not None:
        if request.command:
            return run_command_beside, (request.beside, list(request.command), request.output)
        return call_beside, (request.beside, request.target, request.spec)
    if request.command:
        return run_command, (list(request.command), request.output)
    return call, (request.target, request.spec)


def describe(request: JobRequest) -> str:
    if request.command:
        return " ".join(request.command)
    return f"{request.target}({type(request.spec).__name__})"


def job_paths(ref: JobRef) -> JobPaths:
    return JobPaths(ref.folder, job_id=ref.job_id, task_id=0)


def load_outcome(path: Path) -> tuple[str, Any] | None:
    """submitit's result pickle: ("success", value) or ("error", traceback text)."""
    try:
        with open(path, "rb") as handle:
            outcome = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    return outcome if isinstance(outcome, tuple) and len(outcome) == 2 else None


def outcome_state(path: Path) -> JobState:
    outcome = load_outcome(path)
    return JobState.SUCCEEDED if outcome and outcome[0] == "success" else JobState.FAILED


def last_error_line(log: Path) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")[-20000:]
    except OSError:
        return ""
    for line in reversed(text.splitlines()):
        if "Error" in line or "error:" in line or "Exception" in line:
            return line.strip()[:300]
    return ""


class SubmititBackend(abc.ABC):
    """The `Scheduler` interface on one submitit executor. A backend supplies `executor`,
    `poll`, `cancel` and `render`, and replaces the other steps where it differs."""

    # see Scheduler.submit_settle_s: local and debug submissions die with the controller
    submit_settle_s = 0.0

    def __init__(self, interactive: bool | None = None) -> None:
        self.interactive = sys.stdin.isatty() if interactive is None else interactive
        self._last_warning = -1e9
        # the jobs this process submitted, by id: local and debug jobs are polled through
        # them (SLURM's are rebuilt from their id alone)
        self._live: dict[str, Any] = {}

    # ---------------------------------------------------------------- what each one supplies
    @abc.abstractmethod
    def executor(self, request: JobRequest, create: bool = True) -> submitit.Executor:
        """The submitit executor for `request`, built alike for `submit` and `render`;
        `create`: make its folder (a dry-run makes none where the executor allows)."""

    @abc.abstractmethod
    def poll(self, jobs: Sequence[JobRef]) -> Mapping[str, JobState]:
        """See Scheduler.poll."""

    @abc.abstractmethod
    def cancel(self, jobs: Sequence[JobRef]) -> None:
        """See Scheduler.cancel."""

    @abc.abstractmethod
    def render(self, request: JobRequest) -> str:
        """See Scheduler.render."""

    # ---------------------------------------------------------------- submission
    def job_callable(self, request: JobRequest) -> tuple[Any, tuple[Any, ...]]:
        function, args = in_job_call(request)
        if request.orphan_watch is not None:  # search.orphan_grace_s
            function = Watched(function, request.orphan_watch)
        tasks = request.resources.nodes * request.resources.tasks_per_node
        return (Distributed(function) if tasks > 1 else function), args

    def submit(self, request: JobRequest) -> str:
        function, args = self.job_callable(request)
        executor = self.executor(request)
        try:
            job = self._start(request, executor, function, args)
        except (subprocess.SubprocessError, OSError, FailedJobError) as exc:
            text = str(getattr(exc, "stderr", None) or exc)
            detail = last_line(text) or type(exc).__name__
            if self._unanswered(text):
                raise SchedulerUnavailable(f"submitting {request.key}: {detail}") from None
            limit = self._limit(text)
            if limit:
                raise SubmitLimited(f"submitting {request.key}: {limit}") from None
            raise SchedulerError(
                f"submitting {request.key} failed: {detail}; check executor.{request.kind}."
                f"partition/account/qos/setup, the script is in {request.folder}; then run "
                "the same command again") from None
        self._live[str(job.job_id)] = job
        return str(job.job_id)

    def _start(self, request: JobRequest, executor: submitit.Executor, function: Any,
               args: tuple[Any, ...]) -> submitit.Job[Any]:
        return executor.submit(function, *args)

    def _unanswered(self, error: str) -> bool:
        """True when a failed submission's `error` is the scheduler's silence (try again
        later) rather than a refusal."""
        return False

    def _limit(self, error: str) -> str:
        """The words of a failed submission's `error` that name a limit on queued jobs
        (wait until some end, then try again), or "" for any other refusal."""
        return ""

    def recover(self, request: JobRequest) -> str | None:
        # a job's id is known only from its pickle; no folder: nothing was submitted
        found = sorted(request.folder.glob("*_submitted.pkl"))
        return found[-1].name.removesuffix("_submitted.pkl") if found else None

    def preflight(self, requests: Sequence[JobRequest]) -> list[Refusal]:
        """What the scheduler would refuse of these jobs: nothing, but on SLURM."""
        return []

    # ---------------------------------------------------------------- failures, logs
    def failure(self, ref: JobRef) -> JobFailure:
        written = failures.read(layout.failure_path(ref.folder, ref.job_id))
        if written is not None:
            return written
        return JobFailure(None, self._error_text(ref))

    def _error_text(self, ref: JobRef) -> str:
        paths = job_paths(ref)
        if paths.result_pickle.exists():
            outcome = load_outcome(paths.result_pickle)
            if outcome and outcome[0] == "error":
                return last_line(str(outcome[1]))
        for log in (paths.stderr, paths.stdout):
            line = last_error_line(log)
            if line:
                return line
        return ""

    def log_paths(self, ref: JobRef) -> list[Path]:
        paths = job_paths(ref)
        return [paths.stdout, paths.stderr]

    def _warn(self, message: str) -> None:
        """One line on stderr, at most once a minute: the scheduler is shared, keep calm."""
        now = time.monotonic()
        if now - self._last_warning >= 60:
            self._last_warning = now
            print(f"warning: {message}", file=sys.stderr, flush=True)


def finish_submission_files(folder: Path, paths: JobPaths) -> None:
    """Do what submitit does right after sbatch returns, for a controller killed before it
    could: give the job its `<id>_submitted.pkl` (the job waits 60 s for it, then fails)
    and its `<id>_submission.sh`. The newest temporary files are this submission's."""
    pickles = sorted((p for p in folder.glob("*.pkl") if len(p.stem) == 32
                      and all(c in "0123456789abcdef" for c in p.stem)),
                     key=lambda p: p.stat().st_mtime)
    if pickles:
        pickles[-1].rename(paths.submitted_pickle)
    scripts = sorted(folder.glob(".submission_file_*.sh"), key=lambda p: p.stat().st_mtime)
    if scripts and not paths.submission_file.exists():
        scripts[-1].rename(paths.submission_file)
