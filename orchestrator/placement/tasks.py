"""Evaluation tasks behind the Scheduler interface, so the controller treats them as jobs.

Theory of operation. With `infer.placement=worker|with_training` (orchestrator.decide.placement) an
evaluation attempt is a task posted to a work queue (orchestrator.placement.work_queue), not a job.
`Handoff` answers the Scheduler interface for tasks from the queue's files: submitting
posts the task, polling reads where each task is (posted: PENDING, claimed: RUNNING, done:
SUCCEEDED, failed: FAILED) and cancelling withdraws it. A task is LOST when its evaluator is
gone: claimed by a job that has ended, posted to a queue that no evaluator serves any more,
or its file gone; each only after LOST_GRACE_S on the controller's clock (UNKNOWN until
then: no change), since a shared file system may show the job's end before the evaluator's
last rename or result. A task this controller withdrew is CANCELLED at once: the unlink of
its posted file succeeded, so no evaluator had it (a claim is a rename of that file: one of
the two wins). A cancelled task found posted again (its evaluator, stopped, put its claim
back) is withdrawn again: cancels are sent until they take, as for jobs.
So the submission protocol (intent, id, recovery by key), the lifecycle
table, retries and the concurrency limits apply to tasks unchanged. `Placed` routes each
call: requests with a `queue` and ids with the task prefix go to the Handoff, everything
else to the scheduler; a poll makes one scheduler query for the jobs, as before, and reads
the queues for the tasks.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from orchestrator.common import causes
from orchestrator.common.causes import JobFailure
from orchestrator.config.settings import Placement, Settings
from orchestrator.decide import placement
from orchestrator.model.state import JobRecord, SearchState
from orchestrator.model.transitions import JobState
from orchestrator.placement.work_queue import (
    MISSING,
    TASK_PREFIX,
    Found,
    Task,
    Where,
    held_s,
    post,
    repost,
    snapshot,
    where,
    withdraw,
)
from orchestrator.scheduler.interface import (
    JobRef,
    JobRequest,
    Polled,
    Scheduler,
    pending_reasons,
    release_held,
    requeued_runs,
    task_held,
    task_runners,
)

_KEY = re.compile(r"^infer-t(\d+)-s(\d+)-a\d+$")
LOST_GRACE_S = 10.0


def is_task(job_id: str) -> bool:
    return job_id.startswith(TASK_PREFIX)


def done_by(job: JobRecord) -> str | None:
    """The id of the job that did an evaluation: a task's is its evaluator's job
    (journaled when the poll saw the claim; read from the queue when the result came
    first), a job's its own."""
    if not job.queue:
        return job.job_id
    return job.runner or where(Path(job.folder), job.key).runner or job.job_id


def task_of(request: JobRequest) -> Task:
    match = _KEY.match(request.key)
    assert match, f"not an evaluation's key: {request.key}"
    trial, step = int(match.group(1)), int(match.group(2))
    if request.command:
        return Task(request.key, trial, step, checkpoint="", result=request.output,
                    command=request.command)
    return Task(request.key, trial, step, checkpoint=request.spec.checkpoint,
                result=request.spec.result_path)


