"""The one module that talks to submitit and SLURM.

Theory of operation: a job is known to the rest of the program only by its id and folder
(`JobRef`); this module rebuilds submitit's job object from those two alone whenever it
needs one, so a fresh controller re-attaches to the jobs of a killed one without any
pickled state. Raw states (sacct's `State`, a local process's exit, a debug run's outcome)
are mapped onto `JobState` in the tables below and nowhere else.

- slurm: one `sacct` call per poll for every tracked job; a failed call yields UNKNOWN for
  all of them (never "done", never "lost"). Every job has a name unique to its search and
  key (`layout.job_name`), and the name, not only the id, says which job is ours: a row
  whose id matches but whose name does not is a job SLURM gave a reused id (our job is
  LOST), a cancel names the job (`scancel --name=N ID` refuses a job of another name), and
  a submission a killed controller never journaled is found by name (`recover`). A
  submission slurmctld did not answer raises SchedulerUnavailable: it is tried again later.
- local: submitit starts one controller process per job; its pid is the job id. A job is
  RUNNING while that process lives, SUCCEEDED/FAILED from its result pickle, and LOST when
  the process is gone without a result (so the controller resubmits it). The job runs in a
  session of its own; a cancel sends SIGINT to its whole process group (the job logs
  "cancelled by the controller"), then SIGKILL after LOCAL_CANCEL_GRACE_S to whatever of it
  still runs (submitit's job process ignores SIGTERM; a script may ignore SIGINT or be stuck
  in C code), and the job counts as running until none of its processes is left.
- debug: the job runs in this process, lazily, the first time it is polled. When stdin is
  not a terminal the job's exception is captured instead of opening pdb, so an unattended
  run cannot hang.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pickle
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import submitit
from submitit.core.utils import FailedJobError
from submitit.helpers import Checkpointable, TorchDistributedEnvironment

from orchestrator import entrypoint, failures, layout
from orchestrator.causes import JobFailure
from orchestrator.errors import SchedulerError, SchedulerUnavailable
from orchestrator.lifecycle import JobState
from orchestrator.scheduler import JobRef, JobRequest
from orchestrator.settings import JobResources

# sacct's State column -> JobState. "CANCELLED by 0" carries the uid: matched on its first
# word. Anything not listed is UNKNOWN.
SLURM_STATES: dict[str, JobState] = {
    "PENDING": JobState.PENDING,
    "CONFIGURING": JobState.PENDING,
    "RESV_DEL_HOLD": JobState.PENDING,
    "REQUEUE_FED": JobState.REQUEUED,
    "REQUEUE_HOLD": JobState.REQUEUED,
    "REQUEUED": JobState.REQUEUED,
    "PREEMPTED": JobState.REQUEUED,
    "SUSPENDED": JobState.PENDING,
    "RESIZING": JobState.RUNNING,
    "RUNNING": JobState.RUNNING,
    "COMPLETING": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING,
    "STOPPED": JobState.RUNNING,
    "COMPLETED": JobState.SUCCEEDED,
    "FAILED": JobState.FAILED,
    "BOOT_FAIL": JobState.FAILED,
    "SPECIAL_EXIT": JobState.FAILED,
    "REVOKED": JobState.CANCELLED,
    "CANCELLED": JobState.CANCELLED,
    "DEADLINE": JobState.TIMEOUT,
    "TIMEOUT": JobState.TIMEOUT,
    "OUT_OF_MEMORY": JobState.OUT_OF_MEMORY,
    "NODE_FAIL": JobState.NODE_FAIL,
}


def map_slurm_state(raw: str) -> JobState:
    words = raw.split()
    return SLURM_STATES.get(words[0].rstrip("+"), JobState.UNKNOWN) if words else JobState.UNKNOWN


class SacctRow(NamedTuple):
    state: JobState
    name: str


SACCT_FORMAT = "JobID,State,JobName"  # the name last: a foreign job's name may hold a "|"
# slurmdbd's name for a job whose name slurmctld has not sent yet (seen for seconds after
# sbatch, with PENDING and even COMPLETED rows)
UNNAMED = "allocation"


def parse_sacct(text: str) -> dict[str, SacctRow]:
    """Job id -> its row, from `sacct -X -o JobID,State,JobName --parsable2` (with header)."""
    rows: dict[str, SacctRow] = {}
    for line in text.splitlines()[1:]:
        job_id, _, rest = line.partition("|")
        raw, _, name = rest.partition("|")
        if job_id and "." not in job_id:
            rows[job_id.strip()] = SacctRow(map_slurm_state(raw), name)
    return rows


# what sbatch, squeue and scancel say when slurmctld does not answer (down, restarting,
# overloaded): nothing is wrong with the job, the same call can be made again later
UNREACHABLE = ("unable to contact slurm controller", "socket timed out",
               "connection refused", "connection timed out", "zero bytes were transmitted",
               "temporarily unavailable", "communication connection failure")


def _unreachable(detail: str) -> bool:
    return any(words in detail.lower() for words in UNREACHABLE)


SBATCH_SETTLE_S = 15.0
LOCAL_CANCEL_GRACE_S = 5.0  # a cancelled local job's time to stop on SIGINT before SIGKILL


class Refusal(NamedTuple):
    """What `sbatch --test-only` refused: the job kind, the JobResources field at fault
    ("" when slurmctld's reason names none), and slurmctld's own words."""

    kind: str
    field: str
    reason: str


# sbatch option (submitit's parameter name) -> the JobResources field it comes from
SLURM_OPTIONS = {"partition": "partition", "account": "account", "qos": "qos",
                 "constraint": "constraint", "time": "timeout_min",
                 "cpus_per_task": "cpus_per_task", "mem": "mem_gb",
                 "gpus_per_node": "gpus_per_node", "nodes": "nodes"}
# words of slurmctld's refusal (lower case) -> the sbatch option it is about. A reason that
# fits none (e.g. "Requested node configuration is not available": too many CPUs, too much
# memory, or a combination) is reported for the whole job kind.
REFUSALS = (("invalid partition", "partition"), ("partition", "partition"),
            ("invalid account", "account"), ("invalid qos", "qos"), ("qos", "qos"),
            ("invalid feature", "constraint"), ("time limit", "time"),
            ("generic resource", "gpus_per_node"), ("gres", "gpus_per_node"),
            ("memory", "mem"))


def refused_option(reason: str) -> str | None:
    """The sbatch option that slurmctld's refusal `reason` is about, if it says."""
    lowered = reason.lower()
    if "invalid account" in lowered or "account/partition" in lowered:
        return "account"  # "Invalid account or account/partition combination specified"
    if "policy" in lowered:
        return None  # "Job violates accounting/QOS policy": a limit, of what is unsaid
    return next((option for words, option in REFUSALS if words in lowered), None)


def _refusal_reason(stderr: str) -> str:
    """slurmctld's reason from sbatch's stderr: `allocation failure: X` (--test-only),
    `sbatch: error: Batch job submission failed: X`, `sbatch: error: X`."""
    line = _last_line(stderr)
    for prefix in ("allocation failure:", "sbatch: error:", "Batch job submission failed:"):
        line = line.split(prefix, 1)[-1].strip()
    return line


def python_command(res: JobResources) -> str | None:
    """submitit's `python=` (a shell command line, None: the controller's interpreter):
    `res.python` split into words, each quoted, a path made absolute (jobs may start in
    another directory)."""
    if not res.python:
        return None
    words = [res.python] if Path(res.python).is_file() else shlex.split(res.python)
    if "/" in words[0]:
        words[0] = os.path.abspath(words[0])
    return shlex.join(words)


class _ScriptOnly(submitit.SlurmExecutor):
    """A SlurmExecutor that only renders scripts: no srun needed on this machine."""

    @classmethod
    def affinity(cls) -> int:
        return 1


class SubmititScheduler:
    """The `orchestrator.scheduler.Scheduler` interface on submitit's three executors."""

    def __init__(self, cluster: str, interactive: bool | None = None) -> None:
        if cluster not in ("local", "debug", "slurm"):
            raise ValueError(f"unknown executor {cluster!r}")
        self.cluster = cluster
        self.interactive = sys.stdin.isatty() if interactive is None else interactive
        self._live: dict[str, Any] = {}  # local Popen-backed jobs and debug jobs by id
        self._debug_outcomes: dict[str, BaseException | None] = {}
        self.sacct_calls = 0
        self._last_warning = -1e9
        self._foreign: dict[str, str] = {}  # our job id -> the other job's name now using it
        self._kill_at: dict[str, float] = {}  # cancelled local job id -> when SIGKILL follows
        # an orphaned sbatch either reaches slurmctld or gives up within its MessageTimeout
        # (10 s by default); local and debug submissions die with the controller
        self.submit_settle_s = SBATCH_SETTLE_S if cluster == "slurm" else 0.0

    # ---------------------------------------------------------------- submission
    def _executor(self, request: JobRequest, create: bool = True) -> Any:
        if create:
            request.folder.mkdir(parents=True, exist_ok=True)
        executor: Any
        python = python_command(request.resources)
        if self.cluster == "slurm":
            # rendering a script (--dry-run, --test-only) needs no SLURM on this machine
            kind = submitit.SlurmExecutor if create else _ScriptOnly
            executor = kind(folder=request.folder, python=python,
                            max_num_timeout=request.resources.max_requeues)
            executor.update_parameters(**_slurm_parameters(request))
        elif self.cluster == "local":
            executor = submitit.LocalExecutor(folder=request.folder, python=python)
            executor.update_parameters(
                timeout_min=request.resources.timeout_min,
                tasks_per_node=request.resources.tasks_per_node,
                gpus_per_node=request.resources.gpus_per_node,
            )
        else:
            executor = submitit.DebugExecutor(folder=request.folder)
        return executor

    def _callable(self, request: JobRequest) -> tuple[Any, tuple[Any, ...]]:
        if request.command:
            function: Any = entrypoint.run_command
            args: tuple[Any, ...] = (list(request.command), request.output)
        else:
            function, args = entrypoint.call, (request.target, request.spec)
        tasks = request.resources.nodes * request.resources.tasks_per_node
        if tasks > 1 and self.cluster != "debug":
            function = Distributed(function)
        if self.cluster == "slurm" and request.kind == "train":
            return RequeueOnTimeout(function), args
        return function, args

    def submit(self, request: JobRequest) -> str:
        function, args = self._callable(request)
        executor = self._executor(request)
        try:
            if self.cluster == "local":
                with _child_output_to(request.folder / "local-controller.log"), _own_session():
                    job = executor.submit(function, *args)
            else:
                job = executor.submit(function, *args)
        except (subprocess.SubprocessError, OSError, FailedJobError) as exc:
            text = str(getattr(exc, "stderr", None) or exc)
            detail = _last_line(text) or type(exc).__name__
            if self.cluster == "slurm" and _unreachable(text):
                raise SchedulerUnavailable(f"submitting {request.key}: {detail}") from None
            raise SchedulerError(
                f"submitting {request.key} failed: {detail}; check executor.{request.kind}."
                f"partition/account/qos/setup, the script is in {request.folder}; then run the "
                "same command again") from None
        job_id = str(job.job_id)
        if self.cluster != "slurm":
            self._live[job_id] = job
        return job_id

    def recover(self, request: JobRequest) -> str | None:
        if self.cluster == "debug":
            return None  # debug jobs live in the process that submitted them
        if self.cluster == "local" or not request.folder.exists():
            # a local job's id is known only from its pickle; no folder: sbatch never ran
            found = sorted(request.folder.glob("*_submitted.pkl"))
            return found[-1].name.removesuffix("_submitted.pkl") if found else None
        jobs = self._jobs_named(request.name, since=request.folder.stat().st_mtime - 600)
        if not jobs:
            return None
        *duplicates, (job_id, state) = sorted(jobs.items(), key=lambda j: int(j[0].split("_")[0]))
        if duplicates:  # never two runs of one job: they would write the same folders
            self.cancel([JobRef(i, request.folder, request.name) for i, _ in duplicates])
        paths = submitit.core.utils.JobPaths(request.folder, job_id=job_id, task_id=0)
        if not paths.submitted_pickle.exists():
            if state.terminal:
                # it gave up waiting (60 s) for the pickle its killed controller never
                # wrote: it ran nothing, so submitting afresh costs no retry
                return None
            _finish_submitit_files(request.folder, paths)
        return job_id

    def _jobs_named(self, name: str, since: float) -> dict[str, JobState]:
        """Id -> state of the jobs called `name`: squeue (slurmctld, no lag) for those it
        still holds, else sacct (the database) for those it has forgotten since `since`."""
        day = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(since))
        queries = (["squeue", "-h", "-t", "all", "--name", name, "-o", "%i|%T"],
                   ["sacct", "-X", "-n", "-P", "-S", day, "--name", name, "-o", "JobID,State"])
        for command in queries:
            try:
                out = subprocess.run(command, capture_output=True, text=True, timeout=60,
                                     check=True).stdout
            except (OSError, subprocess.SubprocessError) as exc:
                detail = _last_line(str(getattr(exc, "stderr", None) or exc))
                raise SchedulerUnavailable(f"looking for job {name}: {detail}") from None
            jobs = {job_id: map_slurm_state(raw) for job_id, _, raw in
                    (line.strip().partition("|") for line in out.splitlines())
                    if job_id and "." not in job_id}
            if jobs:
                return jobs
        return {}

    def render(self, request: JobRequest) -> str:
        if self.cluster == "debug":
            return (f"# executor=debug: no sbatch script; runs {_describe(request)} in this "
                    "process\n")
        if self.cluster == "local":
            python = python_command(request.resources) or shlex.quote(sys.executable)
            return (f"# executor=local: no sbatch script; runs {_describe(request)} "
                    f"through {python} -m submitit.core._submit\n")
        return self._script(request)

    def _script(self, request: JobRequest, drop: Sequence[str] = ()) -> str:
        """The sbatch script of `request`, less the options named in `drop`."""
        executor = self._executor(request, create=False)
        for option in drop:
            executor.parameters.pop(option, None)
        command = " ".join(executor._submitit_command_str.split())
        return str(executor._make_submission_file_text(command, "<uid>"))

    def preflight(self, requests: Sequence[JobRequest]) -> list[Refusal]:
        """Ask slurmctld with `sbatch --test-only` whether it would accept each request's job
        as `submit` would send it; submits nothing. sbatch names only the first thing it
        refuses, so each refused option is left out in turn to find the next one.
        Raises SchedulerUnavailable when slurmctld does not answer (nothing can be said)."""
        if self.cluster != "slurm":
            return []
        refusals: list[Refusal] = []
        for request in requests:
            sent = self._executor(request, create=False).parameters
            dropped: list[str] = []
            while True:
                reason = self._test_only(request, dropped)
                if reason is None:
                    break
                option = refused_option(reason)
                if option is None or option in dropped or option not in sent:
                    refusals.append(Refusal(request.kind, "", reason))
                    break
                refusals.append(Refusal(request.kind, SLURM_OPTIONS[option], reason))
                dropped.append(option)
        return refusals

    def _test_only(self, request: JobRequest, drop: Sequence[str]) -> str | None:
        """None when sbatch --test-only accepts the script, else slurmctld's reason."""
        try:
            done = subprocess.run(["sbatch", "--test-only"], input=self._script(request, drop),
                                  capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.SubprocessError) as exc:
            raise SchedulerUnavailable(f"sbatch --test-only: {exc}") from None
        if done.returncode == 0:
            return None
        if _unreachable(done.stderr):
            raise SchedulerUnavailable(f"sbatch --test-only: {_last_line(done.stderr)}")
        return _refusal_reason(done.stderr) or f"sbatch exit status {done.returncode}"

    # ---------------------------------------------------------------- states
    def poll(self, jobs: Sequence[JobRef]) -> Mapping[str, JobState]:
        if not jobs:
            return {}
        if self.cluster == "slurm":
            return self._poll_slurm(jobs)
        if self.cluster == "local":
            return {ref.job_id: self._local_state(ref) for ref in jobs}
        return {ref.job_id: self._debug_state(ref) for ref in jobs}

    def _poll_slurm(self, jobs: Sequence[JobRef]) -> dict[str, JobState]:
        ids = sorted({ref.job_id.split("_")[0] for ref in jobs})
        command = ["sacct", "-X", "-o", SACCT_FORMAT, "--parsable2", "-j", ",".join(ids)]
        self.sacct_calls += 1
        try:
            output = subprocess.run(
                command, capture_output=True, text=True, timeout=60, check=True
            ).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            self._warn(f"sacct failed ({_last_line(str(getattr(exc, 'stderr', '') or exc))}); "
                       "job states stay as last seen until it answers")
            return {ref.job_id: JobState.UNKNOWN for ref in jobs}
        rows = parse_sacct(output)
        return {ref.job_id: self._state_of(ref, rows.get(ref.job_id)) for ref in jobs}

    def _state_of(self, ref: JobRef, row: SacctRow | None) -> JobState:
        if row is None:
            return JobState.UNKNOWN  # sacct lags slurmctld: no row yet is not lost
        if ref.name and row.name == UNNAMED:
            # not told the name yet: PENDING is safe to believe whoever the job is (nothing
            # follows from it); an end state is believed once the name says it is ours
            return JobState.PENDING if row.state is JobState.PENDING else JobState.UNKNOWN
        if ref.name and row.name != ref.name:
            # slurmctld lost its state and gave our id to another job: ours is gone
            self._foreign[ref.job_id] = row.name
            return JobState.LOST
        return row.state

    def _local_state(self, ref: JobRef) -> JobState:
        paths = submitit.core.utils.JobPaths(ref.folder, job_id=ref.job_id, task_id=0)
        job = self._live.get(ref.job_id)
        if ref.job_id in self._kill_at and _group_members(int(ref.job_id)):
            if time.monotonic() >= self._kill_at[ref.job_id]:
                _signal_group(int(ref.job_id), signal.SIGKILL)
            return JobState.RUNNING  # cancelled, but some process of it still runs
        if job is not None and job._process is not None and job._process.poll() is None:
            return JobState.RUNNING
        if paths.result_pickle.exists():
            return _outcome_state(paths.result_pickle)
        if job is not None and job._process is not None:
            code = job._process.poll()
            return JobState.CANCELLED if code is not None and code < 0 else JobState.LOST
        if _local_alive(int(ref.job_id)):
            return JobState.RUNNING
        # it may have written its result and exited since the first look
        return _outcome_state(paths.result_pickle) if paths.result_pickle.exists() else (
            JobState.LOST)

    def _debug_state(self, ref: JobRef) -> JobState:
        job = self._live.get(ref.job_id)
        if job is None:
            return JobState.LOST  # submitted by an earlier process: nothing to re-attach to
        if job.cancelled:
            return JobState.CANCELLED
        if ref.job_id not in self._debug_outcomes:
            self._debug_outcomes[ref.job_id] = self._run_debug(job)
        return JobState.FAILED if self._debug_outcomes[ref.job_id] else JobState.SUCCEEDED

    def _run_debug(self, job: Any) -> BaseException | None:
        if self.interactive:
            try:
                job.result()  # opens pdb post mortem on an exception, for a person to step
            except Exception as exc:
                return exc
            return None
        error: BaseException | None = job.exception()  # runs the job without pdb
        return error

    def _warn(self, message: str) -> None:
        """One line on stderr, at most once a minute: the scheduler is shared, keep calm."""
        now = time.monotonic()
        if now - self._last_warning >= 60:
            self._last_warning = now
            print(f"warning: {message}", file=sys.stderr, flush=True)

    # ---------------------------------------------------------------- cancel, errors, logs
    def cancel(self, jobs: Sequence[JobRef]) -> None:
        if not jobs:
            return
        if self.cluster == "slurm":
            self._scancel(jobs)
            return
        for ref in jobs:
            job = self._live.get(ref.job_id)
            if self.cluster == "debug":
                if job is not None:
                    job.cancel()
            else:
                self._cancel_local(ref.job_id)

    def _cancel_local(self, job_id: str) -> None:
        """SIGINT to the job's process group now; SIGKILL at the first poll after the grace,
        or at once when asked again (the controller's last word before it exits)."""
        if job_id not in self._kill_at:
            if _signal_group(int(job_id), signal.SIGINT):
                self._kill_at[job_id] = time.monotonic() + LOCAL_CANCEL_GRACE_S
        else:
            _signal_group(int(job_id), signal.SIGKILL)

    def _scancel(self, jobs: Sequence[JobRef]) -> None:
        """One `scancel --name=N ID` per job: slurmctld itself then refuses to cancel a job
        of another name that holds a reused id. Jobs journaled before names were (none)
        go in one plain call."""
        named = sorted({(ref.name, ref.job_id) for ref in jobs if ref.name})
        commands = [["scancel", f"--name={name}", job_id] for name, job_id in named]
        unnamed = sorted({ref.job_id for ref in jobs if not ref.name})
        commands += [["scancel", *unnamed]] if unnamed else []
        for command in commands:
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=60,
                                      check=False)
                refused = done.returncode != 0 and _unreachable(done.stderr)
                detail = _last_line(done.stderr)
            except (OSError, subprocess.SubprocessError) as exc:
                refused, detail = True, str(exc)
            if refused:
                # journaled already: the controller sends it again (drain, resume)
                self._warn(f"scancel failed ({detail}); the cancel is sent again later")
                return

    def failure(self, ref: JobRef) -> JobFailure:
        if ref.job_id in self._foreign:
            return JobFailure(None, f"SLURM gave job id {ref.job_id} to another job "
                              f"({self._foreign[ref.job_id]!r}): slurmctld lost ours "
                              "(restarted without its state?)")
        error = self._debug_outcomes.get(ref.job_id)
        if error is not None:  # the exception itself: classified as the job would have
            return failures.classify(error)
        written = failures.read(layout.failure_path(ref.folder, ref.job_id))
        if written is not None:
            return written
        return JobFailure(None, self._error_text(ref))

    def _error_text(self, ref: JobRef) -> str:
        paths = submitit.core.utils.JobPaths(ref.folder, job_id=ref.job_id, task_id=0)
        if paths.result_pickle.exists():
            outcome = _load_outcome(paths.result_pickle)
            if outcome and outcome[0] == "error":
                return _last_line(str(outcome[1]))
        for log in (paths.stderr, paths.stdout):
            line = _last_error_line(log)
            if line:
                return line
        return ""

    def log_paths(self, ref: JobRef) -> list[Path]:
        paths = submitit.core.utils.JobPaths(ref.folder, job_id=ref.job_id, task_id=0)
        return [paths.stdout, paths.stderr]


