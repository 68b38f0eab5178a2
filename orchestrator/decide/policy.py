"""The controller's decisions that are not the stop rule: pure functions of what it knows.

Theory of operation. The controller observes (journaling facts), then asks this module
what the facts mean, then acts. Nothing here does I/O or reads a clock, so each decision
has a table test (tests/unit/test_policy.py):
- a failed training attempt: retried as it was, re-planned after running out of memory
  (the one place that halves the batch), or given up with a sentence that says why: the
  attempts to submit (`trainings_due`) and the `training_ended` of those given up
  (`given_up`);
- a failed inference: retried while `search.eval_retries` allows and its cause is not the
  input (a retry would fail the same way), else given up (`given_up`); a task that no
  evaluator ever took (it was lost because its evaluator was gone: with_training's job
  ended just after the post) ran nothing and is not counted, nor is a preempted one;
- a trial's verdict as the `trial_ended` it journals, and ended trials judged again after
  a rerun with new settings;
- the search's final status when no trial reached the target;
- which settings changed between two runs, and which of those reopen an ended search.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from orchestrator.common.causes import (
    FREE_RETRY,
    INPUT,
    NAN,
    NAN_FP16,
    NAN_RETRY_PRECISION,
    OOM,
    OTHER,
)
from orchestrator.config.settings import EarlyStop, SearchSettings, Settings, TrainSettings
from orchestrator.decide.pruning import asha_prune, hyperband_prune, median_prune
from orchestrator.decide.rungs import rung_arrivals
from orchestrator.decide.stop_rule import Mode, Rule, Verdict, decide_trial, explain
from orchestrator.decide.wilcoxon import wilcoxon_prune
from orchestrator.model.events import SearchExtended, TrainingEnded, TrialEnded
from orchestrator.model.state import JobRecord, SearchState, TrialRecord
from orchestrator.model.transitions import (
    FAILURES,
    JobKind,
    JobState,
    SearchStatus,
    Training,
    TrialEnd,
)

# settings that can change how a search ends: a rerun that changes one (with --force-resume
# where engine.folder_checks.IDENTITY holds it) journals `search_extended`, which reopens an
# ended search
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
    return Rule(s.target, Mode(s.mode), s.patience, s.min_delta, int(s.fall_grace_steps))


_INT_FIELDS = {f.name for f in fields(TrainSettings) if f.type in ("int", int)}


def typed(params: dict[str, Any]) -> dict[str, Any]:
    """Sampled values as the train settings expect them (a range over an int setting)."""
    return {k: round(v) if k in _INT_FIELDS and isinstance(v, float) else v
            for k, v in params.items()}


def trial_train(settings: Settings, trial: TrialRecord) -> TrainSettings:
    """The train settings of one trial: the search's, with its sampled values."""
    return replace(settings.train, **trial.params)


# ---------------------------------------------------------------- training and inference
@dataclass(frozen=True)
class Submit:
    """Submit the next training attempt with these train settings overridden."""

    overrides: dict[str, Any]


@dataclass(frozen=True)
class Wait:
    """Nothing to do: the last attempt still runs, or it ended without failing."""


@dataclass(frozen=True)
class GiveUp:
    """Training failed for good; `reason` is the trial's training_reason."""

    reason: str


def next_training(attempts: list[JobRecord], params: dict[str, Any], base: TrainSettings,
                  search: SearchSettings) -> Submit | Wait | GiveUp:
    """What follows a trial's training attempts so far (the last one's cause journaled).

    Out of memory: halve the per-device batch and double gradient accumulation (the
    effective batch stays the same), at most `max_oom_replans` times. A NaN loss in fp16
    (the users' own fix): once more in bf16 where the GPU has it, else fp32. Any other NaN
    loss is not retried: the same settings would diverge again; nor is an input error.
    A preempted attempt (or a held one the controller replaced) is resubmitted as it was,
    not counted: nothing failed. Anything else
    is retried as it was, `train_retries` times.
    """
    if not attempts:
        return Submit(dict(params))
    last = attempts[-1]
    if not last.state.terminal or last.state not in FAILURES:
        return Wait()
    if last.cause == INPUT:
        return GiveUp(f"{last.failure}; an input error, not retried (a retry would fail "
                      "the same way): fix it, then run again with a new search.dir")
    if last.cause == NAN_FP16 and sum(1 for a in attempts if a.cause == NAN_FP16) == 1:
        return Submit({**last.overrides, "precision": NAN_RETRY_PRECISION})
    if last.cause in (NAN, NAN_FP16):
        return GiveUp(f"{last.failure}; lower train.learning_rate or use "
                      "train.precision=fp32, then start a new search.dir")
    if last.cause in FREE_RETRY:  # preempted, orphaned, or held and replaced: nothing failed
        return Submit(dict(last.overrides))  # from its last checkpoint; not a failure
    if last.cause == OOM:
        ooms = sum(1 for a in attempts if a.cause == OOM)
        factor = 2 ** ooms
        batch = base.per_device_batch_size // factor
        if ooms > search.max_oom_replans or batch < 1:
            return GiveUp(f"out of memory {ooms} times, down to per-device batch "
                          f"{max(batch, 1) * 2}: {last.failure}; lower data.max_length or "
                          "use a larger GPU")
        # an earlier fp16-NaN fix stays: the OOM does not make fp16 converge again
        kept = {k: v for k, v in last.overrides.items() if k == "precision"}
        return Submit({**params, **kept, "per_device_batch_size": batch,
                       "grad_accum_steps": base.grad_accum_steps * factor})
    if sum(1 for a in attempts if a.cause == OTHER) > search.train_retries:
        return GiveUp(last.failure)
    return Submit(dict(last.overrides))


