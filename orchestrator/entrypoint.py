"""What a submitted job runs. Imported in the job's process, so it stays light: the job's own
module (jobs.train, jobs.infer) is imported there, never in the controller."""

from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, NoReturn

from orchestrator.fsutil import atomic_write_text

# the status of a job process the controller cancelled (128 + SIGINT, as a shell reports it)
CANCELLED_STATUS = 130
CANCELLED_LINE = "cancelled by the controller"


@contextlib.contextmanager
def _cancellable() -> Iterator[None]:
    """The controller cancels a local job with SIGINT: say so in one line of the job's log
    and exit with CANCELLED_STATUS, instead of a KeyboardInterrupt traceback (and without a
    result, so submitit records no failure). In-process (the debug executor) the interrupt
    is the user's Ctrl-C and belongs to the controller: it goes on up."""
    try:
        yield
    except KeyboardInterrupt:
        if _in_process():
            raise
        _exit_cancelled()


def _in_process() -> bool:
    return "SUBMITIT_DEBUG_JOB_ID" in os.environ


def _exit_cancelled(script: subprocess.Popen[str] | None = None) -> NoReturn:
    # the line first: submitit's job process SIGKILLs this task about 1 s after its SIGINT
    print(CANCELLED_LINE, file=sys.stderr, flush=True)
    if script is not None:
        _stop(script)  # it may ignore SIGINT: it must not outlive its job
    raise SystemExit(CANCELLED_STATUS) from None


def call(target: str, spec: Any) -> Any:
    """Run `module:function` on `spec` inside the job's process."""
    module_name, _, function_name = target.partition(":")
    with _cancellable():
        function = getattr(importlib.import_module(module_name), function_name)
        return function(spec)


def _pump(source: IO[str], sink: IO[str], keep: list[str] | None) -> None:
    for line in source:
        sink.write(line)
        sink.flush()
        if keep is not None:
            keep.append(line)


def run_command(argv: list[str], output: str) -> int:
    """Run a user's script (no shell), echo its output to the job log, keep its stdout.

    On success stdout is written atomically to `output`, where the controller reads the
    metric; a non-zero exit raises with the script's last stderr line, so the job FAILS.
    """
    with _cancellable(), subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True, errors="replace") as process:
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
            _exit_cancelled(process)
    if code:
        last = next((ln.strip() for ln in reversed(errors) if ln.strip()), "no stderr")
        raise RuntimeError(f"{Path(argv[0]).name} exited with status {code}: {last}")
    atomic_write_text(output, "".join(kept))
    return code


def _stop(process: subprocess.Popen[str], grace_s: float = 0.5) -> None:
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