def _finish_submitit_files(folder: Path, paths: Any) -> None:
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


class RequeueOnTimeout(Checkpointable):
    """A training job that SLURM stops for its time limit or preemption is requeued by
    submitit under the same job id; the restarted job resumes from its last complete
    checkpoint (jobs.train does that by itself), so nothing but the steps since is lost."""

    def __init__(self, function: Any) -> None:
        self.function = function

    def __call__(self, *args: Any) -> Any:
        return self.function(*args)


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
    target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, target):
            os.close(fd)


class Distributed:
    """Runs in every task of a several-task job: exports torch.distributed's env:// variables
    (MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK) from SLURM's, so that the
    Trainer (through accelerate) forms one process group across the tasks."""

    def __init__(self, function: Any) -> None:
        self.function = function

    def __call__(self, *args: Any) -> Any:
        TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
        return self.function(*args)


def _slurm_parameters(request: JobRequest) -> dict[str, Any]:
    res: JobResources = request.resources
    params: dict[str, Any] = {
        "job_name": request.name,
        "time": res.timeout_min,
        "nodes": res.nodes,
        "ntasks_per_node": res.tasks_per_node,
        "cpus_per_task": res.cpus_per_task,
        "setup": list(_setup_lines(res)),
        "additional_parameters": dict(res.additional),
        "srun_args": list(res.srun_args),
        "stderr_to_stdout": False,
        "signal_delay_s": res.signal_delay_s,
    }
    optional: dict[str, Any] = {
        "partition": res.partition,
        "account": res.account,
        "qos": res.qos,
        "constraint": res.constraint,
        "gpus_per_node": res.gpus_per_node or None,
        "mem": f"{res.mem_gb:g}GB" if res.mem_gb else None,
    }
    params.update({k: v for k, v in optional.items() if v})
    return params


