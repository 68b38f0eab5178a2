"""What a submitted job runs, inside the job's process (never in the controller's).

It stays light: the job's own module (jobs.train, jobs.infer) is imported here, in the job,
never in the controller. On an exception the job says why it failed
(`orchestrator.common.failures`) in a file beside submitit's own, which the backend reads back.

With infer.placement=with_training the training job also runs an evaluator beside its
training (`beside`): a `python -m jobs.worker` subprocess on the trial's work queue, started
before training and, once training has returned, told so (work_queue.mark_training_ended)
and waited for while it evaluates the trial's last checkpoints. An evaluator that dies while
training runs has its claimed tasks failed (the controller retries them) and is started
again, at most MAX_EVALUATOR_RESTARTS times. When training fails or the job is cancelled the
evaluator is stopped: it never outlives its job (it also watches its parent process, and
SLURM ends every process of a cancelled job).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import IO, Any

from orchestrator.common import causes, failures, layout
from orchestrator.common.fsutil import atomic_write_text
from orchestrator.placement import work_queue
from orchestrator.scheduler.processes import descendants

# the status of a job process the controller cancelled (128 + SIGINT, as a shell reports it)
CANCELLED_STATUS = 130
CANCELLED_LINE = "cancelled by the controller"
# set when the job ends itself, its controller gone (orphan_watch): its tasks are orphaned
ORPHANED = threading.Event()
ORPHANED_LINE = "ended by itself: its controller is gone (search.orphan_grace_s)"


@contextlib.contextmanager
def _cancellable() -> Iterator[None]:
    """The controller cancels a local job with SIGINT: say so in one line of the job's log
    and exit with CANCELLED_STATUS, instead of a KeyboardInterrupt traceback (and without a
    result, so submitit records no failure). In-process (the debug executor) the interrupt
    is the user's Ctrl-C and belongs to the controller: it goes on up."""
    previous = None if _in_process() else signal.signal(signal.SIGINT, _first_interrupt_only)
    cancelled = False
    try:
        yield
    except KeyboardInterrupt as interrupt:
        if _in_process():
            raise
        cancelled = True  # the process ends: SIGINT stays ignored until it has
        if not isinstance(interrupt, _Announced):
            _announce()
        raise SystemExit(CANCELLED_STATUS) from None
    finally:
        if previous is not None and not cancelled:
            signal.signal(signal.SIGINT, previous)


def _first_interrupt_only(signum: int, frame: FrameType | None) -> None:
    # the cancel is one request, but a second SIGINT follows (submitit's job process
    # forwards its own): it must not cut short the line and the script's stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _in_process() -> bool:
    return "SUBMITIT_DEBUG_JOB_ID" in os.environ


class _Announced(KeyboardInterrupt):
    """The cancel, already told in the job's log."""


def _announce() -> None:
    print(ORPHANED_LINE if ORPHANED.is_set() else CANCELLED_LINE, file=sys.stderr, flush=True)


def call(target: str, spec: Any) -> Any:
    """Run `module:function` on `spec` inside the job's process; on an exception, leave
    why (input, oom, nan, other: orchestrator.common.failures) where the controller looks."""
    with _cancellable():
        try:
            module_name, _, function_name = target.partition(":")
            function = getattr(importlib.import_module(module_name), function_name)
            return function(spec)
        except Exception as exc:  # not KeyboardInterrupt/SystemExit: a cancel, a requeue
            record_failure(exc)
            raise


def record_failure(exc: BaseException) -> None:
    """In a submitit job: write why it fails. Outside one (tests, `python -m jobs.train`,
    the debug executor, which hands the exception itself over) this does nothing."""
    write_failure(failures.classify(exc))


def write_failure(failure: causes.JobFailure) -> None:
    """`record_failure` of a cause already known."""
    try:
        import submitit  # the job runs under submitit already; a test need not

        env = submitit.JobEnvironment()
        folder, job_id = env.paths.folder, env.job_id
    except Exception:  # not in a job, or an environment submitit cannot describe
        return
    try:
        failures.write(layout.failure_path(folder, job_id), failure)
    except OSError:
        pass  # the controller falls back to the error text


def _pump(source: IO[str], sink: IO[str], keep: list[str] | None) -> None:
    for line in source:
        sink.write(line)
        sink.flush()
        if keep is not None:
            keep.append(line)


# the variable a user's script finds the job's interpreter in (sbatch_templates/ use it)
SCRIPT_PYTHON = "ORCHESTRATOR_PYTHON"
# the end of a script's stderr that says why it died: a Python traceback's last line, or a
# launcher's (torchrun's) summary after it
_TELLING_LINES = 20


