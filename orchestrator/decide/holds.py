"""Held jobs: which to release and which to replace (pure).

A job the scheduler holds (SLURM: `scontrol requeuehold`, an admin's hold, a prolog that
failed) waits for someone to release it: forever, for an unattended search. Past
`search.held_grace_s` from the first poll that saw it held (journaled, so a resumed
controller keeps counting) it is released once; still held at a later poll (a hold the
user cannot release, such as an admin's), it is replaced: ended by the controller and
retried freely (cause `held`), as a preempted attempt is.
"""

from __future__ import annotations

from typing import NamedTuple

from orchestrator.model.state import JobRecord, SearchState


class Holds(NamedTuple):
    release: list[JobRecord]  # held past the grace, not yet released this hold
    replace: list[JobRecord]  # released at an earlier poll, and still held


def holds_due(state: SearchState, grace_s: float, now: float) -> Holds:
    """What to do now (wall clock `now`) about the live jobs the last poll saw held; a
    grace of 0 waits for every hold to be released by someone else."""
    release: list[JobRecord] = []
    replace: list[JobRecord] = []
    for job in state.live_jobs():
        if grace_s <= 0 or not job.held or job.cancel_requested or job.held_since is None:
            continue
        if job.released_t is not None:
            replace.append(job)
        elif now - job.held_since >= grace_s:
            release.append(job)
    return Holds(release, replace)

