"""The controller: observe, decide, act, until the stop rule says the search is over.

Theory of operation. Each tick:
1. observe - one batched scheduler query for every live job (on a backing-off interval),
   then the file system: new complete checkpoints, training plans, inference results.
   Every new fact is journaled (and so applied to the state) as it is found.
2. decide - the pure stop rule on each active trial's results; a verdict is journaled as
   `trial_ended`, and the search's own end as `search_ended`. Journaled decisions are final:
   a resumed controller replays them instead of deciding again. The one exception is a rerun
   with new settings (`search_extended`: a new target, more trials): it reopens an ended
   search and ended trials are judged again by the new rule, so an old outcome is never
   reported as meeting a new target.
3. act - cancel the jobs of ended trials, (re)submit training, submit inference for new
   checkpoints up to the concurrency limit. A submission journals its intent, submits, then
   journals the job id; a resume that finds an intent without an id asks the scheduler
   whether that submission happened before submitting again, so no job is ever doubled.
   Not found, an intent younger than `Scheduler.submit_settle_s` is looked for once more
   when that time is up: the killed controller's sbatch may still be on its way.
When the search has ended, `finish` cancels what is left, waits a bounded time for those
jobs to end, promotes the best checkpoint and writes the outcome files; every step of it is
idempotent, so a controller killed while finishing simply finishes again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any, Protocol

from orchestrator import failures, job_requests, layout, sampler
from orchestrator.checkpoints import complete_checkpoints
from orchestrator.errors import OrchestratorError, SchedulerUnavailable
from orchestrator.failures import JobFailure
from orchestrator.fsutil import read_json
from orchestrator.journal import Event, Journal
from orchestrator.lifecycle import (
    FAILURES,
    IllegalTransition,
    JobState,
    as_seen_after_cancel,
    transition,
)
from orchestrator.outcome import promote_best, write_outcome
from orchestrator.pruning import median_prune
from orchestrator.results import ResultError, evaluation_from_json, metric_from_text
from orchestrator.scheduler import JobRequest, Scheduler
from orchestrator.settings import Settings, TrainSettings
from orchestrator.state import (
    COMPLETE,
    METRIC_FELL,
    PRUNED,
    STOPPED,
    TARGET_REACHED,
    TRAIN_FAILED,
    JobRecord,
    SearchState,
    TrialRecord,
)
from orchestrator.stop_rule import Mode, Rule, Verdict, decide_trial, explain

# A job's end can be seen before its last files are: shared file systems cache "no such
# file" answers. Wait this long (controller clock) before trusting that a file is missing.
RESULT_GRACE_S = 10.0
FINAL_CHECKPOINT_GRACE_S = 30.0
FOREIGN_TRAIN_GRACE_S = 3.0  # users' scripts write no train_done.json to check against
HEARTBEAT_S = 60.0  # journal a heartbeat when nothing else was journaled for this long


_INT_FIELDS = {f.name for f in fields(TrainSettings) if f.type in ("int", int)}


def _typed(params: dict[str, Any]) -> dict[str, Any]:
    """Sampled values as the train settings expect them (a range over an int setting)."""
    return {k: round(v) if k in _INT_FIELDS and isinstance(v, float) else v
            for k, v in params.items()}


class _NotYet(Exception):
    """A submission a killed controller left open is not found yet, but may still appear."""

    def __init__(self, until: float) -> None:
        super().__init__(until)
        self.until = until


class View(Protocol):
    def event(self, record: Event, state: SearchState) -> None: ...
    def refresh(self, state: SearchState) -> None: ...


# settings that can change how a search ends: a rerun that changes one (with --force-resume
# where app.IDENTITY holds it) journals `search_extended`, which reopens an ended search
REOPENING = ("search.target", "search.metric", "search.mode", "search.split", "search.patience",
             "search.min_delta", "search.max_trials", "search.budget_job_hours")


# what a journal written before a setting existed meant by it
LEGACY_DEFAULTS: dict[str, Any] = {"search.split": "test"}


def setting(settings: dict[str, Any], key: str) -> Any:
    """One dotted setting (`search.target`) from journaled settings."""
    section, _, name = key.partition(".")
    return settings[section].get(name, LEGACY_DEFAULTS.get(key)) if name else settings[section]


def changed_settings(before: dict[str, Any], now: dict[str, Any],
                     keys: tuple[str, ...] = REOPENING) -> dict[str, list[Any]]:
    """key -> [before, now] for each of `keys` that differs (compared as JSON)."""
    return {k: [setting(before, k), setting(now, k)] for k in keys
            if json.dumps(setting(before, k), sort_keys=True, default=list)
            != json.dumps(setting(now, k), sort_keys=True, default=list)}


def rule_of(settings: Settings) -> Rule:
    s = settings.search
    assert s.target is not None
    return Rule(s.target, Mode(s.mode), s.patience, s.min_delta)


class Controller:
    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        scheduler: Scheduler,
        view: View,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.search_dir = Path(settings.search.dir)
        self.journal = journal
        self.scheduler = scheduler
        self.view = view
        self.clock = clock
        self.sleep = sleep
        self.rule = rule_of(settings)
        self.state = SearchState.replay(journal.events)
        self._optuna_sampler: sampler.OptunaSampler | None = None
        self._missing_since: dict[str, float] = {}
        self._interval = settings.executor.poll_interval_s
        self._next_poll = 0.0
        # submissions wait while the scheduler does not answer: when to try again, and how
        # long to wait after that (doubling up to max_poll_interval_s)
        self._retry_submissions_at: float | None = None
        self._submit_backoff = settings.executor.poll_interval_s
        # intents a killed controller left open, by key: until when (our clock) a job not
        # found yet may still appear (see Scheduler.submit_settle_s), and when to look again
        self._settle_until: dict[str, float] = {}
        self._look_again_at: float | None = None
        # trials there were, and what changed, when this run journaled search_extended
        self._extended_with: tuple[int, dict[str, list[Any]]] | None = None

    # ------------------------------------------------------------------ the loop
    def run(self) -> SearchState:
        self._start_or_resume()
        while self.state.finished is None:
            self.observe()
            self.decide()
            if self.state.finished is None:
                self.act()
                self._heartbeat()
                self.view.refresh(self.state)
                self.sleep(self.settings.executor.fs_interval_s)
        self.finish()
        return self.state

    def record(self, name: str, /, **fields: Any) -> Event:
        """Journal first, then apply: the only way the controller's knowledge changes."""
        event = self.journal.append(name, **fields)
        self.state.apply(event)
        self.view.event(event, self.state)
        return event

    def _heartbeat(self) -> None:
        """A sign of life in the journal when nothing else was written for a while, so that
        `orchestrator status` on another host can tell a live controller from a dead one."""
        if time.time() - self.journal.events[-1]["t"] >= HEARTBEAT_S:
            self.record("heartbeat")

    def _start_or_resume(self) -> None:
        if self.state.started is None:
            self.record("search_started", settings=asdict(self.settings))
        else:
            self.record("resumed")
            # a cancel is journaled before it is sent: send again any the last run may not have
            pending = [j.ref for j in self.state.live_jobs() if j.cancel_requested]
            if pending:
                self.scheduler.cancel(pending)
            now, settle = time.time(), self.scheduler.submit_settle_s
            self._settle_until = {
                j.key: self.clock() + max(0.0, (j.intent_t or 0.0) + settle - now)
                for j in self.state.open_intents()}
        self._extend()
        self._settle_intents()
        if self.settings.search.space and self.settings.search.sampler == "optuna":
            known = {t.sampler_trial for t in self.state.trials.values()}
            self._optuna().abandon_unknown({n for n in known if n is not None})
            for trial in self.state.trials.values():
                if trial.ended is not None:
                    self._tell_sampler(trial)  # idempotent: a kill may have come before it

    def _extend(self) -> None:
        """Rerun with new settings (a new target, more trials): journal them, reopening an
        ended search, and judge what was already evaluated by the new rule."""
        changed = changed_settings(self.state.settings(), asdict(self.settings))
        if changed:
            if self.state.finished is not None:
                self._extended_with = len(self.state.trials), changed
            self.record("search_extended", settings=asdict(self.settings), changed=changed,
                        reopened=self.state.finished is not None)
        if self.state.extensions:
            self._rejudge()

    def _rejudge(self) -> None:
        """Ended trials judged by the latest rule. Idempotent (a kill may have come between
        search_extended and these events), and a no-op while the rule is unchanged."""
        assert self.state.current is not None
        changes = ", ".join(f"{k} {a} -> {b}"
                            for k, (a, b) in self.state.current["changed"].items())
        target, metric = self.rule.target, self.settings.search.metric
        op = ">=" if self.rule.mode is Mode.MAX else "<="
        for trial in [t for t in self.state.trials.values() if t.ended is not None]:
            decision = decide_trial(self.rule, list(trial.checkpoints),
                                    self.state.results(trial.trial), True)
            if decision.verdict is Verdict.TARGET_REACHED:
                if (trial.ended, trial.ended_step) != (TARGET_REACHED, decision.step):
                    self.record("trial_ended", trial=trial.trial, how=TARGET_REACHED,
                                step=decision.step, reason=(
                                    f"re-judged: reaches {metric} {op} {target}"))
            elif trial.ended == TARGET_REACHED:  # never the old outcome as the new one's
                self.record("trial_ended", trial=trial.trial, how=STOPPED,
                            step=trial.ended_step, reason=(
                                f"reached the target under the earlier settings ({changes}), "
                                f"not {metric} {op} {target}"))

    def _nothing_new(self) -> str:
        """Why a search reopened in this run ended without a new trial, else ''."""
        if self._extended_with is None or len(self.state.trials) > self._extended_with[0]:
            return ""
        changes = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in self._extended_with[1].items())
        op = ">=" if self.rule.mode is Mode.MAX else "<="
        return (f"re-judged under the new settings ({changes}): no evaluated checkpoint "
                f"reaches {self.settings.search.metric} {op} {self.rule.target} and "
                f"search.max_trials={self.settings.search.max_trials} allows no new trial")

    # ------------------------------------------------------------------ observe
    def observe(self) -> None:
        now = self.clock()
        if now >= self._next_poll:
            changed = self._poll_states()
            grow = self._interval * 1.5
            self._interval = (self.settings.executor.poll_interval_s if changed else
                              min(grow, self.settings.executor.max_poll_interval_s))
            self._next_poll = now + self._interval
        for trial in self.state.active_trials():
            self._scan_trial(trial)
        self._collect_results()
        self._handle_finished_jobs()

    def _poll_states(self) -> bool:
        live = self.state.live_jobs()
        observed = self.scheduler.poll([job.ref for job in live])
        changed = False
        for job in live:
            assert job.job_id is not None
            seen = as_seen_after_cancel(observed.get(job.job_id, JobState.UNKNOWN),
                                        job.cancel_requested)
            try:
                new = transition(job.key, job.state, seen)
            except IllegalTransition:
                continue  # a lagging scheduler record; the table says we know better
            if new is not None:
                self.record("job_state", key=job.key, job_id=job.job_id, state=new.value)
                changed = True
        # SLURM requeues a NODE_FAIL'd batch job by itself (JobRequeue=1) under the same id.
        # For us that attempt is over (a retry may follow): cancel the copy at once, so it
        # neither runs beside the retry nor outlives the search unseen.
        self._cancel([job for job in live if job.state is JobState.NODE_FAIL
                      and not job.cancel_requested])
        for job in live:
            if job.state in FAILURES:
                self._classify_failure(job)  # printed with its reason; retries depend on it
        return changed

    def _scan_trial(self, trial: TrialRecord) -> None:
        output_dir = Path(trial.output_dir)
        for checkpoint in complete_checkpoints(output_dir, known=trial.checkpoints):
            self.record("checkpoint", trial=trial.trial, step=checkpoint.step,
                        path=str(checkpoint.path))
        if trial.max_steps is None and layout.plan_path(output_dir).exists():
            try:
                plan = read_json(layout.plan_path(output_dir))
                self.record("plan", trial=trial.trial, max_steps=int(plan["max_steps"]))
            except (OSError, ValueError, KeyError, TypeError):
                pass  # written atomically, so only a foreign file gets here; ignore it

    def _collect_results(self) -> None:
        for trial in self.state.active_trials():
            for step in sorted(trial.checkpoints):
                if (trial.trial, step) in self.state.evaluations:
                    continue
                path = self._result_file(trial.trial, step)
                if path.exists():
                    self._record_result(trial, step, path)

    def _record_result(self, trial: TrialRecord, step: int, path: Path) -> None:
        jobs = self.state.attempts("infer", trial.trial, step)
        job_id = jobs[-1].job_id if jobs else None
        base = dict(trial=trial.trial, step=step, job_id=job_id,
                    checkpoint=trial.checkpoints[step], result=str(path),
                    split=self.settings.search.split)
        try:
            value, metrics = self._read_metric(path)
        except ResultError as exc:
            logs = [str(p) for p in self.scheduler.log_paths(jobs[-1].ref)] if job_id else []
            self.record("evaluation", value=None, error=str(exc), logs=logs, **base)
            return
        self.record("evaluation", value=value, metrics=metrics, **base)

    def _result_file(self, trial: int, step: int) -> Path:
        if self.settings.infer.command:
            return layout.output_path(self.search_dir, trial, step)
        return layout.result_path(self.search_dir, trial, step)

    def _read_metric(self, path: Path) -> tuple[float, dict[str, dict[str, float]]]:
        """The deciding split's metric, and every split's metrics (the report shows both)."""
        search = self.settings.search
        if self.settings.infer.command:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                raise ResultError(f"cannot read {path}: {exc.strerror}") from exc
            value = metric_from_text(text, self.settings.infer.metric_regex, str(path))
            # one number: the user's script decides what it scores; we record it as search.split
            return value, {search.split: {search.metric: value}}
        return evaluation_from_json(path, search.metric, search.split)

    def _handle_finished_jobs(self) -> None:
        for trial in self.state.active_trials():
            train = self.state.attempts("train", trial.trial)
            if train and trial.training == "running":
                self._after_training(trial, train[-1], len(train))
            for step in sorted(trial.checkpoints):
                jobs = self.state.attempts("infer", trial.trial, step)
                if jobs and (trial.trial, step) not in self.state.evaluations:
                    self._after_inference(trial, step, jobs[-1], len(jobs))

    def _after_training(self, trial: TrialRecord, job: JobRecord, attempts: int) -> None:
        if not job.state.terminal:
            return
        if job.state is JobState.SUCCEEDED:
            if self._final_checkpoint_seen(trial, job):
                self.record("training_ended", trial=trial.trial, outcome="succeeded")
        elif job.state is JobState.CANCELLED:
            reason = "cancelled by the controller" if job.cancel_requested else (
                f"job {job.job_id} was cancelled outside the controller (scancel?)")
            self.record("training_ended", trial=trial.trial, outcome="cancelled", reason=reason)
        else:
            self._classify_failure(job)
            plan, reason = self._next_training_plan(trial)
            if plan is None:
                self.record("training_ended", trial=trial.trial, outcome="failed", reason=reason)

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
        saves = self._trial_train(trial).save_steps
        expected = step in trial.checkpoints or (step % saves != 0 and bool(trial.checkpoints))
        return expected or self._waited(job.key, FINAL_CHECKPOINT_GRACE_S)

    def _classify_failure(self, job: JobRecord) -> None:
        """Journal once why an attempt failed: what follows depends on it. The job's own
        word (orchestrator.failures) first; SLURM's OUT_OF_MEMORY (the job was killed, it
        could write nothing) and the error's text for jobs that wrote nothing."""
        if job.cause is not None or job.state not in FAILURES:
            return
        found = self.scheduler.failure(job.ref) if job.job_id else JobFailure(None, "")
        if job.state is JobState.OUT_OF_MEMORY:
            cause = failures.OOM
        else:
            cause = found.cause or failures.cause_from_text(found.reason)
        self.record("job_failed", key=job.key, job_id=job.job_id, state=job.state.value,
                    cause=cause, detail=found.reason,
                    reason=self._failure_reason(job, found.reason))

    def _next_training_plan(self, trial: TrialRecord) -> tuple[dict[str, Any] | None, str]:
        """The train settings of the next attempt after a failure, or None and why not.

        Out of memory: halve the per-device batch and double gradient accumulation (the
        effective batch stays the same), at most `max_oom_replans` times. A NaN loss is not
        retried: the same settings would diverge again. Anything else is retried as it was.
        """
        attempts = self.state.attempts("train", trial.trial)
        last = attempts[-1]
        search, base = self.settings.search, self._trial_train(trial)
        if last.cause == failures.INPUT:
            return None, (f"{last.failure}; an input error, not retried (a retry would fail "
                          "the same way): fix it, then run again with a new search.dir")
        if last.cause == "nan":
            return None, (f"{last.failure}; lower train.learning_rate or use "
                          "train.precision=fp32, then start a new search.dir")
        if last.cause == "oom":
            ooms = sum(1 for a in attempts if a.cause == "oom")
            factor = 2 ** ooms
            batch = base.per_device_batch_size // factor
            if ooms > search.max_oom_replans or batch < 1:
                return None, (f"out of memory {ooms} times, down to per-device batch "
                              f"{max(batch, 1) * 2}: {last.failure}; lower data.max_length or "
                              "use a larger GPU")
            return {**trial.params, "per_device_batch_size": batch,
                    "grad_accum_steps": base.grad_accum_steps * factor}, ""
        others = sum(1 for a in attempts if a.cause == "other")
        if others > search.train_retries:
            return None, last.failure
        return dict(last.overrides), ""

    def _settle_training(self) -> None:
        """Record how the training of trials that ended early finally ended."""
        for trial in self.state.trials.values():
            attempts = self.state.attempts("train", trial.trial)
            if trial.training == "running" and attempts and attempts[-1].state.terminal:
                job = attempts[-1]
                outcome = {JobState.SUCCEEDED: "succeeded", JobState.CANCELLED: "cancelled"}
                reason = "" if job.state is JobState.SUCCEEDED else self._failure_reason(job)
                if job.state is JobState.CANCELLED and job.cancel_requested:
                    reason = "cancelled by the controller: the trial had ended"
                self.record("training_ended", trial=trial.trial,
                            outcome=outcome.get(job.state, "failed"), reason=reason)

    def _after_inference(self, trial: TrialRecord, step: int, job: JobRecord,
                         attempts: int) -> None:
        if not job.state.terminal:
            return
        if job.state is JobState.SUCCEEDED:
            path = self._result_file(trial.trial, step)
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
        elif attempts > self.settings.search.eval_retries or job.cause == failures.INPUT:
            error = job.failure or self._failure_reason(job)
        else:
            return  # act() retries it
        logs = [str(p) for p in self.scheduler.log_paths(job.ref)]
        self.record("evaluation", trial=trial.trial, step=step, value=None, job_id=job.job_id,
                    checkpoint=trial.checkpoints[step], error=error, logs=logs,
                    split=self.settings.search.split)

    def _failure_reason(self, job: JobRecord, detail: str | None = None) -> str:
        if detail is None:
            detail = self.scheduler.failure(job.ref).reason if job.job_id else ""
        logs = ", ".join(str(p) for p in self.scheduler.log_paths(job.ref)) if job.job_id else ""
        text = f"{job.kind} job {job.job_id} ended {job.state.value}"
        return text + (f": {detail}" if detail else "") + (f" (logs: {logs})" if logs else "")

    # ------------------------------------------------------------------ decide
    def decide(self) -> None:
        for trial in self.state.active_trials():
            self._decide_trial(trial)
        self._prune()
        search, trials = self.settings.search, self.state.trials
        if any(t.ended == TARGET_REACHED for t in trials.values()):
            self._end_search(TARGET_REACHED)
            return
        used = self.state.job_hours(time.time())
        if search.budget_job_hours and used >= search.budget_job_hours:
            self._end_search(self._final_status(), reason=(
                f"the jobs used {used:.3f} of search.budget_job_hours={search.budget_job_hours}"))
            return
        while (len(self.state.active_trials()) < search.max_concurrent_trials
               and len(trials) < self._max_trials()):
            self._start_trial(max(trials, default=0) + 1)
        if not self.state.active_trials():
            self._end_search(self._final_status(), reason=self._nothing_new())

    def _max_trials(self) -> int:
        search = self.settings.search
        if search.space and search.sampler == "grid":
            return min(search.max_trials, sampler.grid_size(search.space))
        return search.max_trials

    def _decide_trial(self, trial: TrialRecord) -> None:
        ended = trial.training != "running"
        decision = decide_trial(self.rule, list(trial.checkpoints),
                                self.state.results(trial.trial), ended)
        if decision.verdict is Verdict.CONTINUE:
            return  # most ticks: no sentence to build
        why = explain(self.rule, decision, self.settings.search.metric)
        if decision.verdict is Verdict.TARGET_REACHED:
            self._end_trial(trial, TARGET_REACHED, decision.step, why)
        elif decision.verdict is Verdict.METRIC_FELL:
            self._end_trial(trial, METRIC_FELL, decision.step, why)
        elif decision.verdict is Verdict.COMPLETE:
            if trial.training == "succeeded":
                self._end_trial(trial, COMPLETE, None, why)
            else:
                self._end_trial(trial, TRAIN_FAILED, None, trial.training_reason)

    def _prune(self) -> None:
        search = self.settings.search
        if search.early_stop != "median":
            return
        results = {t: self.state.results(t) for t in self.state.trials}
        active = {t.trial for t in self.state.active_trials()}
        for verdict in median_prune(self.rule, results, active, search.early_stop_min_trials,
                                    search.early_stop_grace_steps):
            self._end_trial(self.state.trials[verdict.trial], PRUNED, verdict.step,
                            verdict.explain(search.metric))

    def _end_trial(self, trial: TrialRecord, how: str, step: int | None,
                   reason: str = "") -> None:
        self.record("trial_ended", trial=trial.trial, how=how, step=step, reason=reason)
        self._tell_sampler(trial)

    def _tell_sampler(self, trial: TrialRecord) -> None:
        if trial.sampler_trial is None:
            return
        values = [v for v in self.state.results(trial.trial).values() if v is not None]
        best = (max if self.rule.mode is Mode.MAX else min)(values) if values else None
        self._optuna().tell(trial.sampler_trial, best)

    def _optuna(self) -> sampler.OptunaSampler:
        if self._optuna_sampler is None:
            search = self.settings.search
            self._optuna_sampler = sampler.OptunaSampler(
                self.search_dir, search.space, search.sampler_seed, search.mode)
        return self._optuna_sampler

    def _final_status(self) -> str:
        """Without the target: how the last trial ended says how the search ended."""
        if not self.state.trials:
            return "failed"
        last = self.state.trials[max(self.state.trials)]
        usable = [v for v in self.state.all_results().values() if v is not None]
        if not usable or all(t.ended == TRAIN_FAILED for t in self.state.trials.values()):
            return "failed"
        if last.ended == METRIC_FELL:
            return "metric_fell"
        return "exhausted"

    def _start_trial(self, number: int) -> None:
        params, sampler_trial = self._sample(number)
        seed = layout.trial_seed(self.settings.train.seed, number, params)
        output_dir = layout.trial_dir(self.search_dir, number)
        self.record("trial_started", trial=number, seed=seed, output_dir=str(output_dir),
                    params=params, sampler_trial=sampler_trial)

    def _sample(self, number: int) -> tuple[dict[str, Any], int | None]:
        search = self.settings.search
        if not search.space:
            return {}, None
        if search.sampler == "grid":
            return _typed(sampler.grid(search.space)[number - 1]), None
        if search.sampler == "random":
            return _typed(sampler.draw(search.space, search.sampler_seed, number)), None
        asked, params = self._optuna().ask()
        return _typed(params), asked

    def _trial_train(self, trial: TrialRecord) -> TrainSettings:
        return replace(self.settings.train, **trial.params)

    def _end_search(self, status: str, reason: str = "") -> None:
        for trial in self.state.active_trials():
            self._end_trial(trial, STOPPED, None, reason or "the search ended")
        self.record("search_ended", status=status, reason=reason)

    # ------------------------------------------------------------------ act
    def act(self) -> None:
        self._cancel_ended_trials()
        if not self._settle_intents():
            return  # the scheduler does not answer: nothing new is submitted meanwhile
        for trial in self.state.active_trials():
            self._ensure_training(trial)
        self._submit_evaluations()

    def _cancel_ended_trials(self) -> None:
        ended = {t.trial for t in self.state.trials.values() if t.ended is not None}
        doomed = [j for j in self._unfinished_work() if j.trial in ended]
        self._cancel(doomed)

    def _unfinished_work(self) -> list[JobRecord]:
        """Live jobs still worth cancelling: not already cancelled, and not an inference
        job whose result is in (it is finishing; cancelling it would show a decisive
        evaluation as CANCELLED in sacct and hold the finish for KillWait)."""
        return [j for j in self.state.live_jobs() if not j.cancel_requested
                and not (j.kind == "infer" and (j.trial, j.step) in self.state.evaluations)]

    def _cancel(self, jobs: list[JobRecord]) -> None:
        if not jobs:
            return
        self.record("cancel", keys=[j.key for j in jobs], job_ids=[j.job_id for j in jobs])
        self.scheduler.cancel([j.ref for j in jobs])
        self._next_poll = self.clock()  # see the cancellations soon

    def _ensure_training(self, trial: TrialRecord) -> None:
        if trial.training != "running":
            return
        attempts = self.state.attempts("train", trial.trial)
        overrides: dict[str, Any] = dict(trial.params)
        if attempts:
            if not attempts[-1].state.terminal or attempts[-1].state not in FAILURES:
                return  # still running, or succeeded/cancelled: _after_training records it
            self._classify_failure(attempts[-1])
            plan, _ = self._next_training_plan(trial)
            if plan is None:
                return  # _after_training records the end
            overrides = plan
        self._retire(attempts)
        request = job_requests.train_request(self.settings, self.search_dir, trial.trial,
                                             trial.seed, len(attempts), overrides)
        self._submit(request, trial.trial, None, len(attempts), overrides)

    def _retire(self, attempts: list[JobRecord]) -> None:
        """Before a retry: make sure the failed attempt's id can never run again. SLURM may
        requeue a NODE_FAIL'd job by itself, which would then run beside the retry."""
        if attempts and attempts[-1].job_id is not None and not attempts[-1].cancel_requested:
            self._cancel([attempts[-1]])

    def _submit_evaluations(self) -> None:
        # a job whose result is already read holds no slot, whatever sacct says (or fails to)
        live = sum(1 for j in self.state.live_jobs()
                   if j.kind == "infer" and (j.trial, j.step) not in self.state.evaluations)
        slots = self.settings.search.max_concurrent_evals - live
        for trial in self.state.active_trials():
            for step in sorted(trial.checkpoints):
                if slots <= 0:
                    return
                attempts = self.state.attempts("infer", trial.trial, step)
                if (trial.trial, step) in self.state.evaluations:
                    continue
                if attempts and (attempts[-1].live or attempts[-1].state not in FAILURES):
                    continue
                if len(attempts) > self.settings.search.eval_retries:
                    continue
                if attempts and attempts[-1].cause == failures.INPUT:
                    continue  # a retry would fail the same way: _after_inference records it
                self._retire(attempts)
                request = job_requests.infer_request(self.settings, self.search_dir, trial.trial,
                                                     step, trial.checkpoints[step],
                                                     len(attempts), trial.params)
                self._submit(request, trial.trial, step, len(attempts))
                slots -= 1

    def _submit(self, request: JobRequest, trial: int, step: int | None, attempt: int,
                overrides: dict[str, Any] | None = None) -> None:
        self.record("submit_intent", key=request.key, kind=request.kind, trial=trial, step=step,
                    attempt=attempt, folder=str(request.folder), name=request.name,
                    overrides=overrides or {})
        try:
            job_id = self.scheduler.submit(request)
        except SchedulerUnavailable as exc:
            self._unavailable(exc)  # the intent stays open: _settle_intents completes it
            return
        self.record("submitted", key=request.key, job_id=job_id)
        self._interval = self.settings.executor.poll_interval_s
        self._next_poll = min(self._next_poll, self.clock() + self._interval)

    def _settle_intents(self) -> bool:
        """Complete every submission journaled as intended but not as made (a kill, or a
        scheduler that did not answer); False while the scheduler still does not answer or
        a killed controller's submission may still appear."""
        if self._retry_submissions_at is not None and self.clock() < self._retry_submissions_at:
            return False
        if self._look_again_at is not None and self.clock() < self._look_again_at:
            return False
        self._look_again_at = None
        for job in self.state.open_intents():
            try:
                self._complete_submission(job)
            except SchedulerUnavailable as exc:
                self._unavailable(exc)
                return False
            except _NotYet as wait:
                self._look_again_at = wait.until
                return False
        if self._retry_submissions_at is not None:
            self._retry_submissions_at = None
            self._submit_backoff = self.settings.executor.poll_interval_s
            self.record("scheduler_available")
        return True

    def _unavailable(self, exc: SchedulerUnavailable) -> None:
        if self._retry_submissions_at is None:
            self.record("scheduler_unavailable", reason=str(exc))
        self._retry_submissions_at = self.clock() + self._submit_backoff
        self._submit_backoff = min(self._submit_backoff * 2,
                                   max(self.settings.executor.max_poll_interval_s, 1.0))

    def _complete_submission(self, job: JobRecord) -> None:
        """A submission journaled as intended but not as done: find it, or make it now."""
        request = self._request_for(job)
        job_id = self.scheduler.recover(request)
        if job_id is not None:
            self.record("submitted", key=job.key, job_id=job_id, recovered=True)
            return
        until = self._settle_until.pop(job.key, None)
        if until is not None and self.clock() < until:
            self._settle_until[job.key] = until
            raise _NotYet(until)  # the killed controller's sbatch may still land: look again
        trial = self.state.trials[job.trial]
        if trial.ended is not None or self.state.finished is not None:
            self.record("submitted", key=job.key, job_id=None, abandoned=True)
            return
        self.record("submitted", key=job.key, job_id=self.scheduler.submit(request))

    def _request_for(self, job: JobRecord) -> JobRequest:
        trial = self.state.trials[job.trial]
        if job.kind == "train":
            return job_requests.train_request(self.settings, self.search_dir, job.trial,
                                              trial.seed, job.attempt, job.overrides)
        assert job.step is not None
        return job_requests.infer_request(self.settings, self.search_dir, job.trial, job.step,
                                          trial.checkpoints[job.step], job.attempt,
                                          trial.params)

    # ------------------------------------------------------------------ finish
    def finish(self) -> None:
        self._retry_submissions_at = None
        # a submission made but not journaled is found, then cancelled
        while not self._settle_intents() and self._look_again_at is not None:
            self.sleep(max(self._look_again_at - self.clock(), 0.0))
        self._cancel(self._unfinished_work())
        deadline = self.clock() + self.settings.search.drain_timeout_s
        while self.state.live_jobs() and self.clock() < deadline:
            self.sleep(self.settings.executor.poll_interval_s)
            self._poll_states()
        for job in self.state.live_jobs():
            # still live after the drain: re-ask once more so it cannot linger unnoticed
            self.scheduler.cancel([job.ref])
        self._settle_training()
        if self.state.promoted is None:
            try:
                promoted = promote_best(self.state, self.rule, self.search_dir)
            except FileNotFoundError as exc:
                promoted = None
                self.record("promote_failed", reason=(
                    f"the best checkpoint is gone ({exc.filename}): something deleted it "
                    "(train.save_total_limit?); keep every checkpoint in the next search"))
            except OSError as exc:
                raise OrchestratorError(
                    f"cannot copy the best checkpoint to {self.search_dir / 'best'}: {exc}; "
                    "free space or fix permissions, then run the same command again"
                ) from exc
            if promoted is not None:
                self.record("promoted", **promoted)
        self.view.refresh(self.state)
        write_outcome(self.state, self.rule, self.search_dir)
