"""Why a job failed, said by the job itself: input, oom, nan or other.

Theory of operation: what the controller does after a failure depends on its cause. An
input error (bad data, a missing module, a bad argument, an unreadable model folder) ends
the trial at once, since a retry would fail the same way; out of memory re-plans the batch;
a NaN loss ends the trial (one in fp16, cause nan_fp16, is first retried in bf16 or fp32);
anything else is retried. The job knows the cause best, so the
job's entry point (`orchestrator.scheduler.in_job`) classifies the exception it is about to
die of and writes `layout.failure_path` (`<job id>_failure.json`, {cause, reason}) atomically
before it re-raises; the scheduler backend reads it back (`SubmititBackend.failure`). A job
that wrote nothing (killed, or a user's script that ran no Python of ours) is classified by the
controller from its error text (`cause_from_text`), as before this file existed.
Standard library only: the jobs and the controller both import it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from orchestrator.common import fsutil
from orchestrator.common.causes import CAUSES, INPUT, NAN, NAN_FP16, OOM, OTHER, JobFailure


class JobInputError(RuntimeError):
    """The job's input is wrong: a retry would fail the same way. One actionable line."""

    failure_cause = INPUT


def one_line(exc: BaseException) -> str:
    """`Type: message` on one line (a multi-line message joined, cut at 500 characters);
    our own JobInputError is its message alone."""
    text = " ".join(ln.strip() for ln in str(exc).splitlines() if ln.strip())
    if not isinstance(exc, JobInputError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= 500 else text[:497] + "..."


def classify(exc: BaseException) -> JobFailure:
    """The cause of the exception a job dies of (see the module's docstring)."""
    cause = getattr(exc, "failure_cause", None)
    if cause not in CAUSES:
        cause = INPUT if isinstance(exc, ImportError) else cause_from_text(one_line(exc))
    return JobFailure(cause, one_line(exc))


def cause_from_text(text: str) -> str:
    """The cause from an error's text alone: the fallback for jobs that wrote no file."""
    lowered = text.lower()
    if any(f"{name}:" in lowered for name in
           (JobInputError.__name__.lower(), "modulenotfounderror", "importerror")):
        return INPUT  # a job of ours whose failure file is not visible yet, or a user's script
    if "out of memory" in lowered or "outofmemoryerror" in lowered:
        return OOM
    if "loss became nan" in lowered:
        return NAN_FP16 if "(precision fp16)" in lowered else NAN
    return OTHER


def write(path: Path, failure: JobFailure) -> None:
    """Atomically, and only the first time: in a job of several tasks the first to fail
    knows why; the others fail because it did."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"cause": failure.cause, "reason": failure.reason}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, fsutil.file_mode())  # mkstemp makes 0600: what open() would give
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        Path(tmp).unlink(missing_ok=True)


def read(path: Path) -> JobFailure | None:
    """What the job wrote, or None (no file, or not one of ours)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("cause") not in CAUSES:
        return None
    return JobFailure(str(data["cause"]), str(data.get("reason", "")))
