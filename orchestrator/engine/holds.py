"""Acting on held jobs (decide.holds says which): release them, then replace them.

Each step is journaled before it is done. A release is asked of the scheduler's optional
`release` (scheduler.interface.release_held; SLURM's `scontrol release`): a backend without
holds never has a held job. A replacement is journaled as the job's end, REPLACED, with
the reason; the controller's poll then cancels it (a REQUEUABLE_END: cancels are sent again
until the scheduler shows it ended) and the observer journals its cause, `held`, which the
policy retries without counting it, as a preempted attempt.
"""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.config.settings import SearchSettings
from orchestrator.decide.holds import holds_due
from orchestrator.model import events
from orchestrator.model.events import Event
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import JobState
from orchestrator.scheduler import Scheduler
from orchestrator.scheduler.interface import release_held


class HeldJobs:
    def __init__(self, search: SearchSettings, scheduler: Scheduler, state: SearchState,
                 record: Callable[[Event], Event], wall: Callable[[], float]) -> None:
        self.grace_s, self.scheduler, self.state = search.held_grace_s, scheduler, state
        self.record, self.wall = record, wall

    def tick(self) -> None:
        """After a poll: replace the jobs still held since their release, release those
        held past the grace."""
        now = self.wall()
        due = holds_due(self.state, self.grace_s, now)
        for job in due.replace:
            assert job.job_id is not None and job.held_since is not None
            self.record(events.JobStateChanged(
                key=job.key, job_id=job.job_id, state=JobState.REPLACED, reason=(
                    f"held {now - job.held_since:.0f} s ({job.reason}) and still held after "
                    "the controller asked to release it: cancelled, a new attempt replaces it")))
        for job in due.release:
            assert job.job_id is not None and job.held_since is not None
            self.record(events.JobReleased(key=job.key, job_id=job.job_id,
                                           held_s=now - job.held_since, reason=job.reason))
        if due.release:
            release_held(self.scheduler, [job.ref for job in due.release])