def training_plan(state: SearchState, settings: Settings,
                  trial: TrialRecord) -> Submit | Wait | GiveUp:
    """What follows one trial's training attempts so far (`next_training`)."""
    last = state.last_attempt("train", trial.trial)
    if last is not None and not last.state.terminal:
        return Wait()  # next_training's answer, without copying attempts or building settings
    attempts = state.attempts("train", trial.trial)
    return next_training(attempts, trial.params, trial_train(settings, trial), settings.search)


def trainings_due(state: SearchState,
                  settings: Settings) -> list[tuple[TrialRecord, list[JobRecord], Submit]]:
    """The training attempts to submit now, in trial order, with each trial's attempts so
    far: a first attempt, or the retry of a failed one."""
    due = []
    # only these can be due (next_training): the others' last attempt runs or succeeded
    failed = {t for kind, t, _ in state.failed_work() if kind == JobKind.TRAIN}
    for trial in _active(state, sorted(state.untrained() | failed)):
        if trial.training == Training.RUNNING:
            plan = training_plan(state, settings, trial)
            if isinstance(plan, Submit):
                due.append((trial, state.attempts("train", trial.trial), plan))
    return due


@dataclass(frozen=True)
class EvaluationFailed:
    """A checkpoint's evaluation that failed for good: `job`, its last attempt, is not
    retried (the engine journals it as an `evaluation` without a value)."""

    trial: TrialRecord
    step: int
    job: JobRecord


def given_up(state: SearchState, settings: Settings) -> list[TrainingEnded | EvaluationFailed]:
    """Failed work that is not retried, in trial order, each trial's training before its
    checkpoints (in step order): its training as the `training_ended` it journals, and its
    evaluations. The last attempts' causes are journaled before (the observer's)."""
    ended: list[TrainingEnded | EvaluationFailed] = []
    # only work whose last attempt failed can be given up (next_training, the test below)
    failed = state.failed_work()
    for trial in _active(state, sorted({t for _, t, _ in failed})):
        if trial.training == Training.RUNNING and (JobKind.TRAIN, trial.trial, None) in failed:
            plan = training_plan(state, settings, trial)
            if isinstance(plan, GiveUp):
                ended.append(TrainingEnded(trial=trial.trial, outcome=Training.FAILED,
                                           reason=plan.reason))
        for step in sorted(s for k, t, s in failed if k == JobKind.INFER and t == trial.trial
                           and s in trial.checkpoints):
            last = state.last_attempt("infer", trial.trial, step)
            if (last is not None and last.state in FAILURES
                    and (trial.trial, step) not in state.evaluations
                    and not may_retry_inference(state.attempts("infer", trial.trial, step),
                                                settings.search.eval_retries)):
                ended.append(EvaluationFailed(trial, step, last))
    return ended


def _active(state: SearchState, numbers: list[int]) -> list[TrialRecord]:
    """The active trials among `numbers`, in that order."""
    return [state.trials[n] for n in numbers if n in state.trials and state.trials[n].ended is None]


def evaluate(attempts: list[JobRecord], eval_retries: int) -> bool:
    """Whether to submit an evaluation of a checkpoint that has no result yet: its first,
    or a retry of a failed one (not while one runs, nor after one ended without failing)."""
    if attempts and attempts[-1].state not in FAILURES:
        return False
    return may_retry_inference(attempts, eval_retries)


