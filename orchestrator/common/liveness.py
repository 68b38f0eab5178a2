"""The controller's sign of life as both sides read it: the lease's beat (journal.lease) and the
journal's last write, and the one rule by which a job of the search judges itself orphaned
(search.orphan_grace_s, watched in the job by scheduler.orphan_watch).

Theory of operation. A live controller renews its lease every few seconds; a controller that
stopped, cleanly (the lease `released`) or not (killed, its node lost), renews nothing. A job
is orphaned when the latest sign of life (the lease's beat, the lease file's and the journal's
modification times, whichever is latest) is older than the grace, unless the controller is a
detached SLURM job (controller-job.json) that SLURM still holds queued or running: requeued,
it comes back and resumes the search. A controller restarted within the grace (the same
command run again) renews the lease before any job judges it gone, so it keeps its jobs.
The grace is measured on the job's clock against times written by the controller's host and
the file server: it must outlast their clock skew and NFS's attribute caching (a minute).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from orchestrator.common import layout

# the states in which SLURM still holds a detached controller's job: it runs, or will again
QUEUED_STATES = frozenset({"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED",
                           "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "SUSPENDED",
                           "SIGNALING", "STAGE_OUT", "PREEMPTED"})


def last_sign(holder: Mapping[str, Any], last_event_t: float) -> float:
    """The holder's latest sign of life: its beat (its start for a holder that never beat)
    or `last_event_t` (the journal's last entry or write), whichever is later."""
    beat = holder.get("beat", holder.get("since", 0.0))
    return max(float(beat) if isinstance(beat, (int, float)) else 0.0, last_event_t)


def orphaned(holder: Mapping[str, Any] | None, written_t: float, now: float, grace_s: float,
             detached_job: str | None, queued: Callable[[str], bool]) -> tuple[bool, str]:
    """Is a job of the search orphaned, and a line saying why (the rule: above). Pure: the
    caller brings the lease (None: none found), the latest modification time of the lease
    and the journal, the clock, the grace (0: never orphaned), the detached controller's
    SLURM job id (None: not detached) and how to ask whether that job is still queued."""
    if grace_s <= 0:
        return False, "no orphan watch (search.orphan_grace_s=0)"
    age = max(0.0, now - last_sign(holder or {}, written_t))
    seen = f"the controller's last sign of life was {age:.0f} s ago"
    if age <= grace_s:
        return False, f"{seen}, within search.orphan_grace_s={grace_s:g}"
    if detached_job and queued(detached_job):
        return False, f"{seen}, but its SLURM job {detached_job} is still queued or running"
    return True, (f"orphaned: {seen} (search.orphan_grace_s={grace_s:g}); the job ends "
                  "itself, running the same command again resumes from the last checkpoint")


def read_signs(search_dir: Path) -> tuple[dict[str, Any] | None, float, str | None]:
    """What `orphaned` reads in the search folder: the lease (None when unreadable), the
    latest modification time of the lease and the journal (0 when neither exists), and the
    detached controller's SLURM job id, if any."""
    holder = _json(layout.holder_path(search_dir))
    written = max((_mtime(p) for p in (layout.holder_path(search_dir),
                                       layout.journal_path(search_dir))), default=0.0)
    job = _json(layout.controller_job_path(search_dir))
    job_id = job.get("job_id") if job else None
    return holder, written, str(job_id) if job_id else None


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
