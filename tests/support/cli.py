"""Run the real CLI (`python -m orchestrator ...`) in a subprocess, as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.support.journal import wait_for

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", **(extra or {})}


def cli(*args: str, cwd: Path = ROOT, env: Mapping[str, str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run the CLI to its end; `env` is added to this process's environment."""
    return subprocess.run(
        [PY, "-m", "orchestrator", *args], cwd=cwd, capture_output=True, text=True,
        timeout=timeout, env=_env(env), check=False,
        stdin=subprocess.DEVNULL,  # never a terminal: the debug executor must not open pdb
    )


def start(*args: str, log: Path, env: Mapping[str, str] | None = None,
          ) -> subprocess.Popen[bytes]:
    """Start the CLI in the background, its output appended to `log`."""
    with open(log, "ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([PY, "-m", "orchestrator", *args], cwd=ROOT, env=_env(env),
                                stdout=handle, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def kill_and_resume(args: list[str], directory: Path, log: Path,
                    ready: Callable[[list[dict[str, Any]]], Any],
                    ) -> subprocess.CompletedProcess[str]:
    """Start the search, kill -9 the controller once `ready(events)` holds, run it again."""
    proc = start(*args, log=log)
    try:
        wait_for(directory, ready, timeout=600)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return cli(*args, timeout=900)
