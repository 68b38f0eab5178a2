"""What a submitted job runs. Imported in the job's process, so it stays light: the job's own
module (jobs.train, jobs.infer) is imported there, never in the controller."""

from __future__ import annotations

import importlib
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

from orchestrator.fsutil import atomic_write_text


def call(target: str, spec: Any) -> Any:
    """Run `module:function` on `spec` inside the job's process."""
    module_name, _, function_name = target.partition(":")
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
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, errors="replace") as process:
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
        raise RuntimeError(f"{Path(argv[0]).name} exited with status {code}: {last}")
    atomic_write_text(output, "".join(kept))
    return code