def evaluations_due(state: SearchState,
                    search: SearchSettings) -> list[tuple[TrialRecord, int, list[JobRecord]]]:
    """The checkpoints to evaluate now, oldest step first across trials (then by trial),
    with their attempts so far: as many as `max_concurrent_evals` leaves room for."""
    # a job whose result is already read holds no slot, whatever sacct says (or fails to)
    live = state.memo("evaluating", lambda: sum(
        1 for j in state.live_jobs()
        if j.kind == JobKind.INFER and (j.trial, j.step) not in state.evaluations))
    if live >= search.max_concurrent_evals:
        return []  # no room: what is pending need not even be listed
    # step before trial: concurrent trials advance together, so the early-stop rules meet
    # them at equal steps as soon as they can; trial before step, the first trial's backlog
    # took every slot and the others were compared only after it had ended
    pending = sorted(((step, trial) for trial in state.active_trials()
                      for step in state.unevaluated(trial.trial)),
                     key=lambda pair: (pair[0], pair[1].trial))
    room = search.max_concurrent_evals - live
    due: list[tuple[TrialRecord, int, list[JobRecord]]] = []
    for step, trial in pending:  # the first `room` that `evaluate` takes
        if len(due) >= room:
            break
        last = state.last_attempt(JobKind.INFER, trial.trial, step)
        if last is not None and last.state not in FAILURES:
            continue  # evaluate's answer (False), without copying the attempts
        attempts = state.attempts(JobKind.INFER, trial.trial, step)
        if evaluate(attempts, search.eval_retries):
            due.append((trial, step, attempts))
    return due


def may_retry_inference(attempts: list[JobRecord], eval_retries: int) -> bool:
    """Whether a checkpoint whose evaluations so far failed is submitted (once more)."""
    # one task lost before any evaluator took it is free; only one, so that a queue that
    # keeps losing tasks (its folder deleted under the controller) cannot loop
    free = 1 if any(_never_taken(a) for a in attempts) else 0
    free += sum(1 for a in attempts if a.cause in FREE_RETRY)  # nothing failed: not counted
    return (len(attempts) - free <= eval_retries
            and not (attempts and attempts[-1].cause == INPUT))


def _never_taken(attempt: JobRecord) -> bool:
    """A task lost before any evaluator claimed it: it ran nothing. Its retry goes to a job
    (placement.queue_for: no evaluator serves that queue any more)."""
    return bool(attempt.queue) and not attempt.runner and attempt.state is JobState.LOST


# ---------------------------------------------------------------- trials and the search
def op(rule: Rule) -> str:
    return ">=" if rule.mode is Mode.MAX else "<="


def best_value(results: Mapping[int, float | None], rule: Rule) -> float | None:
    """A trial's best metric (None: no usable one), as the sampler is told it."""
    values = [v for v in results.values() if v is not None]
    return (max if rule.mode is Mode.MAX else min)(values) if values else None


def verdict(rule: Rule, trial: TrialRecord, results: Mapping[int, float | None],
            metric: str) -> tuple[TrialEnd, int | None, str] | None:
    """How an active trial ends now (how, step, reason), or None while it goes on."""
    ended = trial.training != Training.RUNNING
    decision = decide_trial(rule, list(trial.checkpoints), results, ended)
    if decision.verdict is Verdict.CONTINUE:
        return None  # most ticks: no sentence to build
    why = explain(rule, decision, metric)
    if decision.verdict is Verdict.TARGET_REACHED:
        return TrialEnd.TARGET_REACHED, decision.step, why
    if decision.verdict is Verdict.METRIC_FELL:
        return TrialEnd.METRIC_FELL, decision.step, why
    if trial.training == Training.SUCCEEDED:
        return TrialEnd.COMPLETE, None, why
    return TrialEnd.TRAIN_FAILED, None, trial.training_reason


# (result path, split, metric) -> that result's per-example scores (common.example_scores)
ScoreReader = Callable[[str, str, str], Sequence[float] | None]


