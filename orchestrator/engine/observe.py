"""Observing: what the scheduler and the file system say, journaled as facts.

Theory of operation. The scheduler is asked about every live job in one batched query;
each change goes through the lifecycle table and is journaled as `job_state`, and a failed
attempt's cause, as the job reported it, is journaled once (`job_failed`) since what
follows depends on it. The file system is read for new complete checkpoints, the training
plan and inference results. A job's end can be seen before its last files are (shared file
systems cache "no such file" answers), so a file missing after its job ended is trusted
only after a grace period on the controller's clock. Training that succeeded or was
cancelled is journaled as `training_ended`, an evaluation whose job ended without a result
as an `evaluation` without a value. Nothing here decides: whether failed work is retried
or given up is `decide.policy`'s, asked in the controller's decide phase.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from orchestrator.common import causes, failures, layout
from orchestrator.common.causes import JobFailure
from orchestrator.common.checkpoints import complete_checkpoints, run_of
from orchestrator.common.fsutil import read_json
from orchestrator.config.settings import Settings
from orchestrator.decide.policy import trial_train
from orchestrator.engine.results import ResultError, evaluation_from_json, metric_from_text
from orchestrator.engine.scan_cadence import TrialScans, Unjudged
from orchestrator.model import events
from orchestrator.model.events import Event
from orchestrator.model.state import JobRecord, SearchState, TrialRecord
from orchestrator.model.transitions import (
    FAILURES,
    IllegalTransition,
    JobState,
    Training,
    as_seen_after_cancel,
    transition,
)
from orchestrator.placement.tasks import done_by
from orchestrator.scheduler import Scheduler
from orchestrator.scheduler.interface import (
    pending_reasons,
    requeued_runs,
    task_held,
    task_runners,
)

Record = Callable[[Event], Event]  # the controller's record: journal, then apply
RecordAll = Callable[[list[Event]], list[Event]]  # the same for a batch: one write, one fsync

RESULT_GRACE_S = 10.0
NEWS = (events.Checkpoint, events.Plan, events.Evaluation, events.JobStateChanged,
        events.JobFailed, events.TrainingEnded, events.TrialStarted)
FINAL_CHECKPOINT_GRACE_S = 30.0
FOREIGN_TRAIN_GRACE_S = 3.0  # users' scripts write no train_done.json to check against


def result_file(settings: Settings, trial: int, step: int, rewrite: int = 0) -> Path:
    search_dir = Path(settings.search.dir)
    if settings.infer.command:
        return layout.output_path(search_dir, trial, step, rewrite)
    return layout.result_path(search_dir, trial, step, rewrite)


def read_metric(settings: Settings, path: Path) -> tuple[float, dict[str, dict[str, float]]]:
    """The deciding split's metric, and every split's metrics (the report shows both)."""
    search = settings.search
    if settings.infer.command:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise ResultError(f"cannot read {path}: {exc.strerror}") from exc
        value = metric_from_text(text, settings.infer.metric_regex, str(path))
        # one number: the user's script decides what it scores; we record it as search.split
        return value, {search.split: {search.metric: value}}
    return evaluation_from_json(path, search.metric, search.split)


class Observer:
    def __init__(self, settings: Settings, scheduler: Scheduler, state: SearchState,
                 record: Record, clock: Callable[[], float],
                 scans: TrialScans | None = None, record_all: RecordAll | None = None) -> None:
        self.settings = settings
        self.scheduler = scheduler
        self.state = state
        self.record = record
        self.record_all = record_all or (lambda batch: [record(event) for event in batch])
        self.clock = clock
        self._missing_since: dict[str, float] = {}
        self._plans: dict[int, tuple[int, int, int]] = {}  # trial -> its plan.json as last read
        self._kept: dict[tuple[int, int], str] = {}  # checkpoint -> the run that kept it
        self.scans = scans or TrialScans(0.0, 0.0)  # none: every trial read every time
        self.unjudged = Unjudged()  # which trials the stop rule has news of (the controller's)

    def heard(self, event: Event) -> None:
        """A fact seen in the world is news of its trial (engine.scan_cadence): read soon,
        judged again. The controller's own acts (submissions, cancels) are not: what they
        bring about is seen as a job's state or a file."""
        if not isinstance(event, NEWS):
            return
        trial = getattr(event, "trial", None)
        if not isinstance(trial, int):  # a job's event: its trial's
            job = self.state.jobs.get(getattr(event, "key", None) or "")
            trial = job.trial if job is not None else None
        if trial is not None:
            self.scans.heard(trial)
            self.unjudged.heard(trial)

    def files(self, now: float) -> None:
        """The files of the active trials due a read on their own cadence (scan_cadence):
        new checkpoints and plans, results, and what jobs that ended left behind."""
        due = [t for t in self.state.active_trials() if self.scans.due(t.trial, now)]
        self._scan(due)
        self.collect_results(due)
        self.finished_jobs(due)
        for trial in due:
            self.scans.read(trial.trial, now)

    # ------------------------------------------------------------------ the scheduler
    def poll(self, live: list[JobRecord]) -> bool:
        """Journal what ONE scheduler query says of the live jobs; True if any changed.
        The changes are journaled as one batch (one fsync), then applied: each is of its own
        job, judged from that job's state before the poll, so none depends on another."""
        observed = self.scheduler.poll([job.ref for job in live])
        reasons, runners = pending_reasons(observed), task_runners(observed)
        held, requeued = task_held(observed), requeued_runs(observed)
        changed, batch = False, list[Event]()
        for job in live:
            assert job.job_id is not None
            seen = as_seen_after_cancel(observed.get(job.job_id, JobState.UNKNOWN),
                                        job.cancel_requested)
            try:
                new = transition(job.key, job.state, seen)
            except IllegalTransition:
                continue  # a lagging scheduler record; the table says we know better
            # why a pending job waits is journaled for people (view, status) when it changes
            reason = reasons.get(job.job_id, "") if (new or job.state) is JobState.PENDING else ""
            if new is not None or (seen is JobState.PENDING and reason != job.reason):
                batch.append(events.JobStateChanged(key=job.key, job_id=job.job_id,
                                                    state=new or job.state, reason=reason,
                                                    runner=runners.get(job.job_id, ""),
                                                    held_s=held.get(job.job_id, 0.0),
                                                    requeued=requeued.get(job.job_id, "")
                                                    if new is JobState.PENDING else ""))
                changed |= new is not None  # a new reason alone does not hasten the polls
        self.record_all(batch)
        return changed

    def classify(self, job: JobRecord) -> None:
        """Journal once why an attempt failed: what follows depends on it. The job's own
        word (orchestrator.common.failures) first; SLURM's OUT_OF_MEMORY (the job was killed, it
        could write nothing) and the error's text for jobs that wrote nothing."""
        if job.cause is not None or job.state not in FAILURES:
            return
        if job.state is JobState.REPLACED:  # ended by the controller while held: ran nothing
            found = JobFailure(causes.HELD, job.reason)
        else:
            found = self.scheduler.failure(job.ref) if job.job_id else JobFailure(None, "")
        if job.state is JobState.OUT_OF_MEMORY:
            cause = causes.OOM
        elif job.state is JobState.PREEMPTED:
            cause = causes.PREEMPTED  # whatever the killed job printed, nothing failed
        else:
            cause = found.cause or failures.cause_from_text(found.reason)
        self.record(events.JobFailed(
            key=job.key, job_id=job.job_id, state=job.state, cause=cause, detail=found.reason,
            reason=self.failure_reason(job, found.reason)))

    def failure_reason(self, job: JobRecord, detail: str | None = None) -> str:
        if detail is None:
            detail = self.scheduler.failure(job.ref).reason if job.job_id else ""
        logs = ", ".join(str(p) for p in self.scheduler.log_paths(job.ref)) if job.job_id else ""
        text = f"{job.kind} job {job.job_id} ended {job.state.value}"
        return text + (f": {detail}" if detail else "") + (f" (logs: {logs})" if logs else "")

    def failed_evaluation(self, trial: TrialRecord, step: int, job: JobRecord,
                          error: str = "") -> events.Evaluation:
        """The `evaluation` without a value of a checkpoint whose job (its last attempt)
        left no result: `error` says why, else the job's failure as it was journaled."""
        error = error or job.failure or self.failure_reason(job)
        logs = [str(p) for p in self.scheduler.log_paths(job.ref)]
        return events.Evaluation(
            trial=trial.trial, step=step, value=None, job_id=job.job_id,
            checkpoint=trial.checkpoints[step], error=error, logs=logs,
            split=self.settings.search.split)

    # ------------------------------------------------------------------ the file system
    def scan(self, trial: TrialRecord) -> None:
        """New complete checkpoints, the training's plan (each run of the job writes its
        own), and known checkpoints that a later run wrote again."""
        self._scan([trial])

    def _scan(self, trials: list[TrialRecord]) -> None:
        # one journal write for all their new checkpoints: each is a fact of its own trial
        self.record_all([found for trial in trials for found in self._new_checkpoints(trial)])
        for trial in trials:
            self._read_plan(trial, layout.plan_path(Path(trial.output_dir)))
            self._rewritten(trial)

    def _new_checkpoints(self, trial: TrialRecord) -> list[Event]:
        # a plan that names a run is our training job's: its checkpoints are complete by
        # their marker only, which names the run (not by trainer_state.json, written before)
        return [events.Checkpoint(trial=trial.trial, step=checkpoint.step,
                                  path=str(checkpoint.path), run=checkpoint.run)
                for checkpoint in complete_checkpoints(Path(trial.output_dir),
                                                       trial.checkpoints, bool(trial.run))]

    def _read_plan(self, trial: TrialRecord, path: Path) -> None:
        try:  # one stat a poll; the file is read again only when it changed
            found = path.stat()
        except OSError:
            return
        seen = (found.st_mtime_ns, found.st_size, found.st_ino)
        if self._plans.get(trial.trial) == seen:
            return
        self._plans[trial.trial] = seen
        try:
            plan = read_json(path)
            max_steps, run = int(plan["max_steps"]), str(plan.get("run") or "")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return  # written atomically, so only a foreign file gets here; ignore it
        if trial.max_steps is None or (run and run != trial.run):
            self.record(events.Plan(trial=trial.trial, max_steps=max_steps, run=run))

    def _rewritten(self, trial: TrialRecord) -> None:
        """Journal as new the known checkpoints whose marker names another run than the one
        journaled (jobs.train: a run that cannot resume starts over and writes them again).
        Only checkpoints of an earlier run than the latest plan's are read: until a later
        run wrote them again, or once each when it kept them (it resumed after them)."""
        if not trial.run:
            return  # no plan names a run: nothing to compare
        for step, path in sorted(trial.checkpoints.items()):
            run = trial.runs.get(step, "")
            if run == trial.run or self._kept.get((trial.trial, step)) == (
                    trial.run):
                continue
            found = run_of(Path(path))
            if found == run:
                self._kept[(trial.trial, step)] = trial.run
            elif found:  # None: moved aside, deleted or being written; a later poll looks
                self.record(events.Checkpoint(trial=trial.trial, step=step, path=path,
                                              run=found))

    def collect_results(self, trials: list[TrialRecord]) -> None:
        """The results written since: one journal write (each is of its own checkpoint)."""
        found: list[Event] = []
        for trial in trials:
            for step, path in self._written(trial).items():
                found.append(self._result(trial, step, path))
        self.record_all(found)

    def _written(self, trial: TrialRecord) -> dict[int, Path]:
        """The result files present of the trial's checkpoints not evaluated yet: a stat
        for one, one listdir of its evals folder for more (a metadata call, not one each,
        and no Path built for each of thousands waiting)."""
        steps = self.state.unevaluated(trial.trial)
        if not steps:
            return {}
        folder = layout.evals_dir(Path(self.settings.search.dir), trial.trial)
        suffix = layout.OUTPUT_SUFFIX if self.settings.infer.command else layout.RESULT_SUFFIX
        names = {step: layout.result_name(step, self.state.rewrite(trial.trial, step), suffix)
                 for step in steps}
        if len(names) == 1:
            present = {name for name in names.values() if os.path.exists(folder / name)}
        else:
            try:
                present = set(os.listdir(folder))
            except OSError:
                present = set()  # none written yet (or unreadable: a later poll looks again)
        return {step: folder / name for step, name in names.items() if name in present}

    def _record_result(self, trial: TrialRecord, step: int, path: Path) -> None:
        self.record(self._result(trial, step, path))

    def _result(self, trial: TrialRecord, step: int, path: Path) -> events.Evaluation:
        jobs = self.state.attempts("infer", trial.trial, step)
        job_id = done_by(jobs[-1]) if jobs else None
        base = events.Evaluation(trial=trial.trial, step=step, value=None, job_id=job_id,
                                 checkpoint=trial.checkpoints[step], result=str(path),
                                 split=self.settings.search.split)
        try:
            value, metrics = read_metric(self.settings, path)
        except ResultError as exc:
            logs = [str(p) for p in self.scheduler.log_paths(jobs[-1].ref)] if job_id else []
            return replace(base, error=str(exc), logs=logs)
        return replace(base, value=value, metrics=metrics)

    def _waited(self, key: str, seconds: float) -> bool:
        """True once `seconds` have passed since this controller first asked about `key`."""
        first = self._missing_since.setdefault(key, self.clock())
        return self.clock() - first >= seconds

    def _final_checkpoint_seen(self, trial: TrialRecord, job: JobRecord) -> bool:
        """Training ended: has its last checkpoint become visible (or waited long enough)?"""
        try:
            step = int(read_json(layout.done_path(trial.output_dir))["global_step"])
        except (OSError, ValueError, KeyError, TypeError):
            return self._waited(job.key, FOREIGN_TRAIN_GRACE_S)
        saves = trial_train(self.settings, trial).save_steps
        expected = step in trial.checkpoints or (step % saves != 0 and bool(trial.checkpoints))
        return expected or self._waited(job.key, FINAL_CHECKPOINT_GRACE_S)

    # ------------------------------------------------------------------ jobs that ended
    def finished_jobs(self, trials: list[TrialRecord]) -> None:
        for trial in trials:
            train = self.state.attempts("train", trial.trial)
            if train and trial.training == Training.RUNNING:
                self._after_training(trial, train[-1])
            for step in self.state.unevaluated(trial.trial):
                jobs = self.state.attempts("infer", trial.trial, step)
                if jobs:
                    self._after_inference(trial, step, jobs)

    def _after_training(self, trial: TrialRecord, job: JobRecord) -> None:
        if not job.state.terminal:
            return
        if job.state is JobState.SUCCEEDED:
            if self._final_checkpoint_seen(trial, job):
                self.record(events.TrainingEnded(trial=trial.trial, outcome=Training.SUCCEEDED))
        elif job.state is JobState.CANCELLED:
            reason = "cancelled by the controller" if job.cancel_requested else (
                f"job {job.job_id} was cancelled outside the controller (scancel?)")
            self.record(events.TrainingEnded(trial=trial.trial, outcome=Training.CANCELLED,
                                             reason=reason))
        else:
            self.classify(job)  # a retry, or giving up, depends on it (policy.given_up)

    def _after_inference(self, trial: TrialRecord, step: int, attempts: list[JobRecord]) -> None:
        job = attempts[-1]
        if not job.state.terminal:
            return
        if job.state is JobState.SUCCEEDED:
            path = result_file(self.settings, trial.trial, step,
                               self.state.rewrite(trial.trial, step))
            if path.exists():
                self._record_result(trial, step, path)
                return
            if not self._waited(job.key, RESULT_GRACE_S):
                return
            error = f"job {job.job_id} ended without writing its result {path}"
        elif job.state is JobState.CANCELLED and job.cancel_requested:
            return
        elif job.state is JobState.CANCELLED:
            error = f"job {job.job_id} was cancelled outside the controller (scancel?)"
        else:
            return  # failed: retried or given up in the decide phase (policy.given_up)
        self.record(self.failed_evaluation(trial, step, job, error))

    def settle_training(self) -> None:
        """At the finish: record how the training of trials that ended early ended."""
        for trial in self.state.trials.values():
            attempts = self.state.attempts("train", trial.trial)
            if trial.training == Training.RUNNING and attempts and attempts[-1].state.terminal:
                job = attempts[-1]
                outcome = {JobState.SUCCEEDED: Training.SUCCEEDED,
                           JobState.CANCELLED: Training.CANCELLED}
                reason = "" if job.state is JobState.SUCCEEDED else self.failure_reason(job)
                if job.state is JobState.CANCELLED and job.cancel_requested:
                    reason = "cancelled by the controller: the trial had ended"
                self.record(events.TrainingEnded(
                    trial=trial.trial, outcome=outcome.get(job.state, Training.FAILED),
                    reason=reason))
