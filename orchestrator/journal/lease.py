"""The controller's lease on its search folder: who holds it, and the one rule that says
whether that holder is still alive (`judge`), asked by a second controller, `cancel`,
`status`, `watch`, `ls` and `clean` alike.

Theory of operation. The lease is the holder file (layout.holder_path): host, pid, start
time, a token naming this hold, and `beat`, the time its controller last renewed it. A live
controller rewrites it atomically every BEAT_S (a thread of `lock.SearchLock`) and marks it
`released` when it stops. Whether the holder is alive:
- released, or held by an earlier run of the asking controller's own SLURM job: no;
- on the holder's own host its pid is asked: a live controller holds the lease, a pid that
  no process has frees it at once; a pid some other process has (a reused pid, or a
  controller inside a wrapper such as submitit's) is judged as from another host;
- from another host the pid means nothing: the latest sign of life (the beat, or the
  journal's last write) must be younger than STALE_AFTER_S.
The bound is 18 beats: it outlasts NFS's cached directory attributes (acdirmax, 60 s by
default) and a clock skew between hosts of up to 30 s. A controller killed with -9 on
another host therefore blocks a takeover from elsewhere for at most STALE_AFTER_S.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

from orchestrator.common import layout, redact
from orchestrator.common.fsutil import atomic_write_json
from orchestrator.common.liveness import last_sign
from orchestrator.model.progress import duration

BEAT_S = 5.0  # a live controller renews its lease this often
# from another host, a holder with no sign of life for this long is gone (see above)
STALE_AFTER_S = 90.0


def read(search_dir: Path) -> dict[str, Any] | None:
    """The lease as last written (host, pid, since, beat, token), if any."""
    try:
        holder = json.loads(layout.holder_path(search_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(holder, dict) or not isinstance(holder.get("pid"), int):
        return None
    return holder


def new(token: str, now: float) -> dict[str, Any]:
    """A lease for this process, renewed at `now`."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "since": now, "beat": now,
            "token": token, "argv": redact.argv(sys.argv),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
            "slurm_restart": os.environ.get("SLURM_RESTART_COUNT", "0")}


def this_job() -> tuple[str, str] | None:
    """This process's SLURM job and restart count, when it runs in one."""
    job = os.environ.get("SLURM_JOB_ID")
    return None if job is None else (job, os.environ.get("SLURM_RESTART_COUNT", "0"))


def write(search_dir: Path, lease: dict[str, Any]) -> None:
    atomic_write_json(layout.holder_path(search_dir), lease)


def judge(holder: dict[str, Any] | None, last_event_t: float, now: float, host: str,
          pid_is: Callable[[int], Pid], job: tuple[str, str] | None = None
          ) -> tuple[bool, str]:
    """Is the lease's holder alive, and a line saying how that is known (the rule: above).
    Pure: the caller brings the clock, its host name, the pid check and its own SLURM job
    and restart count (a holder in that job with another count is its run before SLURM
    requeued it: gone, wherever it ran)."""
    if holder is None:
        return False, "controller: none recorded"
    who = f"pid {holder['pid']} on {holder.get('host', '?')}"
    if holder.get("released") or (job is not None and holder.get("slurm_job_id") == job[0]
                                  and holder.get("slurm_restart", "0") != job[1]):
        return False, f"controller: not running (was {who})"
    if holder.get("host") == host:
        found = pid_is(holder["pid"])
        if found is Pid.CONTROLLER:
            return True, f"controller: running ({who})"
        if found is Pid.GONE:
            return False, f"controller: not running (was {who})"
    age = max(0.0, now - last_sign(holder, last_event_t))
    seen = f"{'lease renewed' if 'beat' in holder else 'last journal entry'} {duration(age)} ago"
    if age < STALE_AFTER_S:
        return True, f"controller: running, as far as {host} can tell ({who}; {seen})"
    return False, f"controller: not running, as far as {host} can tell ({who}; {seen})"


class Pid(Enum):
    """What a pid is on this host."""

    CONTROLLER = "controller"  # a live orchestrator process
    OTHER = "other"  # a live process that does not look like one
    GONE = "gone"  # no live process (a zombie counts as gone)


def pid_is(pid: int) -> Pid:
    if is_controller(pid):
        return Pid.CONTROLLER
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return Pid.GONE
    except OSError:
        pass  # EPERM: it exists, another user's
    return Pid.GONE if _zombie(pid) else Pid.OTHER


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return False


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


def age_line(holder: dict[str, Any] | None, last_event_t: float, now: float) -> str:
    """`its lease was renewed 3 s ago` for a refusal's message ('' with no holder)."""
    if holder is None:
        return ""
    age = max(0.0, now - last_sign(holder, last_event_t))
    return (f"its lease was renewed {duration(age)} ago (a lease older than "
            f"{duration(STALE_AFTER_S)} is taken over)")
