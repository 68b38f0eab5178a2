"""The controller: observe, decide, act, until the stop rule says the search is over.

Theory of operation. `start` journals the search's start, or resumes it from the journal
(re-sending the cancels the last run may not have sent). Then each `tick`:
1. observe - on the poll cadence (`cadence`), one batched scheduler query for every live
   job, then the file system: checkpoints, training plans, results (`observe`), each trial's
   on its own back-off (`scan_cadence`). Every new fact is journaled (and applied) at once.
2. decide - `policy` on failed work (retried, re-planned or given up: `training_ended`, an
   `evaluation` without a value), the pure stop rule on each active trial's results
   (`trial_ended`; the search's own end: `search_ended`), and the training to submit.
   Journaled decisions are final: a resumed controller replays them. The one exception is
   a rerun with new settings (`search_extended`: a new target, more trials): it reopens an
   ended search and ended trials are judged again by the new rule, so an old outcome is
   never reported as meeting a new target. New trials' parameters: `sampler.Sampler`.
3. act - cancel the jobs of ended trials, submit the training decide planned and inference
   for new checkpoints up to the concurrency limit, each through `submissions` (never a job
   lost or doubled, whatever kills the controller).
`finish` cancels what is left, waits a bounded time for it to end, promotes the best
checkpoint and writes the outcome files; each step is idempotent, so a controller killed
while finishing finishes again. Two clocks are injected: `clock` (monotonic) paces polls
and grace periods; `wall` is compared with the journal's times (budget, heartbeat).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from orchestrator.common import example_scores, layout
from orchestrator.common.redact import recorded
from orchestrator.config.settings import Settings
from orchestrator.decide import policy
from orchestrator.decide.optuna_sampler import sampler_for
from orchestrator.engine import cancel_request as cancelling
from orchestrator.engine.cadence import Cadence, report_every_s
from orchestrator.engine.deletion import Retention
from orchestrator.engine.holds import HeldJobs
from orchestrator.engine.observe import Observer
from orchestrator.engine.promotion import promote
from orchestrator.engine.scan_cadence import TrialScans
from orchestrator.engine.submissions import Submissions
from orchestrator.journal import search_folder, state_snapshot
from orchestrator.journal.jsonl import Journal
from orchestrator.model import events
from orchestrator.model.events import Event
from orchestrator.model.state import JobRecord, SearchState, TrialRecord
from orchestrator.model.transitions import REQUEUABLE_ENDS, SearchStatus, TrialEnd
from orchestrator.placement import tasks as handoff
from orchestrator.reporting.files import refresh_outcome, write_outcome
from orchestrator.scheduler import Scheduler


class View(Protocol):
    def event(self, record: Event, state: SearchState) -> None: ...
    def refresh(self, state: SearchState) -> None: ...


class Controller:
    def __init__(self, settings: Settings, journal: Journal, scheduler: Scheduler, view: View,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 wall: Callable[[], float] = time.time, state: SearchState | None = None) -> None:
        self.settings = settings
        self.search_dir = Path(settings.search.dir)
        self.journal, self.view = journal, view
        self.clock, self.sleep, self.wall = clock, sleep, wall
        self.rule = policy.rule_of(settings)
        self.state = state if state is not None else state_snapshot.fold(journal.path.parent).state
        self.scheduler = scheduler = handoff.placed(settings, scheduler, self.state, clock)
        self.sampler = sampler_for(settings.search)
        executor = settings.executor
        self.cadence = Cadence(executor.poll_interval_s, executor.max_poll_interval_s, clock)
        self.observer = Observer(settings, scheduler, self.state, self.record, clock, TrialScans(
            executor.fs_interval_s, executor.max_poll_interval_s), self.record_all)
        self.submissions = Submissions(settings, scheduler, self.state, self.record, clock,
                                       submitted=self.cadence.submitted,
                                       record_all=self.record_all)
        self.retention = Retention(settings.search, self.state, self.record, self.rule,
                                   self.record_all)
        self.holds = HeldJobs(settings.search, scheduler, self.state, self.record, wall)
        self._extended_with: tuple[int, dict[str, list[Any]]] | None = None  # by _extend
        self._outcome_stale, self._refresh_at = False, -float("inf")  # report.md: old? when?
        self._trainings: list[tuple[TrialRecord, list[JobRecord], policy.Submit]] = []

    # ------------------------------------------------------------------ the loop
    def run(self) -> SearchState:
        self.start()
        while self.tick():
            self.sleep(self.settings.executor.fs_interval_s)
        self.finish()
        return self.state

    def tick(self) -> bool:
        """One round of observe, decide, act; False once the search has ended."""
        if self._ended_or_cancelled():
            return False  # cancelled, or a rerun of an ended search with nothing new: finish
        self.observe()
        self.decide()
        if self.state.finished is not None:
            return False
        self.act()
        self.retention.tick()  # after the evaluations this tick journaled
        self._heartbeat()
        if self._outcome_stale and self.clock() >= self._refresh_at:  # (cadence)
            self._outcome_stale = refresh_outcome(self.state, self.rule, self.search_dir) is False
            self._refresh_at = self.clock() + report_every_s(self.settings.executor,
                                                             len(self.state.trials))
        self.view.refresh(self.state)
        return True

    def record(self, event: Event) -> Event:
        """Journal first, then apply: the only way the controller's knowledge changes."""
        return self.record_all([event])[0]

    def record_all(self, batch: list[Event]) -> list[Event]:
        """`record` of facts learned at once: ONE journal write and fsync, then each applied."""
        written = self.journal.append_all(batch)
        for event in written:
            self.state.apply(event)
            self.view.event(event, self.state)
            self.observer.heard(event)
            self._outcome_stale |= isinstance(event, events.Evaluation)
        return written

    def _ended_or_cancelled(self) -> bool:  # a pending cancel (engine.cancel_request) ends it
        if self.state.finished is None and cancelling.requested(self.search_dir,
                                                                self.journal.facts, self.record):
            self._end_search(SearchStatus.CANCELLED, reason=cancelling.REASON)
        return self.state.finished is not None

    def _heartbeat(self) -> None:  # a sign of life when nothing was written for HEARTBEAT_S
        if self.wall() - self.journal.facts.last_t >= search_folder.HEARTBEAT_S:
            self.record(events.Heartbeat())

    def start(self) -> None:
        """Start the search, or resume it from its journal."""
        if self.state.started is None:
            self.record(events.SearchStarted(settings=recorded(self.settings)))
        else:
            self.record(events.Resumed())
            # journaled, then sent: the last run may not have
            self.scheduler.cancel([j.ref for j in self.state.cancelled_may_run()])
            self.submissions.expect_late()
        self._extend()
        self._ended_or_cancelled()  # before settling: an ended search submits no intent
        self.submissions.settle()
        known = {t.sampler_trial for t in self.state.trials.values()}
        self.sampler.abandon_unknown({n for n in known if n is not None})
        for trial in self.state.trials.values():
            if trial.ended is not None:
                self._tell_sampler(trial)  # idempotent: a kill may have come before it

    def _extend(self) -> None:
        """Rerun with new settings (a new target, more trials): journal them, reopening an
        ended search, and judge what was already evaluated by the new rule (idempotent: a
        kill may have come between search_extended and the judgements)."""
        changed = policy.changed_settings(recorded(self.state.settings()),
                                          recorded(self.settings))
        if changed:
            if self.state.finished is not None:
                self._extended_with = len(self.state.trials), changed
            self.record(events.SearchExtended(settings=recorded(self.settings), changed=changed,
                                              reopened=self.state.finished is not None))
        if self.state.extensions:
            for ended in policy.rejudged(self.rule, self.state, self.settings.search.metric):
                self.record(ended)

    # ------------------------------------------------------------------ observe
    def observe(self) -> None:
        now = self.clock()
        if self.cadence.due(now):
            self.cadence.polled(now, self._poll())
        self.observer.files(now)  # each trial on its own backing-off cadence (scan_cadence)

    def _poll(self) -> bool:
        live = self.state.live_jobs()
        changed = self.observer.poll(live)
        self.holds.tick()  # held past the grace: released, then replaced (ends it: cancelled)
        # SLURM requeues a NODE_FAIL'd (or, late, preempted) batch job under its id; for us
        # that attempt is over: cancelled at once, never beside its retry nor after the search
        self._cancel([j for j in live if j.state in REQUEUABLE_ENDS and not j.cancel_requested])
        for job in live:
            self.observer.classify(job)  # printed with its reason; retries depend on it
        return changed

    # ------------------------------------------------------------------ decide
    def decide(self) -> None:
        for failed in policy.given_up(self.state, self.settings):  # before the verdicts
            self.record(failed if isinstance(failed, events.TrainingEnded) else
                        self.observer.failed_evaluation(failed.trial, failed.step, failed.job))
        self._judge()
        self._trainings = policy.trainings_due(self.state, self.settings)  # none once ended

    def _judge(self) -> None:
        search, trials = self.settings.search, self.state.trials
        for trial in self.observer.unjudged.take(self.state.active_trials()):  # news only
            ended = policy.verdict(self.rule, trial, self.state.results(trial.trial), search.metric)
            if ended is not None:
                self._end_trial(trial, *ended)
        for number, step, why in policy.pruned(self.rule, self.state, self.settings,
                                               example_scores.cached_read):
            self._end_trial(trials[number], TrialEnd.PRUNED, step, why)
        if self.state.memo("reached", lambda: any(t.ended == TrialEnd.TARGET_REACHED
                                                  for t in trials.values())):
            self._end_search(SearchStatus.TARGET_REACHED)
            return
        used = self.state.job_hours(self.wall()) if search.budget_job_hours else 0.0  # all jobs
        if search.budget_job_hours and used >= search.budget_job_hours:
            self._end_search(policy.final_status(self.state), reason=(
                f"the jobs used {used:.3f} of search.budget_job_hours={search.budget_job_hours}"))
            return
        while (len(self.state.active_trials()) < search.max_concurrent_trials
               and len(trials) < self.sampler.size(search.max_trials)):
            self._start_trial(max(trials, default=0) + 1)
        if not self.state.active_trials():
            self._end_search(policy.final_status(self.state), reason=policy.nothing_new(
                self.rule, search, self._extended_with, len(trials)))

    def _end_trial(self, trial: TrialRecord, how: TrialEnd, step: int | None,
                   reason: str = "") -> None:
        self.record(events.TrialEnded(trial=trial.trial, how=how, step=step, reason=reason))
        self._tell_sampler(trial)

    def _tell_sampler(self, trial: TrialRecord) -> None:
        if trial.sampler_trial is not None:
            best = policy.best_value(self.state.results(trial.trial), self.rule)
            self.sampler.tell(trial.sampler_trial, best)

    def _start_trial(self, number: int) -> None:
        params, sampler_trial = self.sampler.ask(number)
        params = policy.typed(params)
        seed = layout.trial_seed(self.settings.train.seed, number, params)
        output_dir = layout.trial_dir(self.search_dir, number)
        self.record(events.TrialStarted(trial=number, seed=seed, output_dir=str(output_dir),
                                        params=params, sampler_trial=sampler_trial))

    def _end_search(self, status: SearchStatus, reason: str = "") -> None:
        for trial in self.state.active_trials():
            self._end_trial(trial, TrialEnd.STOPPED, None, reason or "the search ended")
        self.record(events.SearchEnded(status=status, reason=reason))

    # ------------------------------------------------------------------ act
    def act(self) -> None:
        trials = self.state.trials  # a worker's jobs are of no trial (0): not ended here
        self._cancel([j for j in policy.unfinished_work(self.state)
                      if j.trial in trials and trials[j.trial].ended is not None])
        trainings, self._trainings = self._trainings, []  # decide() plans them again
        if not self.submissions.settle():
            return  # the scheduler does not answer: nothing new is submitted meanwhile
        # each group in one batch (two fsyncs); the next group's placement reads its jobs
        with self.submissions.batch():
            for trial, attempts, plan in trainings:
                self._retire(attempts)
                self.submissions.train(trial, len(attempts), plan.overrides)
        with self.submissions.batch():
            self.submissions.workers()  # infer.placement=worker: its long-lived evaluators
        with self.submissions.batch():
            self._submit_evaluations()

    def _cancel(self, jobs: list[JobRecord]) -> None:
        if not jobs:
            return
        self.record(events.Cancel(keys=[j.key for j in jobs], job_ids=[j.job_id for j in jobs]))
        self.scheduler.cancel([j.ref for j in jobs])
        self.cadence.cancelled()  # see the cancellations soon

    def _retire(self, attempts: list[JobRecord]) -> None:
        """Before a retry: the failed attempt's id never runs again (SLURM may requeue a
        NODE_FAIL'd job by itself, which would then run beside the retry)."""
        if attempts and attempts[-1].job_id is not None and not attempts[-1].cancel_requested:
            self._cancel([attempts[-1]])

    def _submit_evaluations(self) -> None:
        for trial, step, attempts in policy.evaluations_due(self.state, self.settings.search):
            self._retire(attempts)
            self.submissions.infer(trial, step)

    # ------------------------------------------------------------------ finish
    def finish(self) -> None:
        self.submissions.settle_all(self.sleep)  # one made but not journaled is cancelled
        self._cancel(policy.unfinished_work(self.state))
        deadline = self.clock() + self.settings.search.drain_timeout_s
        while self.state.live_jobs() and self.clock() < deadline:
            self.sleep(self.settings.executor.poll_interval_s)
            self._poll()
        for job in self.state.live_jobs():
            # still live after the drain: re-ask once more so it cannot linger unnoticed
            self.scheduler.cancel([job.ref])
        self.observer.settle_training()
        self.retention.tick()  # every trial has ended: keep only the best (best/ copies one)
        if self.state.promoted is None:
            promote(self.state, self.rule, self.search_dir, self.record)
        self.view.refresh(self.state)
        write_outcome(self.state, self.rule, self.search_dir)