def pruned(rule: Rule, state: SearchState, settings: Settings,
           read: ScoreReader | None = None) -> list[tuple[int, int, str]]:
    """Active trials search.early_stop stops now: (trial, step, reason). Hyperband's last
    step is search.early_stop_max_resource, or train.max_steps where that is 0; Wilcoxon
    reads the per-example scores of the results the journal names with `read`."""
    search, max_steps = settings.search, settings.train.max_steps
    active = {t.trial for t in state.active_trials()}
    if search.early_stop == EarlyStop.WILCOXON:
        arrivals = [(t, s, v) for (t, s), v in state.all_results().items()]
        evals, reader = state.evaluations, read or (lambda *_: None)
        cut = wilcoxon_prune(
            rule, arrivals, active,
            lambda t, s: reader(evals[t, s].result, evals[t, s].split, search.metric),
            search.early_stop_min_trials, search.early_stop_grace_steps,
            search.early_stop_p_threshold)
        return [(w.trial, w.step, w.explain(search.metric)) for w in cut]
    if search.early_stop in (EarlyStop.ASHA, EarlyStop.HYPERBAND):
        # journal order (who reached a rung first is the journal's word), each trial's
        # results in its steps' order (a later checkpoint's result waits for the earlier)
        arrivals = rung_arrivals(state)
        grace, eta = search.early_stop_grace_steps, search.early_stop_reduction_factor
        cuts = (asha_prune(rule, arrivals, active, search.early_stop_min_trials, grace, eta)
                if search.early_stop == EarlyStop.ASHA else hyperband_prune(
                    rule, arrivals, active, search.early_stop_min_trials, grace,
                    search.early_stop_max_resource or max_steps, eta))
        return [(c.trial, c.step, c.explain(search.metric)) for c in cuts]
    if search.early_stop != EarlyStop.MEDIAN:
        return []
    results = {t: state.results(t) for t in state.trials}
    return [(v.trial, v.step, v.explain(search.metric))
            for v in median_prune(rule, results, active, search.early_stop_min_trials,
                                  search.early_stop_grace_steps)]


def unfinished_work(state: SearchState) -> list[JobRecord]:
    """Live jobs still worth cancelling: not already cancelled, and not an inference
    job whose result is in (it is finishing; cancelling it would show a decisive
    evaluation as CANCELLED in sacct and hold the finish for KillWait)."""
    return list(state.memo("unfinished_work", lambda: tuple(
        j for j in state.live_jobs() if not j.cancel_requested
        and not (j.kind == JobKind.INFER and (j.trial, j.step) in state.evaluations))))


def rejudged(rule: Rule, state: SearchState, metric: str) -> list[TrialEnded]:
    """The `trial_ended` events that judge ended trials by the latest rule: none while the
    journal already says what the rule does (so calling it again records nothing)."""
    assert isinstance(state.current, SearchExtended)
    changes = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in state.current.changed.items())
    ended: list[TrialEnded] = []
    for trial in [t for t in state.trials.values() if t.ended is not None]:
        decision = decide_trial(rule, list(trial.checkpoints), state.results(trial.trial), True)
        if decision.verdict is Verdict.TARGET_REACHED:
            if (trial.ended, trial.ended_step) != (TrialEnd.TARGET_REACHED, decision.step):
                ended.append(TrialEnded(
                    trial=trial.trial, how=TrialEnd.TARGET_REACHED, step=decision.step,
                    reason=f"re-judged: reaches {metric} {op(rule)} {rule.target}"))
        elif trial.ended == TrialEnd.TARGET_REACHED:  # never the old outcome as the new one's
            ended.append(TrialEnded(
                trial=trial.trial, how=TrialEnd.STOPPED, step=trial.ended_step,
                reason=(f"reached the target under the earlier settings ({changes}), "
                        f"not {metric} {op(rule)} {rule.target}")))
    return ended


def nothing_new(rule: Rule, search: SearchSettings,
                extended_with: tuple[int, dict[str, list[Any]]] | None, trials: int) -> str:
    """Why a search that this run reopened (with `extended_with`: the trials there were
    and the settings that changed) ended without a new trial, else ''."""
    if extended_with is None or trials > extended_with[0]:
        return ""
    changed = extended_with[1]
    changes = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in changed.items())
    return (f"re-judged under the new settings ({changes}): no evaluated checkpoint "
            f"reaches {search.metric} {op(rule)} {rule.target} and "
            f"search.max_trials={search.max_trials} allows no new trial")


def final_status(state: SearchState) -> SearchStatus:
    """Without the target: how the last trial ended says how the search ended."""
    if not state.trials:
        return SearchStatus.FAILED
    last = state.trials[max(state.trials)]
    usable = [v for v in state.all_results().values() if v is not None]
    if not usable or all(t.ended == TrialEnd.TRAIN_FAILED for t in state.trials.values()):
        return SearchStatus.FAILED
    if last.ended == TrialEnd.METRIC_FELL:
        return SearchStatus.METRIC_FELL
    return SearchStatus.EXHAUSTED
