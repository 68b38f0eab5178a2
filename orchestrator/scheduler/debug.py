"""The debug backend: the job runs in this process, lazily, the first time it is polled.

When stdin is not a terminal the job's exception is captured instead of opening pdb, so an
unattended run cannot hang. A debug job lives only in the process that submitted it: a
fresh controller finds it LOST and submits it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import submitit

from orchestrator.common import failures
from orchestrator.common.causes import JobFailure
from orchestrator.model.transitions import JobState
from orchestrator.scheduler.interface import JobRef, JobRequest
from orchestrator.scheduler.submitit_jobs import SubmititBackend, describe, in_job_call


class DebugScheduler(SubmititBackend):
    """The `Scheduler` interface on submitit's DebugExecutor."""

    def __init__(self, interactive: bool | None = None) -> None:
        super().__init__(interactive)
        self._outcomes: dict[str, BaseException | None] = {}  # ran: its exception or None

    def executor(self, request: JobRequest, create: bool = True) -> submitit.Executor:
        if create:
            request.folder.mkdir(parents=True, exist_ok=True)
        return submitit.DebugExecutor(folder=request.folder)

    def job_callable(self, request: JobRequest) -> tuple[Any, tuple[Any, ...]]:
        return in_job_call(request)  # one process: no torch.distributed variables to set

    def render(self, request: JobRequest) -> str:
        return f"# executor=debug: no sbatch script; runs {describe(request)} in this process\n"

    def recover(self, request: JobRequest) -> str | None:
        return None  # debug jobs live in the process that submitted them

    def poll(self, jobs: Sequence[JobRef]) -> dict[str, JobState]:
        return {ref.job_id: self._state(ref) for ref in jobs}

    def _state(self, ref: JobRef) -> JobState:
        job = self._live.get(ref.job_id)
        if job is None:
            return JobState.LOST  # submitted by an earlier process: nothing to re-attach to
        if job.cancelled:
            return JobState.CANCELLED
        if ref.job_id not in self._outcomes:
            self._outcomes[ref.job_id] = self._run(job)
        return JobState.FAILED if self._outcomes[ref.job_id] else JobState.SUCCEEDED

    def _run(self, job: Any) -> BaseException | None:
        if self.interactive:
            try:
                job.result()  # opens pdb post mortem on an exception, for a person to step
            except Exception as exc:
                return exc
            return None
        error: BaseException | None = job.exception()  # runs the job without pdb
        return error

    def cancel(self, jobs: Sequence[JobRef]) -> None:
        for ref in jobs:
            job = self._live.get(ref.job_id)
            if job is not None:
                job.cancel()

    def failure(self, ref: JobRef) -> JobFailure:
        error = self._outcomes.get(ref.job_id)
        if error is not None:  # the exception itself: classified as the job would have
            return failures.classify(error)
        return super().failure(ref)