class Handoff:
    """The Scheduler interface's calls for evaluation tasks (their refs' folder: the queue)."""

    submit_settle_s = 0.0  # a post is one atomic write: it lands with the controller or never

    def __init__(self, serving: Callable[[str], bool], runner_ended: Callable[[str], bool],
                 runner_logs: Callable[[str], list[Path]],
                 clock: Callable[[], float] = time.monotonic,
                 runner_preempted: Callable[[str], bool] = lambda _: False,
                 cancel_requested: Callable[[str], bool] = lambda _: False) -> None:
        self.serving = serving
        self.cancel_requested = cancel_requested  # a task's key: the controller cancelled it
        self.runner_ended = runner_ended
        # an evaluator's job that ended through no fault of its own (preempted): its claims
        # go back to the queue (work_queue.repost), not lost as failures
        self.runner_preempted = runner_preempted
        self.runner_logs = runner_logs
        self.clock = clock
        self._lost_since: dict[str, float] = {}  # task id -> when it first looked lost
        self._withdrawn: set[str] = set()  # task ids whose posted file this process removed

    def submit(self, request: JobRequest) -> str:
        post(request.folder, task_of(request))
        return TASK_PREFIX + request.key

    def recover(self, request: JobRequest) -> str | None:
        found = where(request.folder, request.key)
        return None if found.where is Where.MISSING else TASK_PREFIX + request.key

    def poll(self, jobs: Sequence[JobRef]) -> Polled:
        snapshots: dict[Path, dict[str, Found]] = {}
        states, reasons, runners, held = {}, {}, {}, {}
        for ref in jobs:
            queue = snapshots.setdefault(ref.folder, snapshot(ref.folder))
            key = ref.job_id.removeprefix(TASK_PREFIX)
            found = queue.get(key, MISSING)
            if found.where is Where.CLAIMED and self.runner_preempted(found.runner) \
                    and repost(ref.folder, key, found.runner):
                found = Found(Where.POSTED)
            if found.where is Where.POSTED and self.cancel_requested(key) \
                    and self._withdraw(ref):  # put back by its stopped evaluator
                found = MISSING
            states[ref.job_id] = self._state(ref.job_id, ref.folder.name, found)
            if found.runner:
                runners[ref.job_id] = found.runner
            if states[ref.job_id] is JobState.PENDING:
                reasons[ref.job_id] = "waiting for an evaluator"
            if found.where in (Where.DONE, Where.FAILED):  # read once: an ended task is not
                held[ref.job_id] = held_s(ref.folder, key, found)  # polled again
        return Polled(states, reasons, runners, held)

    def _state(self, task_id: str, queue: str, found: Found) -> JobState:
        if found.where is Where.MISSING and task_id in self._withdrawn:
            return JobState.CANCELLED  # its file went by our hand, not lost
        if found.where is Where.POSTED:
            seen = JobState.PENDING if self.serving(queue) else JobState.LOST
        elif found.where is Where.CLAIMED:
            seen = JobState.LOST if self.runner_ended(found.runner) else JobState.RUNNING
        else:
            seen = {Where.DONE: JobState.SUCCEEDED, Where.FAILED: JobState.FAILED}.get(
                found.where, JobState.LOST)
        if seen is not JobState.LOST:
            self._lost_since.pop(task_id, None)
            return seen
        first = self._lost_since.setdefault(task_id, self.clock())
        return seen if self.clock() - first >= LOST_GRACE_S else JobState.UNKNOWN

    def cancel(self, jobs: Sequence[JobRef]) -> None:
        for ref in jobs:
            self._withdraw(ref)

    def _withdraw(self, ref: JobRef) -> bool:
        """Take the task back; True when this call removed its posted file."""
        if not withdraw(ref.folder, ref.job_id.removeprefix(TASK_PREFIX)):
            return False
        self._withdrawn.add(ref.job_id)
        return True

    def failure(self, ref: JobRef) -> JobFailure:
        found = where(ref.folder, ref.job_id.removeprefix(TASK_PREFIX))
        if found.where is Where.FAILED:
            return JobFailure(found.cause, found.reason)
        if found.where is Where.CLAIMED:
            return JobFailure(causes.OTHER, f"its evaluator (job {found.runner}) ended while "
                                            "evaluating it")
        if found.where is Where.POSTED:
            return JobFailure(causes.OTHER, f"no evaluator serves the {ref.folder.name} queue "
                                            "any more")
        return JobFailure(causes.OTHER, f"its task file left {ref.folder} unfinished")

    def log_paths(self, ref: JobRef) -> list[Path]:
        runner = where(ref.folder, ref.job_id.removeprefix(TASK_PREFIX)).runner
        return self.runner_logs(runner) if runner else []


class Placed:
    """The Scheduler the controller uses under a placement with tasks: jobs to `jobs`,
    tasks to `tasks`."""

    def __init__(self, jobs: Scheduler, tasks: Handoff) -> None:
        self.jobs, self.tasks = jobs, tasks
        self.submit_settle_s = jobs.submit_settle_s

    def submit(self, request: JobRequest) -> str:
        return (self.tasks if request.queue else self.jobs).submit(request)

    def recover(self, request: JobRequest) -> str | None:
        return (self.tasks if request.queue else self.jobs).recover(request)

    def poll(self, jobs: Sequence[JobRef]) -> Mapping[str, JobState]:
        tasks = [ref for ref in jobs if is_task(ref.job_id)]
        real = [ref for ref in jobs if not is_task(ref.job_id)]
        observed = self.jobs.poll(real)  # even with none: SLURM sends cancels again in it
        seen = self.tasks.poll(tasks)
        return Polled({**observed, **seen}, {**pending_reasons(observed), **seen.reasons},
                      {**task_runners(observed), **seen.runners},
                      {**task_held(observed), **seen.held}, requeued_runs(observed))

    def cancel(self, jobs: Sequence[JobRef]) -> None:
        tasks = [ref for ref in jobs if is_task(ref.job_id)]
        real = [ref for ref in jobs if not is_task(ref.job_id)]
        if tasks:
            self.tasks.cancel(tasks)
        if real:
            self.jobs.cancel(real)

    def release(self, jobs: Sequence[JobRef]) -> None:
        release_held(self.jobs, [ref for ref in jobs if not is_task(ref.job_id)])

    def failure(self, job: JobRef) -> JobFailure:
        return (self.tasks if is_task(job.job_id) else self.jobs).failure(job)

    def log_paths(self, job: JobRef) -> list[Path]:
        return (self.tasks if is_task(job.job_id) else self.jobs).log_paths(job)

    def render(self, request: JobRequest) -> str:
        return self.jobs.render(request)


def placed(settings: Settings, scheduler: Scheduler, state: SearchState,
           clock: Callable[[], float] = time.monotonic) -> Scheduler:
    """The scheduler the controller uses: `scheduler` itself under infer.placement=job,
    unless the journal has tasks (a rerun that changed the placement)."""
    if settings.infer.placement == Placement.JOB and not any(j.queue for j in state.jobs.values()):
        return scheduler

    def runner_logs(runner: str) -> list[Path]:
        jobs = [j for j in state.jobs.values() if j.job_id == runner and not j.queue]
        return scheduler.log_paths(jobs[-1].ref) if jobs else []

    tasks = Handoff(serving=lambda queue: placement.serving(state, settings, queue),
                    runner_ended=lambda runner: placement.runner_ended(state, runner),
                    runner_logs=runner_logs, clock=clock,
                    runner_preempted=lambda runner: placement.runner_preempted(state, runner),
                    cancel_requested=lambda key: key in state.jobs
                    and state.jobs[key].cancel_requested)
    return Placed(scheduler, tasks)