def _setup_lines(res: JobResources) -> list[str]:
    lines: list[str] = []
    if res.setup_template:
        text = Path(res.setup_template).read_text(encoding="utf-8")
        lines += [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#!")]
    return lines + list(res.setup)


def _describe(request: JobRequest) -> str:
    if request.command:
        return " ".join(request.command)
    return f"{request.target}({type(request.spec).__name__})"


def _load_outcome(path: Path) -> tuple[str, Any] | None:
    try:
        with open(path, "rb") as handle:
            outcome = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        return None
    return outcome if isinstance(outcome, tuple) and len(outcome) == 2 else None


def _outcome_state(path: Path) -> JobState:
    outcome = _load_outcome(path)
    return JobState.SUCCEEDED if outcome and outcome[0] == "success" else JobState.FAILED


def _local_alive(pid: int) -> bool:
    """True when `pid` is a live (not zombie) submitit local job controller."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state != "Z" and b"submitit" in cmdline


def _group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of process group `pgid`: a local job and everything
    it started, since the job's own session made its first process the group's leader."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Signal a local job's process group; False when nothing of it is left. A group whose
    leader is alive but not submitit's is someone else's (the pid was reused): untouched."""
    members = _group_members(pgid)
    if not members or (pgid in members and not _local_alive(pgid)):
        return False
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def _last_error_line(log: Path) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")[-20000:]
    except OSError:
        return ""
    for line in reversed(text.splitlines()):
        if "Error" in line or "error:" in line or "Exception" in line:
            return line.strip()[:300]
    return ""


__all__ = ["FailedJobError", "Refusal", "SubmititScheduler", "map_slurm_state", "parse_sacct",
           "python_command", "refused_option"]