class ScriptFailed(RuntimeError):
    """A user's script exited non-zero; `failure_cause` says whether a retry may help: a
    usage exit status, or what its last stderr lines say (a missing module is an input
    error, CUDA out of memory re-plans the batch, a NaN loss is one), else other."""

    def __init__(self, message: str, code: int, stderr_tail: Sequence[str] = ()) -> None:
        super().__init__(message)
        told = failures.cause_from_text(" ".join(stderr_tail[-_TELLING_LINES:]))
        self.failure_cause = causes.INPUT if code in causes.INPUT_EXIT_CODES else told


def run_command(argv: list[str], output: str) -> int:
    """Run a user's script (no shell), echo its output to the job log, keep its stdout.

    On success stdout is written atomically to `output`, where the controller reads the
    metric; a non-zero exit raises with the script's last stderr line, so the job FAILS.
    A script that cannot be started, or exits 2, 126 or 127, failed on its input.
    """
    try:
        return run_script(argv, output)
    except Exception as exc:
        record_failure(exc)
        raise


def run_script(argv: list[str], output: str, limit_s: float = 0.0) -> int:
    """`run_command` without recording a failure: the evaluator beside training, or a
    worker, runs a user's inference script per task this way (jobs.worker). A script still
    running after `limit_s` (0: no limit) is stopped, and fails, with whatever it started
    (bash, torchrun, DataLoader workers): they hold its output pipes, which are read to their
    end. It stays in the job's process group: the local executor's cancel reaches it."""
    # the job's own interpreter (executor.python), for a script that runs Python: a bare
    # `python` may lack the jobs' packages. PYTHONSAFEPATH is for our code (search.snapshot)
    env = {**os.environ, SCRIPT_PYTHON: sys.executable, "PYTHONSAFEPATH": ""}
    try:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, errors="replace", env=env)
    except OSError as exc:  # no such program, not executable, not a program
        raise failures.JobInputError(
            f"cannot run {argv[0]}: {exc.strerror or exc}; check the command "
            "(train.command / infer.command) and that the script exists and is executable"
        ) from exc
    timer, overran = _limited(process, limit_s)
    with _cancellable(), process:
        kept: list[str] = []
        errors: list[str] = []
        assert process.stdout is not None and process.stderr is not None
        err = threading.Thread(target=_pump, args=(process.stderr, sys.stderr, errors),
                               daemon=True)
        err.start()
        try:
            _pump(process.stdout, sys.stdout, kept)
            err.join()
            code = process.wait()
        except KeyboardInterrupt:
            if _in_process():
                _stop(process)
                raise
            # the line first: submitit's job process SIGKILLs this task 1 s after its SIGINT
            _announce()
            _stop(process)  # the script may ignore SIGINT: it must not outlive its job
            raise _Announced from None
        finally:
            timer.cancel()
    if overran.is_set():
        raise ScriptFailed(f"{_program(argv)} ran over its limit of {limit_s:g} s "
                           "(infer.task_timeout_s) and was stopped", code)
    if code:
        last = next((ln.strip() for ln in reversed(errors) if ln.strip()), "no stderr")
        raise ScriptFailed(f"{_program(argv)} exited with status {code}: {last}", code,
                           [ln.strip() for ln in errors if ln.strip()])
    atomic_write_text(output, "".join(kept))
    return code


def _limited(process: subprocess.Popen[Any],
             limit_s: float) -> tuple[threading.Timer, threading.Event]:
    """A started timer that stops `process` after `limit_s` (0: never), and the event it
    sets when it does."""
    overran = threading.Event()

    def overrun() -> None:
        if process.poll() is None:  # not if it ended as the timer fired
            overran.set()
            _stop_tree(process)

    timer = threading.Timer(limit_s, overrun)
    timer.daemon = True
    if limit_s:
        timer.start()
    return timer, overran


def _program(argv: list[str]) -> str:
    """The name a user knows their script by: `eval.py` of `python eval.py ...`."""
    name = Path(argv[0]).name
    if name.startswith("python") and len(argv) > 1 and not argv[1].startswith("-"):
        return Path(argv[1]).name
    return name


def _stop(process: subprocess.Popen[Any], grace_s: float = 0.5) -> None:
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _stop_tree(process: subprocess.Popen[Any]) -> None:
    """`_stop`, and then whatever the process started, found before it went (orphans are
    adopted by another parent): a script's children hold its output pipes."""
    started = descendants(process.pid)
    for pid in started:
        _kill(pid, signal.SIGTERM)
    _stop(process)
    for pid in started:
        _kill(pid, signal.SIGKILL)


