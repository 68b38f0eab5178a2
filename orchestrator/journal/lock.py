"""One controller per search directory, and who holds it."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import filelock

from orchestrator.common import layout, redact
from orchestrator.common.fsutil import atomic_write_json, make_search_dir
from orchestrator.errors import SearchDirError, SearchLocked


class SearchLock:
    """An exclusive, non-blocking lock on `search_dir`; the holder's host and pid beside it.

    The OS releases the lock when the process dies (kill -9 included), so a stale holder
    file never blocks a resume: only a live controller does.
    """

    def __init__(self, search_dir: Path, shared: bool = False) -> None:
        self.search_dir = search_dir
        self.shared = shared  # search.shared: a folder made here is 0700 unless shared
        self._lock = filelock.FileLock(str(layout.lock_path(search_dir)), timeout=0)

    def __enter__(self) -> SearchLock:
        try:
            make_search_dir(self.search_dir, self.shared)
        except OSError as exc:
            raise SearchDirError(f"cannot create search.dir {self.search_dir}: {exc.strerror}; "
                                "pick a folder you can write") from None
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise SearchLocked(self._busy_message()) from None
        atomic_write_json(
            layout.holder_path(self.search_dir),
            {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time(),
             "argv": redact.argv(sys.argv), "slurm_job_id": os.environ.get("SLURM_JOB_ID")},
        )
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._lock.release()

    def _busy_message(self) -> str:
        return busy_message(self.search_dir, read_holder(self.search_dir),
                            detached_job_id(self.search_dir))


def busy_message(search_dir: Path, holder: dict[str, Any] | None, detached_job: str | None
                 ) -> str:
    """Why a second controller is refused, and what to do instead: a controller detached as
    a SLURM job is named by its job (its pid means nothing on a login node)."""
    job = (holder or {}).get("slurm_job_id") or (None if holder else detached_job)
    if job:
        how = " (run --detach)" if str(job) == detached_job else ""
        who = f"the controller in SLURM job {job}{how}"
    elif holder is not None:
        who = f"pid {holder['pid']} on host {holder.get('host', '?')}"
    else:
        who = "another controller"
    return (f"{search_dir} is in use by {who}; follow it: orchestrator watch {search_dir}, "
            f"stop it: orchestrator cancel {search_dir}, or pick another search.dir")


def detached_job_id(search_dir: Path) -> str | None:
    """The SLURM job of a controller started by `run --detach` (controller-job.json)."""
    try:
        data = json.loads(layout.controller_job_path(search_dir).read_text(encoding="utf-8"))
        return str(data["job_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def read_holder(search_dir: Path) -> dict[str, Any] | None:
    """The last controller that held `search_dir` (host, pid, since, argv), if recorded."""
    try:
        holder = json.loads(layout.holder_path(search_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(holder, dict) or not isinstance(holder.get("pid"), int):
        return None
    return holder


def is_controller(pid: int) -> bool:
    """On this host: is `pid` a live orchestrator process? A bare pid check is not enough:
    the pid of a controller that ended may belong to any other process now."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":
        return False
    # `python -m orchestrator ...`, or the console script `.../bin/orchestrator ...`
    args = [a.decode(errors="replace") for a in cmdline.split(b"\0")]
    return "-m\0orchestrator" in "\0".join(args) or any(
        Path(a).name == "orchestrator" for a in args[:2])
