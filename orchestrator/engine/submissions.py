"""Submitting jobs so that none is ever lost or doubled, whatever kills the controller.

Theory of operation. A submission journals its intent (`submit_intent`, with the job's
key and the scheduler name derived from it), submits, then journals the job id
(`submitted`). An intent without an id is open: a kill came between the two, or the
scheduler did not answer. Before anything new is submitted, every open intent is settled:
the scheduler is asked for a job of that name (`Scheduler.recover`); found, its id is
journaled; not found, the work is submitted now, or abandoned when its trial or the search
has ended meanwhile.

Two waits guard the settling. While the scheduler does not answer (SchedulerUnavailable)
nothing is submitted; it is asked again after a back-off that doubles from
`executor.poll_interval_s` up to `executor.max_poll_interval_s`. And an intent a killed
controller left is not submitted afresh until `Scheduler.submit_settle_s` has passed since
it was journaled: kill -9 spares the sbatch it was running, whose job may reach the
scheduler after this controller first looked for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchestrator.config.settings import Settings
from orchestrator.decide import placement
from orchestrator.engine import job_requests
from orchestrator.errors import SchedulerUnavailable, SubmitLimited
from orchestrator.model import events
from orchestrator.model.events import Event
from orchestrator.model.state import JobRecord, SearchState, TrialRecord
from orchestrator.model.transitions import JobKind
from orchestrator.scheduler import JobRequest, Scheduler

Record = Callable[[Event], Event]  # the controller's record: journal, then apply
RecordAll = Callable[[list[Event]], list[Event]]  # the same for a batch: one write, one fsync


class _NotYet(Exception):
    """A submission a killed controller left open is not found yet, but may still appear."""

    def __init__(self, until: float) -> None:
        super().__init__(until)
        self.until = until


class Submissions:
    def __init__(self, settings: Settings, scheduler: Scheduler, state: SearchState,
                 record: Record, clock: Callable[[], float],
                 submitted: Callable[[], None], record_all: RecordAll | None = None) -> None:
        self.settings = settings
        self.record_all = record_all or (lambda batch: [record(event) for event in batch])
        # inside `batch`: the submissions asked for so far, made when it closes
        self._queued: list[tuple[JobRequest, events.SubmitIntent]] | None = None
        self.submitted = submitted  # told of each job submitted (to see it start soon)
        self.search_dir = Path(settings.search.dir)
        self.scheduler = scheduler
        self.state = state
        self.record = record
        self.clock = clock
        # while the scheduler does not answer: when to try again, and how long to wait
        # after that (doubling up to max_poll_interval_s)
        self.retry_at: float | None = None
        self._backoff = settings.executor.poll_interval_s
        # intents a killed controller left open, by key: until when (our clock) a job not
        # found yet may still appear, and when to look again
        self._settle_until: dict[str, float] = {}
        self.look_again_at: float | None = None

    def expect_late(self) -> None:
        """On resume: an open intent's job may still appear until submit_settle_s after
        the killed controller's sbatch for it began. A batch journals its intents together,
        then runs sbatch after sbatch, so that began at the intent's time at the earliest
        and at the kill at the latest, which the journal does not record: so the whole
        settle time from now (a resume with open intents waits up to that once)."""
        until = self.clock() + self.scheduler.submit_settle_s
        self._settle_until = {j.key: until for j in self.state.open_intents()}

    def train(self, trial: TrialRecord, attempt: int, overrides: dict[str, Any]) -> None:
        """Submit a training attempt with these train settings overridden."""
        request = job_requests.train_request(self.settings, self.search_dir, trial.trial,
                                             trial.seed, attempt, overrides)
        self._submit(request, trial.trial, None, attempt, overrides)

    def infer(self, trial: TrialRecord, step: int) -> None:
        """Submit an evaluation of the trial's checkpoint at `step`: a job, or a task for a
        long-lived evaluator (orchestrator.decide.placement)."""
        attempt = self.state.next_attempt(JobKind.INFER, trial.trial, step)
        queue = placement.queue_for(self.state, self.settings, trial.trial,
                                    self.state.attempts(JobKind.INFER, trial.trial, step))
        request = job_requests.infer_request(self.settings, self.search_dir, trial.trial, step,
                                             trial.checkpoints[step], attempt, trial.params,
                                             queue, self.state.rewrite(trial.trial, step))
        self._submit(request, trial.trial, step, attempt, {})

    def workers(self) -> None:
        """Submit the worker jobs placement=worker wants now (orchestrator.decide.placement)."""
        for slot, attempt in placement.workers_due(self.state, self.settings):
            request = job_requests.worker_request(self.settings, self.search_dir, slot, attempt)
            self._submit(request, placement.WORKER_TRIAL, slot, attempt, {})

    def _submit(self, request: JobRequest, trial: int, step: int | None, attempt: int,
                overrides: dict[str, Any]) -> None:
        """Intent, submission, job id (inside `batch`: when it closes). When the
        scheduler does not answer, the intent stays open: `settle` completes it."""
        intent = events.SubmitIntent(
            key=request.key, kind=request.kind, trial=trial, step=step, attempt=attempt,
            folder=str(request.folder), name=request.name, overrides=overrides,
            queue=request.queue)
        if self._queued is not None:
            self._queued.append((request, intent))
        else:
            self._make([(request, intent)])

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The submissions asked for inside are made when it closes: their intents journaled
        as ONE write (one fsync), then submitted, then their ids as one more, not two fsyncs
        each (issue 25: a tick's burst). A kill between leaves open intents, which `settle`
        completes as it does one: found by name, or submitted. Nothing inside may depend on
        the state its own submissions change (they are applied when it closes)."""
        self._queued = []
        try:
            yield
        finally:
            queued, self._queued = self._queued, None
        self._make(queued)

    def _make(self, queued: list[tuple[JobRequest, events.SubmitIntent]]) -> None:
        self.record_all([intent for _, intent in queued])
        made: list[Event] = []
        try:
            for request, _ in queued:
                try:
                    made.append(events.Submitted(key=request.key,
                                                 job_id=self.scheduler.submit(request)))
                except SchedulerUnavailable as exc:
                    self._unavailable(exc)
        finally:  # whatever stops the loop, the ids already given are journaled
            self.record_all(made)
        for _ in made:
            self.submitted()

    def settle(self) -> bool:
        """Complete every submission journaled as intended but not as made (a kill, or a
        scheduler that did not answer); False while the scheduler still does not answer or
        a killed controller's submission may still appear."""
        if self.retry_at is not None and self.clock() < self.retry_at:
            return False
        if self.look_again_at is not None and self.clock() < self.look_again_at:
            return False
        self.look_again_at = None
        for job in self.state.open_intents():
            try:
                self._complete(job)
            except SchedulerUnavailable as exc:
                self._unavailable(exc)
                return False
            except _NotYet as wait:
                self.look_again_at = wait.until
                return False
        if self.retry_at is not None:
            self.retry_at = None
            self._backoff = self.settings.executor.poll_interval_s
            self.record(events.SchedulerUp())
        return True

    def settle_all(self, sleep: Callable[[float], None]) -> None:
        """At the finish: settle at once (no back-off), waiting out a late submission, so
        that one made but not journaled is found, then cancelled."""
        self.retry_at = None
        while not self.settle() and self.look_again_at is not None:
            sleep(max(self.look_again_at - self.clock(), 0.0))

    def _unavailable(self, exc: SchedulerUnavailable) -> None:
        if self.retry_at is None:
            self.record(events.SchedulerDown(reason=str(exc),
                                             limit=isinstance(exc, SubmitLimited)))
        self.retry_at = self.clock() + self._backoff
        self._backoff = min(self._backoff * 2,
                            max(self.settings.executor.max_poll_interval_s, 1.0))

    def _complete(self, job: JobRecord) -> None:
        """A submission journaled as intended but not as done: find it, or make it now."""
        request = self.request_for(job)
        job_id = self.scheduler.recover(request)
        if job_id is not None:
            self.record(events.Submitted(key=job.key, job_id=job_id, recovered=True))
            return
        until = self._settle_until.pop(job.key, None)
        if until is not None and self.clock() < until:
            self._settle_until[job.key] = until
            raise _NotYet(until)  # the killed controller's sbatch may still land: look again
        trial = self.state.trials.get(job.trial)  # none for a worker: it serves them all
        if (trial is not None and trial.ended is not None) or self.state.finished is not None:
            self.record(events.Submitted(key=job.key, job_id=None, abandoned=True))
            return
        self.record(events.Submitted(key=job.key, job_id=self.scheduler.submit(request)))

    def request_for(self, job: JobRecord) -> JobRequest:
        """The request of a journaled job, rebuilt from the settings and the journal."""
        if job.kind == JobKind.WORKER:
            assert job.step is not None
            return job_requests.worker_request(self.settings, self.search_dir, job.step,
                                               job.attempt)
        trial = self.state.trials[job.trial]
        if job.kind == JobKind.TRAIN:
            return job_requests.train_request(self.settings, self.search_dir, job.trial,
                                              trial.seed, job.attempt, job.overrides)
        assert job.step is not None
        return job_requests.infer_request(self.settings, self.search_dir, job.trial, job.step,
                                          trial.checkpoints[job.step], job.attempt,
                                          trial.params, job.queue,
                                          self.state.rewrite(job.trial, job.step))