def _kill(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


# ---------------------------------------------------------------- the evaluator beside training
MAX_EVALUATOR_RESTARTS = 3
SPEC_FILE = "evaluator-spec.pkl"  # in the queue's folder: what `python -m jobs.worker` reads
_STOP_GRACE_S = 5.0


def call_beside(evaluator: Any, target: str, spec: Any) -> Any:
    """`call`, with the evaluator `evaluator` (an EvaluatorSpec) running beside it."""
    with beside(evaluator):
        return call(target, spec)


def run_command_beside(evaluator: Any, argv: list[str], output: str) -> int:
    """`run_command` (a user's training script), with the evaluator beside it."""
    with beside(evaluator):
        return run_command(argv, output)


@contextlib.contextmanager
def beside(spec: Any) -> Iterator[None]:
    """Run an evaluator (jobs.worker on `spec`, an EvaluatorSpec) beside the block: started
    before it, drained after it returns, stopped when it raises. Task 0 of a job only."""
    if spec is None or task_rank() != 0:
        yield
        return
    evaluator = _Beside(spec, job_id())
    evaluator.start()
    try:
        yield
    except BaseException:
        evaluator.stop("the training beside it failed or was cancelled")
        raise
    try:
        with _cancellable():
            evaluator.drain()
    except BaseException:
        evaluator.stop("the job was cancelled while it evaluated the last checkpoints")
        raise


def task_rank() -> int:
    """This task's global rank: RANK (exported for torch.distributed), else SLURM's."""
    for name in ("RANK", "SLURM_PROCID"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def job_id() -> str:
    """The scheduler's id of the job this process runs in; pid<N> outside a submitit job."""
    try:
        import submitit

        return str(submitit.JobEnvironment().job_id)
    except Exception:  # not in a submitit job (a test, a manual run)
        return f"pid{os.getpid()}"


class _Beside:
    """One evaluator subprocess, watched by a thread that restarts it if it dies."""

    def __init__(self, spec: Any, runner: str) -> None:
        self.qdir = work_queue.queue_dir(spec.search_dir, spec.queue)
        self.spec, self.runner = spec, runner
        self.restarts = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        self.qdir.mkdir(parents=True, exist_ok=True)
        work_queue.clear_training_ended(self.qdir)  # a retry: the last attempt's has ended
        path = self.qdir / SPEC_FILE
        temporary = path.with_name(f".{SPEC_FILE}.{os.getpid()}")
        temporary.write_bytes(pickle.dumps(self.spec))
        os.replace(temporary, path)
        self._spawn()
        self._watcher.start()

    def _spawn(self) -> None:
        root = str(Path(layout.__file__).resolve().parents[2])  # where jobs/ lies too
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH", "")) if p)}
        # stdout and stderr are the job's own: its log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jobs.worker", str(self.qdir / SPEC_FILE),
             "--runner", self.runner, "--parent", str(os.getpid())], env=env)

    def _watch(self) -> None:
        while not self._stopping.is_set():
            assert self.process is not None
            code = self.process.poll()
            if code is None:
                self._stopping.wait(0.2)
                continue
            if code == 0:
                return  # told to stop, idle, or drained
            fail_claims(self.spec, self.runner,
                        f"the evaluator beside training exited with status {code}")
            if code == work_queue.EXIT_OVERRAN and not self._stopping.is_set():
                # it failed its hung task itself: each such exit costs that task a retry
                # (search.eval_retries), so these restarts are bounded without the count
                print("the evaluator beside training left a hung evaluation: restarted",
                      file=sys.stderr, flush=True)
                self._spawn()
                continue
            if self.restarts >= MAX_EVALUATOR_RESTARTS or self._stopping.is_set():
                print(f"the evaluator beside training exited with status {code}; not "
                      "restarted", file=sys.stderr, flush=True)
                return
            self.restarts += 1
            print(f"the evaluator beside training exited with status {code}: restart "
                  f"{self.restarts}/{MAX_EVALUATOR_RESTARTS}", file=sys.stderr, flush=True)
            self._spawn()

    def drain(self) -> None:
        """Training returned: say so, and wait for the evaluator to finish the trial."""
        work_queue.mark_training_ended(self.qdir)
        _join(self._watcher.join, self._watcher.is_alive)

    def stop(self, reason: str) -> None:
        self._stopping.set()
        _join(self._watcher.join, self._watcher.is_alive)
        if self.process is not None and self.process.poll() is None:
            _stop(self.process, _STOP_GRACE_S)
        fail_claims(self.spec, self.runner, reason)


def fail_claims(spec: Any, runner: str, reason: str) -> None:
    """Fail the tasks evaluator `runner` holds: orphaned if its job ended itself, else other."""
    qdir = work_queue.queue_dir(spec.search_dir, spec.queue)
    for task in work_queue.claimed_by(qdir, runner):
        cause = causes.ORPHANED if ORPHANED.is_set() else causes.OTHER
        work_queue.fail(qdir, task, runner, cause, reason)


def _join(join: Callable[[float], None], alive: Callable[[], bool]) -> None:
    # in short waits: a signal (the cancel) must reach the main thread's handler meanwhile
    while alive():
        join(0.2)
