"""What a submitted job runs. Imported in the job's process, so it stays light: the job's own
module (jobs.train, jobs.infer) is imported there, never in the controller."""

from __future__ import annotations

import importlib
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from orchestrator import failures
from orchestrator.fsutil import atomic_write_text


def call(target: str, spec: Any) -> Any:
    """Run `module:function` on `spec` inside the job's process; on an exception, leave
    why (input, oom, nan, other: orchestrator.failures) where the controller looks."""
    try:
        module_name, _, function_name = target.partition(":")
        function = getattr(importlib.import_module(module_name), function_name)
        return function(spec)
    except Exception as exc:  # not KeyboardInterrupt/SystemExit: a cancel, a requeue
        failures.record_in_job(exc)
        raise


def _pump(source: IO[str], sink: IO[str], keep: list[str] | None) -> None:
    for line in source:
        sink.write(line)
        sink.flush()
        if keep is not None:
            keep.append(line)


class ScriptFailed(RuntimeError):
    """A user's script exited non-zero; `failure_cause` says whether a retry may help."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.failure_cause = failures.INPUT if code in failures.INPUT_EXIT_CODES else (
            failures.OTHER)


def run_command(argv: list[str], output: str) -> int:
    """Run a user's script (no shell), echo its output to the job log, keep its stdout.

    On success stdout is written atomically to `output`, where the controller reads the
    metric; a non-zero exit raises with the script's last stderr line, so the job FAILS.
    A script that cannot be started, or exits 2, 126 or 127, failed on its input.
    """
    try:
        return _run_command(argv, output)
    except Exception as exc:
        failures.record_in_job(exc)
        raise


def _run_command(argv: list[str], output: str) -> int:
    try:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, errors="replace")
    except OSError as exc:  # no such program, not executable, not a program
        raise failures.JobInputError(
            f"cannot run {argv[0]}: {exc.strerror or exc}; check the command "
            "(train.command / infer.command) and that the script exists and is executable"
        ) from exc
    with process:
        kept: list[str] = []
        errors: list[str] = []
        assert process.stdout is not None and process.stderr is not None
        err = threading.Thread(target=_pump, args=(process.stderr, sys.stderr, errors))
        err.start()
        _pump(process.stdout, sys.stdout, kept)
        err.join()
        code = process.wait()
    if code:
        last = next((ln.strip() for ln in reversed(errors) if ln.strip()), "no stderr")
        raise ScriptFailed(f"{Path(argv[0]).name} exited with status {code}: {last}", code)
    atomic_write_text(output, "".join(kept))
    return code
