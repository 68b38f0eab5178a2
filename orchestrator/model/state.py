"""What the controller knows: a fold of the journal's events, and nothing else.

Theory of operation: `SearchState.apply` is the only writer of this state and it takes one
journal event at a time, so replaying the journal of a killed controller rebuilds what it
knew, byte for byte. The controller appends an event to the journal first and applies it
second. `apply` is an explicit fold: one `case` per event class (orchestrator.model.events), and
a kind without one is an error, never skipped. How a trial, its training and the search end
moves only through the tables of model.transitions. What a tick asks of thousands of jobs
and checkpoints (what is live, failed, unevaluated, unmeasured) is kept as indexes by the
handlers, checked against full scans in tests; the rest is derived (`memo`: once a version).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from orchestrator.errors import JournalCorrupt
from orchestrator.model.events import (
    Cancel,
    CancelRequested,
    Checkpoint,
    CheckpointSized,
    CodeSnapshot,
    Deleted,
    DeleteIntent,
    DeleteRefused,
    Evaluation,
    Event,
    Heartbeat,
    JobFailed,
    JobReleased,
    JobStateChanged,
    Notified,
    Plan,
    Promoted,
    PromoteFailed,
    Resumed,
    SchedulerDown,
    SchedulerUp,
    SearchEnded,
    SearchExtended,
    SearchStarted,
    SubmitIntent,
    Submitted,
    TrainingEnded,
    TrialEnded,
    TrialStarted,
)
from orchestrator.model.ledger import Disk
from orchestrator.model.memo import Memo
from orchestrator.model.records import EvalRecord as EvalRecord
from orchestrator.model.records import JobRecord as JobRecord
from orchestrator.model.records import TrialRecord as TrialRecord
from orchestrator.model.transitions import (
    FAILURES,
    REQUEUABLE_ENDS,
    SEARCH,
    TRAINING,
    TRIAL,
    IllegalMove,
    JobKind,
    JobState,
    SearchStatus,
    move,
)

T = TypeVar("T")


@dataclass
class SearchState:
    started: SearchStarted | None = None
    trials: dict[int, TrialRecord] = field(default_factory=dict)
    jobs: dict[str, JobRecord] = field(default_factory=dict)
    evaluations: dict[tuple[int, int], EvalRecord] = field(default_factory=dict)
    # evaluations of checkpoints a later training run wrote again: kept apart, for people;
    # nothing decides on them (the stop rule, retention and best/ read `evaluations`)
    superseded: list[EvalRecord] = field(default_factory=list)
    finished: SearchEnded | None = None
    promoted: Promoted | None = None
    promote_error: str = ""
    resumes: int = 0
    # why new submissions wait (a scheduler that does not answer, a limit on queued jobs),
    # from the last scheduler_unavailable; None once the scheduler takes them again
    submissions_wait: SchedulerDown | None = None
    # the latest settings: search_started's, or the last search_extended's (a rerun with new
    # settings: a new target, more trials); the stop rule, status and summary use these
    current: SearchStarted | SearchExtended | None = None
    extensions: int = 0
    # (kind, trial, step) -> its jobs, oldest attempt first: the poll loop asks this for
    # every checkpoint on every tick, so it must not scan every job
    _by_work: dict[tuple[str, int, int | None], list[JobRecord]] = field(default_factory=dict)
    # how many of them were for a checkpoint since written again: not its attempts any more
    _retired: dict[tuple[str, int, int | None], int] = field(default_factory=dict)
    disk: Disk = field(default_factory=Disk)  # retention: checkpoint sizes and deletions
    # trial -> step -> its evaluation, the same records as `evaluations`: the stop rule asks
    # for each active trial's results every tick, so that must not scan every evaluation
    _by_trial: dict[int, dict[int, EvalRecord]] = field(default_factory=dict)
    # key -> the job's place among `jobs`, of the live jobs only: asked several times a
    # tick, so that must not scan every job a long search ever ran (issue 25)
    _live: dict[str, int] = field(default_factory=dict)
    # the work whose last attempt failed, and the trials with no training attempt yet: all
    # that the policy's retries and give-ups act on (issue 25: not every trial each tick)
    _failed: set[tuple[str, int, int | None]] = field(default_factory=set)
    _untrained: set[int] = field(default_factory=set)
    # trial -> its checkpoints without an evaluation, and the checkpoints neither measured
    # nor deleted: what the tick's reads, evaluations and retention look at (issue 25)
    _unevaluated: dict[int, set[int]] = field(default_factory=dict)
    _unsized: set[tuple[int, int]] = field(default_factory=set)
    # events applied so far: a query derived from the state alone is computed once per
    # version (`memo`), however often a tick asks it
    version: int = 0
    _memo: Memo = field(default_factory=Memo, compare=False, repr=False)

    @classmethod
    def replay(cls, events: Iterable[Event]) -> SearchState:
        state = cls()
        for number, event in enumerate(events, start=1):
            try:
                state.apply(event)
            except IllegalMove as exc:
                raise JournalCorrupt(
                    f"the journal's event {number} ({event.event}): {exc}, which no controller "
                    "journals; the journal was edited: repair it, or move the whole search.dir "
                    "aside to start afresh") from exc
        return state

    @property
    def status(self) -> SearchStatus:
        return self.finished.status if self.finished is not None else SearchStatus.RUNNING

    def apply(self, e: Event) -> None:
        """The fold: one handler per kind of event. IllegalMove when an end or a status
        moves where its table (orchestrator.model.transitions) forbids."""
        self.version += 1
        match e:
            case SearchStarted():
                self.started = self.current = e
            case SearchExtended():
                self._extended(e)
            case Resumed():
                if self.finished is None:  # rerunning a finished search resumes nothing
                    self.resumes += 1
            case SchedulerDown() | SchedulerUp():
                self.submissions_wait = e if isinstance(e, SchedulerDown) else None
            case Heartbeat() | CancelRequested() | Notified() | CodeSnapshot():
                pass  # for people, `status`, and readers of the journal itself (cancelling, notify)
            case TrialStarted():
                self._trial_started(e)
            case SubmitIntent():
                self._intended(e)
            case Submitted():
                self._submitted(e)
            case JobStateChanged():
                self._job_state(e)
            case JobFailed() | JobReleased():
                self._job_fact(e)
            case Cancel():
                self._cancel_requested(e)
            case Checkpoint():
                self._checkpoint(e)
            case Plan():
                self._plan(e)
            case TrainingEnded():
                self._training_ended(e)
            case Evaluation():
                self._evaluated(e)
            case TrialEnded():
                self._trial_ended(e)
            case SearchEnded():
                move(SEARCH, "the search", self.status, e.status)
                self.finished = e
            case Promoted():
                self.promoted = e
            case PromoteFailed():
                self.promote_error = e.reason
            case CheckpointSized() | DeleteIntent() | Deleted() | DeleteRefused():
                self.disk.apply(e)
                self._index_unsized((e.trial, e.step))
            case _:
                raise TypeError(f"SearchState has no handler for the event {e.event!r}")

    # ------------------------------------------------------------------ event handlers
    def _cancel_requested(self, e: Cancel) -> None:
        for key in e.keys:
            self.jobs[key].cancel_requested = True

    def _extended(self, e: SearchExtended) -> None:
        # reopens an ended search: its end and its best/ are decided again under the new
        # settings; ended trials stay ended, re-judged by `trial_ended` events that follow
        if self.finished is not None:
            move(SEARCH, "the search", self.status, SearchStatus.RUNNING)
        self.current = e
        self.extensions += 1
        self.finished = self.promoted = None
        self.promote_error = ""

    def _trial_started(self, e: TrialStarted) -> None:
        if e.trial in self.trials:  # started again: only an edited journal says so
            self._unevaluated.pop(e.trial, None)
            self._unsized -= {key for key in self._unsized if key[0] == e.trial}
        self.trials[e.trial] = TrialRecord(e.trial, e.seed, e.output_dir, params=dict(e.params),
                                           sampler_trial=e.sampler_trial)
        self._untrained.add(e.trial)

    def _intended(self, e: SubmitIntent) -> None:
        job = JobRecord(e.key, e.kind, e.trial, e.step, e.attempt, e.folder, e.name,
                        overrides=dict(e.overrides), intent_t=e.t, queue=e.queue,
                        order=self.jobs[e.key].order if e.key in self.jobs else len(self.jobs))
        self.jobs[e.key] = job
        self._index_live(job)
        work = self._by_work.setdefault((job.kind, job.trial, job.step), [])
        work.append(job)
        work.sort(key=lambda j: j.attempt)
        self._index_failed((job.kind, job.trial, job.step))
        if job.kind == JobKind.TRAIN:
            self._untrained.discard(job.trial)

    def _submitted(self, e: Submitted) -> None:
        job = self.jobs[e.key]
        job.job_id, job.submitted_t, job.abandoned = e.job_id, e.t, e.abandoned
        self._index_live(job)

    def _job_state(self, e: JobStateChanged) -> None:
        job = self.jobs[e.key]
        job.state = e.state
        job.reason = e.reason
        job.runner = e.runner or job.runner
        job.held_s = e.held_s or job.held_s
        job.requeues += [e.requeued] if e.requeued else []
        if job.held:
            job.held_since = job.held_since if job.held_since is not None else e.t
        elif job.state is not JobState.PENDING or e.reason:
            # running again, or waiting for something else (released); a PENDING without a
            # reason is a reason not known this poll (squeue failed), not a release
            job.held_since = job.released_t = None
        if job.state is JobState.RUNNING and job.running_t is None:
            job.running_t = e.t
        if job.state.terminal:
            job.ended_t = e.t
        self._index_live(job)
        self._index_failed((job.kind, job.trial, job.step))

    def _index_failed(self, work: tuple[str, int, int | None]) -> None:
        last = self.last_attempt(*work)
        if last is not None and last.state in FAILURES:
            self._failed.add(work)
        else:
            self._failed.discard(work)

    def _index_live(self, job: JobRecord) -> None:
        if job.live:
            self._live.setdefault(job.key, job.order)
        else:
            self._live.pop(job.key, None)

    def _job_fact(self, e: JobFailed | JobReleased) -> None:
        job = self.jobs[e.key]
        if isinstance(e, JobReleased):
            job.released_t = e.t  # a hold not lifted by the next poll is replaced
        else:
            job.cause, job.failure = e.cause, e.reason

    def _training_ended(self, e: TrainingEnded) -> None:
        trial = self.trials[e.trial]
        trial.training = move(TRAINING, f"trial {e.trial}'s training", trial.training,
                              e.outcome)
        trial.training_reason = e.reason

    def _plan(self, e: Plan) -> None:
        trial = self.trials[e.trial]
        trial.max_steps, trial.run = e.max_steps, e.run or trial.run

    def _checkpoint(self, e: Checkpoint) -> None:
        trial = self.trials[e.trial]
        if e.step in trial.checkpoints and trial.runs.get(e.step, "") != e.run:
            # written again by a later run: a new checkpoint, evaluated, kept and measured
            # anew; the old one's evaluation and jobs stay apart from it
            trial.rewrites[e.step] = trial.rewrites.get(e.step, 0) + 1
            old = self.evaluations.pop((e.trial, e.step), None)
            self._by_trial.get(e.trial, {}).pop(e.step, None)
            if old is not None:
                self.superseded.append(old)
            work = (JobKind.INFER.value, e.trial, e.step)
            self._retired[work] = len(self._by_work.get(work, ()))
            self._index_failed(work)
            self.disk.forget((e.trial, e.step))
        trial.checkpoints[e.step], trial.runs[e.step] = e.path, e.run
        if (e.trial, e.step) not in self.evaluations:
            self._unevaluated.setdefault(e.trial, set()).add(e.step)
        self._index_unsized((e.trial, e.step))

    def _index_unsized(self, key: tuple[int, int]) -> None:
        trial = self.trials.get(key[0])
        held = trial is not None and key[1] in trial.checkpoints
        if held and key not in self.disk.sizes and not self.disk.gone(key):
            self._unsized.add(key)
        else:
            self._unsized.discard(key)

    def _evaluated(self, e: Evaluation) -> None:
        record = EvalRecord(e.trial, e.step, e.value, e.job_id, e.checkpoint, e.result,
                            e.error, list(e.logs), e.split, dict(e.metrics))
        self.evaluations[(e.trial, e.step)] = record
        self._by_trial.setdefault(e.trial, {})[e.step] = record
        self._unevaluated.get(e.trial, set()).discard(e.step)

    def _trial_ended(self, e: TrialEnded) -> None:
        trial = self.trials[e.trial]
        trial.ended = move(TRIAL, f"trial {e.trial}", trial.ended, e.how)
        trial.ended_step, trial.ended_reason = e.step, e.reason

    # ------------------------------------------------------------------ queries
    def memo(self, name: str, compute: Callable[[], T]) -> T:
        """`compute()`, a function of this state alone, once per `version` (model.memo).
        What it returns is shared: callers must not change it."""
        return self._memo.get(self.version, name, compute)

    def live_jobs(self) -> list[JobRecord]:
        """The live jobs, in the order they were intended (as a scan of `jobs` finds them)."""
        live = self._live
        return list(self.memo("live_jobs", lambda: tuple(
            self.jobs[key] for key in sorted(live, key=live.__getitem__))))

    def unevaluated(self, trial: int) -> list[int]:
        """The trial's checkpoint steps without an evaluation, in step order."""
        return sorted(self._unevaluated.get(trial, ()))

    def unsized(self) -> list[tuple[int, int]]:
        """The checkpoints not measured yet and not deleted (retention measures them)."""
        return sorted(self._unsized)

    def cancelled_may_run(self) -> list[JobRecord]:
        """The jobs asked to end that may still run: live, or ended in a way the scheduler
        may undo (SLURM requeues NODE_FAIL'd and preempted jobs under their id)."""
        return [job for job in self.jobs.values() if job.cancel_requested and job.job_id
                and (job.live or job.state in REQUEUABLE_ENDS)]

    def open_intents(self) -> list[JobRecord]:
        """Submissions journaled as intended, neither made nor abandoned yet."""
        return list(self.memo("open_intents", lambda: tuple(
            job for job in self.jobs.values() if job.job_id is None and not job.abandoned)))

    def attempts(self, kind: str, trial: int, step: int | None = None) -> list[JobRecord]:
        """The jobs for one piece of work, oldest attempt first (of a checkpoint written
        again: those since)."""
        work = (kind, trial, step)
        return list(self._by_work.get(work, ())[self._retired.get(work, 0):])

    def last_attempt(self, kind: str, trial: int, step: int | None = None) -> JobRecord | None:
        """`attempts(...)[-1]`, or None where there is none, without copying them."""
        work = (kind, trial, step)
        jobs = self._by_work.get(work)
        return jobs[-1] if jobs and len(jobs) > self._retired.get(work, 0) else None

    def failed_work(self) -> set[tuple[str, int, int | None]]:
        """(kind, trial, step) of each piece of work whose last attempt failed."""
        return set(self._failed)

    def untrained(self) -> set[int]:
        """The trials without any training attempt yet."""
        return set(self._untrained)

    def next_attempt(self, kind: str, trial: int, step: int | None = None) -> int:
        """The number of the next attempt at a piece of work: unique among all of its jobs,
        those for a checkpoint since written again included (job keys hold it)."""
        return len(self._by_work.get((kind, trial, step), ()))

    def rewrite(self, trial: int, step: int) -> int:
        """How often a later training run wrote this checkpoint again (its result's name)."""
        return self.trials[trial].rewrites.get(step, 0)

    def active_trials(self) -> list[TrialRecord]:
        return list(self.memo("active_trials", lambda: tuple(
            t for _, t in sorted(self.trials.items()) if t.ended is None)))

    def results(self, trial: int) -> dict[int, float | None]:
        return {step: e.value for step, e in self._by_trial.get(trial, {}).items()}

    def all_results(self) -> dict[tuple[int, int], float | None]:
        return {key: e.value for key, e in self.evaluations.items()}

    def best_value(self) -> float | None:
        """The best evaluated value so far under the search's mode (None: none yet)."""
        values = [v for v in self.all_results().values() if v is not None]
        if not values or self.current is None:
            return None
        return (min if self.settings()["search"]["mode"] == "min" else max)(values)

    def job_hours(self, now: float, trial: int | None = None) -> float:
        return sum(j.seconds(now) for j in self.jobs.values()
                   if trial is None or j.trial == trial) / 3600.0

    def settings(self) -> dict[str, Any]:
        """The latest settings (an extension's, else the start's)."""
        assert self.current is not None
        return self.current.settings
