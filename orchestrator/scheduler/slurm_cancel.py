"""Cancels that are asked again until SLURM shows the job ended.

Theory of operation. One `scancel` is not enough: it fails while slurmctld does not answer,
and a job that SLURM requeues under its id (NODE_FAIL with JobRequeue, preemption under
PreemptMode=REQUEUE) comes back after it was cancelled. A pruned trial's job would then hold
its GPUs until the search ends, or run beside its own retry in the same folder. So every job
the controller asks to end is kept here until a poll shows it ended for good, and its cancel
is sent again: at the next poll when the last send failed, else every RESEND_S while SLURM
still shows it live. The controller journals each cancel before asking: a resumed controller
asks again for every journaled one, which fills this anew (it lives in one process).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from orchestrator.model.transitions import JobState
from orchestrator.scheduler.interface import JobRef

# how long a job SLURM still shows live after its cancel was sent waits before it is sent
# again: a cancelled job stays COMPLETING for KillWait (30 s by default) and its epilog
RESEND_S = 60.0


class Cancels:
    """The jobs asked to end that SLURM has not shown ended yet, and when each was sent."""

    def __init__(self) -> None:
        self._asked: dict[str, JobRef] = {}
        self._sent_at: dict[str, float] = {}  # a job absent here: its last send failed

    def ask(self, jobs: Sequence[JobRef]) -> None:
        for ref in jobs:
            self._asked[ref.job_id] = ref
            self._sent_at.pop(ref.job_id, None)

    def sent(self, jobs: Sequence[JobRef], now: float) -> None:
        self._sent_at.update((ref.job_id, now) for ref in jobs if ref.job_id in self._asked)

    def asked(self) -> list[JobRef]:
        return list(self._asked.values())

    def unsent(self) -> list[JobRef]:
        return [ref for job_id, ref in self._asked.items() if job_id not in self._sent_at]

    def due(self, seen: Mapping[str, JobState], now: float) -> list[JobRef]:
        """Forget the jobs `seen` shows ended; the others whose cancel is to be sent again
        now (a job sacct has no row for yet, UNKNOWN, is not ended)."""
        for job_id, state in seen.items():
            if job_id in self._asked and state.terminal:
                del self._asked[job_id]
                self._sent_at.pop(job_id, None)
        return [ref for job_id, ref in self._asked.items()
                if now - self._sent_at.get(job_id, -RESEND_S) >= RESEND_S]
