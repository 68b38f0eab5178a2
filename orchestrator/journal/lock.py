"""One controller per search directory: its lease (journal.lease), and flock where it works.

Theory of operation. `flock` alone does not exclude on the file systems HPC sites share
between hosts: node-local on BeeGFS by default and NFS `local_lock`, missing on Lustre
`noflock` (ENOSYS) and NFS without a lock daemon (ENOLCK). So a controller takes the lease:
it refuses while the lease's holder is alive (`lease.judge`, from any host), writes its own,
renews it every BEAT_S from a thread and marks it released when it stops. flock stays an
extra guard: taken when the file system has it (it settles two controllers starting at once
on one host), skipped with one line when it has not. Without flock a takeover is confirmed:
the lease is read back CONFIRM_S after it was written, so of two controllers that took it
at once only the last writer goes on. A controller whose lease another took over (it was
stopped, e.g. Ctrl-Z, past the bound) stops at its next beat: its Ctrl-C path ends it,
leaving its jobs to the new holder, and it exits with SearchLocked.
"""

from __future__ import annotations

import _thread
import errno
import fcntl
import json
import os
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from orchestrator.common import layout
from orchestrator.common.fsutil import make_search_dir
from orchestrator.errors import SearchDirError, SearchLocked
from orchestrator.journal import lease
from orchestrator.journal.lease import is_controller

__all__ = ["SearchLock", "busy_message", "detached_job_id", "is_controller", "read_holder"]

read_holder = lease.read  # the last controller that held the search (host, pid, since, ...)

CONFIRM_S = 1.0  # without flock: a lease just taken is read back after this long
BUSY = {errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK}  # flock: another holds it
NO_FLOCK = {errno.ENOSYS, errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP}  # flock: none here
_told_no_flock: set[str] = set()  # say it once per folder and process


class SearchLock:
    """The search folder, held: refused (SearchLocked) while another controller holds it."""

    def __init__(self, search_dir: Path, shared: bool = False,
                 beat_s: float = lease.BEAT_S) -> None:
        self.search_dir = search_dir
        self.shared = shared  # search.shared: a folder made here is 0700 unless shared
        self.beat_s = beat_s
        self.token = uuid.uuid4().hex
        self.lost: str | None = None  # set when another controller took the lease over
        self._fd: int | None = None
        self._lease: dict[str, Any] = {}
        self._stop = threading.Event()
        self._beating: threading.Thread | None = None

    def __enter__(self) -> SearchLock:
        try:
            make_search_dir(self.search_dir, self.shared)
        except OSError as exc:
            raise SearchDirError(f"cannot create search.dir {self.search_dir}: {exc.strerror}; "
                                "pick a folder you can write") from None
        self._fd = self._flock()
        try:
            self._take()
        except BaseException:
            self._unflock()
            raise
        self._beating = threading.Thread(target=self._beat, name="lease", daemon=True)
        self._beating.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop_beating()
        if self.lost is None and self._ours(lease.read(self.search_dir)):
            lease.write(self.search_dir, {**self._lease, "released": time.time()})
        self._unflock()
        if self.lost is not None and isinstance(exc, KeyboardInterrupt):
            raise SearchLocked(self.lost) from None

    def forget(self) -> None:
        """Remove the lease and the lock file (a run that journaled nothing leaves no trace);
        the beat stops first, so that it cannot write the lease again."""
        self._stop_beating()
        for path in (layout.holder_path(self.search_dir), layout.lock_path(self.search_dir)):
            path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ flock
    def _flock(self) -> int | None:
        """The flock's descriptor; None where the file system has no flock."""
        path = layout.lock_path(self.search_dir)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in BUSY:
                raise SearchLocked(self._busy_message(lease.read(self.search_dir))) from None
            if exc.errno not in NO_FLOCK:
                raise SearchDirError(f"cannot lock {path}: {exc.strerror}; check the file "
                                     "system's health and permissions") from None
            if str(path) not in _told_no_flock:
                _told_no_flock.add(str(path))
                print(f"note: no flock on {path}'s file system ({exc.strerror}); one controller "
                      f"per search is kept by its lease ({layout.holder_path(self.search_dir)}) "
                      "alone", file=sys.stderr, flush=True)
            return None
        return fd

    def _unflock(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the flock
            self._fd = None

    # ------------------------------------------------------------------ the lease
    def _take(self) -> None:
        holder = lease.read(self.search_dir)
        if self._alive(holder):
            raise SearchLocked(self._busy_message(holder))
        self._lease = lease.new(self.token, time.time())
        lease.write(self.search_dir, self._lease)
        if self._fd is None:
            time.sleep(CONFIRM_S)  # no flock settled a race: the last writer goes on
            now = lease.read(self.search_dir)
            if not self._ours(now):
                raise SearchLocked(self._busy_message(now))

    def _alive(self, holder: dict[str, Any] | None) -> bool:
        """lease.judge, with this process counted alive: a second hold in one process."""
        alive, _ = lease.judge(
            holder, _journal_mtime(self.search_dir), time.time(), socket.gethostname(),
            lambda pid: lease.Pid.CONTROLLER if pid == os.getpid() else lease.pid_is(pid),
            lease.this_job())
        return alive

    def _ours(self, holder: dict[str, Any] | None) -> bool:
        return holder is not None and holder.get("token") == self.token

    def _beat(self) -> None:
        """Renew the lease every beat; stop the controller once another holds it."""
        while not self._stop.wait(self.beat_s):
            holder = lease.read(self.search_dir)
            if holder is None:
                continue  # unreadable for now, or forgotten: never written again from here
            if not self._ours(holder):
                self.lost = (f"{self.search_dir} was taken over by pid {holder['pid']} on "
                             f"{holder.get('host', '?')} while this controller was stalled; "
                             f"it runs the search now: orchestrator watch {self.search_dir}")
                _thread.interrupt_main()  # the Ctrl-C path: jobs keep running, for it
                return
            self._lease["beat"] = time.time()
            try:
                lease.write(self.search_dir, self._lease)
            except OSError:
                pass  # a full or flaky file system: the next beat tries again

    def _stop_beating(self) -> None:
        self._stop.set()
        if self._beating is not None:
            self._beating.join()
            self._beating = None

    def _busy_message(self, holder: dict[str, Any] | None) -> str:
        return busy_message(self.search_dir, holder, detached_job_id(self.search_dir),
                            lease.age_line(holder, _journal_mtime(self.search_dir),
                                           time.time()))


def _journal_mtime(search_dir: Path) -> float:
    try:
        return layout.journal_path(search_dir).stat().st_mtime
    except OSError:
        return 0.0


def busy_message(search_dir: Path, holder: dict[str, Any] | None, detached_job: str | None,
                 age: str = "") -> str:
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
    return (f"{search_dir} is in use by {who}; {age + '; ' if age else ''}follow it: "
            f"orchestrator watch {search_dir}, stop it: orchestrator cancel {search_dir}, "
            "or pick another search.dir")


def detached_job_id(search_dir: Path) -> str | None:
    """The SLURM job of a controller started by `run --detach` (controller-job.json)."""
    try:
        data = json.loads(layout.controller_job_path(search_dir).read_text(encoding="utf-8"))
        return str(data["job_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
