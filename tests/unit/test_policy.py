"""The controller's pure decisions (orchestrator.decide.policy), one table each; the same decisions
run end to end against the in-memory scheduler in test_controller_logic.py."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from orchestrator.config.settings import (
    DataSettings,
    ExecutorSettings,
    InferSettings,
    ModelSettings,
    SearchSettings,
    Settings,
    TrainSettings,
)
from orchestrator.decide import policy
from orchestrator.decide.policy import GiveUp, Submit, Wait
from orchestrator.decide.stop_rule import Mode, Rule
from orchestrator.engine.cadence import Cadence
from orchestrator.model import events
from orchestrator.model.events import TrialEnded, decode
from orchestrator.model.state import JobRecord, SearchState, TrialRecord
from orchestrator.model.transitions import JobKind, JobState, Training, TrialEnd

BASE = TrainSettings(per_device_batch_size=64, grad_accum_steps=2)
SEARCH = SearchSettings(target=0.8, train_retries=1, max_oom_replans=2)


def attempt(state: JobState, cause: str | None = None, failure: str = "",
            overrides: dict[str, Any] | None = None, n: int = 0) -> JobRecord:
    return JobRecord(f"train-t001-a{n}", JobKind.TRAIN, 1, None, n, "f", f"s-train-{n}",
                     job_id=str(100 + n), state=state, cause=cause, failure=failure,
                     overrides=overrides or {})


def attempts(*specs: tuple[JobState, str | None]) -> list[JobRecord]:
    return [attempt(s, c, f"boom {i}", n=i) for i, (s, c) in enumerate(specs)]


F, OOM, P = JobState.FAILED, JobState.OUT_OF_MEMORY, JobState.PREEMPTED
NEXT_TRAINING = [
    # (attempts so far, params, what follows)
    ([], {"learning_rate": 1e-3}, Submit({"learning_rate": 1e-3})),
    (attempts((JobState.RUNNING, None)), {}, Wait()),
    (attempts((JobState.PENDING, None)), {}, Wait()),
    (attempts((JobState.SUCCEEDED, None)), {}, Wait()),
    (attempts((JobState.CANCELLED, None)), {}, Wait()),
    # anything else: retried as it was, train_retries (1) times
    ([attempt(F, "other", overrides={"seed": 3})], {}, Submit({"seed": 3})),
    (attempts((F, "other"), (JobState.NODE_FAIL, "other")), {}, GiveUp("boom 1")),
    # preempted: resubmitted as it was, however often, and not one of the retries
    ([attempt(P, "preempted", overrides={"seed": 3})], {}, Submit({"seed": 3})),
    (attempts((P, "preempted"), (P, "preempted"), (P, "preempted"), (F, "other")), {},
     Submit({})),
    (attempts((P, "preempted"), (F, "other"), (F, "other")), {}, GiveUp("boom 2")),
    # orphaned (it ended itself, its controller gone: search.orphan_grace_s): as preempted
    ([attempt(F, "orphaned", overrides={"seed": 3})], {}, Submit({"seed": 3})),
    (attempts((F, "orphaned"), (F, "orphaned"), (F, "other")), {}, Submit({})),
    # out of memory: the same effective batch, at most max_oom_replans (2) times
    (attempts((OOM, "oom")), {"learning_rate": 1e-3},
     Submit({"learning_rate": 1e-3, "per_device_batch_size": 32, "grad_accum_steps": 4})),
    (attempts((OOM, "oom"), (F, "oom")), {},
     Submit({"per_device_batch_size": 16, "grad_accum_steps": 8})),
    (attempts((OOM, "oom"), (OOM, "oom"), (OOM, "oom")), {},
     GiveUp("out of memory 3 times, down to per-device batch 16: boom 2; lower "
            "data.max_length or use a larger GPU")),
    # an OOM re-plan does not use up the other retries, nor the other way round
    (attempts((F, "other"), (OOM, "oom")), {},
     Submit({"per_device_batch_size": 32, "grad_accum_steps": 4})),
    # never retried: the input, a NaN loss
    (attempts((F, "input")), {},
     GiveUp("boom 0; an input error, not retried (a retry would fail the same way): fix "
            "it, then run again with a new search.dir")),
    (attempts((F, "nan")), {},
     GiveUp("boom 0; lower train.learning_rate or use train.precision=fp32, then start a "
            "new search.dir")),
    # a NaN loss in fp16: once more in bf16 (where the GPU has it) or fp32, keeping what an
    # earlier re-plan changed; a second NaN, in any precision, gives up
    (attempts((F, "nan_fp16")), {}, Submit({"precision": "bf16_or_fp32"})),
    ([attempt(F, "nan_fp16", overrides={"per_device_batch_size": 32, "grad_accum_steps": 4})],
     {}, Submit({"per_device_batch_size": 32, "grad_accum_steps": 4,
                 "precision": "bf16_or_fp32"})),
    (attempts((OOM, "oom"), (F, "nan_fp16")), {}, Submit({"precision": "bf16_or_fp32"})),
    # ... and an OOM re-plan after it keeps the precision fix (not fp16 again)
    ([attempt(F, "nan_fp16"),
      attempt(OOM, "oom", overrides={"precision": "bf16_or_fp32", "seed": 3}, n=1)],
     {"learning_rate": 1e-3},
     Submit({"learning_rate": 1e-3, "precision": "bf16_or_fp32", "per_device_batch_size": 32,
             "grad_accum_steps": 4})),
    ([attempt(F, "nan_fp16"), attempt(OOM, "oom", overrides={"precision": "bf16_or_fp32"}, n=1),
      attempt(F, "other", overrides={"precision": "bf16_or_fp32", "per_device_batch_size": 32,
                                     "grad_accum_steps": 4}, n=2),
      attempt(OOM, "oom", overrides={"precision": "bf16_or_fp32", "per_device_batch_size": 32,
                                     "grad_accum_steps": 4}, n=3)],
     {}, Submit({"precision": "bf16_or_fp32", "per_device_batch_size": 16,
                 "grad_accum_steps": 8})),
    (attempts((F, "nan_fp16"), (F, "nan")), {},
     GiveUp("boom 1; lower train.learning_rate or use train.precision=fp32, then start a "
            "new search.dir")),
    (attempts((F, "nan_fp16"), (F, "nan_fp16")), {},
     GiveUp("boom 1; lower train.learning_rate or use train.precision=fp32, then start a "
            "new search.dir")),
]


@pytest.mark.parametrize(("done", "params", "expected"), NEXT_TRAINING)
def test_what_follows_a_trials_training_attempts(done: list[JobRecord], params: dict[str, Any],
                                                 expected: Submit | Wait | GiveUp) -> None:
    assert policy.next_training(done, params, BASE, SEARCH) == expected


def test_an_oom_replan_that_reaches_batch_one_gives_up() -> None:
    small = replace(BASE, per_device_batch_size=2)
    many = replace(SEARCH, max_oom_replans=5)
    assert policy.next_training(attempts((OOM, "oom")), {}, small, many) == Submit(
        {"per_device_batch_size": 1, "grad_accum_steps": 4})
    assert isinstance(policy.next_training(attempts((OOM, "oom"), (OOM, "oom")), {}, small,
                                           many), GiveUp)


def infer(state: JobState, cause: str | None = None, n: int = 0) -> JobRecord:
    return JobRecord(f"infer-t001-s00000100-a{n}", JobKind.INFER, 1, 100, n, "f", f"s-infer-{n}",
                     job_id=str(n), state=state, cause=cause)


def task(state: JobState, runner: str, cause: str | None = "other", n: int = 0) -> JobRecord:
    """An evaluation handed to an evaluator (infer.placement): `runner` "" if none took it."""
    return replace(infer(state, cause, n), job_id=f"task:{n}", queue="trial-001", runner=runner)


EVALUATE = [
    # (attempts so far, eval_retries, submit one now?, may a failure be retried?)
    ([], 2, True, True),
    ([infer(JobState.RUNNING)], 2, False, True),
    ([infer(JobState.SUCCEEDED)], 2, False, True),  # its result is on its way
    ([infer(JobState.CANCELLED)], 2, False, True),
    ([infer(F, "other")], 2, True, True),
    ([infer(F, "other"), infer(F, "other", 1)], 1, False, False),
    ([infer(F, "other")], 0, False, False),
    ([infer(F, "input")], 2, False, False),  # a retry would fail the same way
    ([infer(JobState.LOST, "other")], 2, True, True),
    # a task no evaluator took (its evaluator was gone) ran nothing: not one of the retries
    ([task(JobState.LOST, runner="")], 0, True, True),
    ([task(JobState.LOST, runner=""), infer(F, "other", 1)], 0, False, False),
    ([task(JobState.LOST, runner=""), task(JobState.LOST, runner="", n=1)], 0, False, False),
    ([task(JobState.LOST, runner="7")], 0, False, False),  # it died evaluating it: counted
    ([task(F, runner="7")], 0, False, False),
    # a preempted evaluation failed at nothing: never one of the retries
    ([infer(P, "preempted"), infer(P, "preempted", 1)], 0, True, True),
    ([infer(P, "preempted"), infer(F, "other", 1)], 0, False, False),
    ([infer(F, "orphaned"), task(F, runner="7", cause="orphaned", n=1)], 0, True, True),
]


@pytest.mark.parametrize(("done", "retries", "submit", "retry"), EVALUATE)
def test_when_a_checkpoint_is_evaluated_again(done: list[JobRecord], retries: int,
                                              submit: bool, retry: bool) -> None:
    assert policy.evaluate(done, retries) is submit
    assert policy.may_retry_inference(done, retries) is retry


def settings(eval_retries: int = 2) -> Settings:
    return Settings(search=replace(SEARCH, eval_retries=eval_retries),
                    executor=ExecutorSettings(), data=DataSettings(), model=ModelSettings(),
                    train=BASE, infer=InferSettings())


def journaled(*work: tuple[str, int, int | None, JobState, str | None],
              evaluated: tuple[tuple[int, int], ...] = (), trials: int = 1) -> SearchState:
    """A state with `trials` trials (checkpoints 100 and 200) and attempts (kind, trial,
    step, state, cause), each a job that ran and ended as said."""
    state = SearchState()
    for n in range(1, trials + 1):
        state.apply(events.TrialStarted(trial=n, seed=42, output_dir=f"t{n}",
                                        params={"learning_rate": 1e-3}, sampler_trial=None))
        for saved in (100, 200):
            state.apply(events.Checkpoint(trial=n, step=saved, path=f"c{n}-{saved}"))
    for n, (kind, number, step, ended, cause) in enumerate(work):
        key = f"{kind}-t{number}-s{step}-a{n}"
        state.apply(events.SubmitIntent(key=key, kind=JobKind(kind), trial=number, step=step,
                                        attempt=n, folder="f", name=key, overrides={}))
        state.apply(events.Submitted(key=key, job_id=str(n)))
        state.apply(events.JobStateChanged(key=key, job_id=str(n), state=ended))
        if cause is not None:
            state.apply(events.JobFailed(key=key, cause=cause, reason=f"boom {n}"))
    for number, step in evaluated:
        state.apply(events.Evaluation(trial=number, step=step, value=0.5, job_id="9",
                                      checkpoint=f"c{number}-{step}"))
    return state


INPUT_GIVE_UP = ("boom 0; an input error, not retried (a retry would fail the same way): "
                 "fix it, then run again with a new search.dir")
GIVEN_UP = [
    # (attempts, evaluated, eval_retries, what is given up: trial and step (None: training))
    ([], (), 2, []),
    ([("train", 1, None, JobState.RUNNING, None)], (), 2, []),
    ([("train", 1, None, F, "other")], (), 2, []),  # retried
    ([("train", 1, None, F, "input")], (), 2, [(1, None)]),
    ([("infer", 1, 100, F, "other")], (), 2, []),  # retried
    ([("infer", 1, 100, F, "other")], (), 0, [(1, 100)]),
    ([("infer", 1, 100, F, "other")], ((1, 100),), 0, []),  # its result came after all
    ([("infer", 1, 100, JobState.CANCELLED, None)], (), 0, []),  # the observer's to say
    ([("infer", 1, 100, F, "input")], (), 2, [(1, 100)]),
    # in trial order, each trial's training before its checkpoints, in step order
    ([("infer", 2, 200, F, "input"), ("infer", 2, 100, F, "input"),
      ("train", 2, None, F, "nan"), ("infer", 1, 200, F, "input")], (), 2,
     [(1, 200), (2, None), (2, 100), (2, 200)]),
]


@pytest.mark.parametrize(("work", "evaluated", "retries", "expected"), GIVEN_UP)
def test_failed_work_that_is_given_up(work: list[tuple[str, int, int | None, JobState,
                                                       str | None]],
                                      evaluated: tuple[tuple[int, int], ...], retries: int,
                                      expected: list[tuple[int, int | None]]) -> None:
    state = journaled(*work, evaluated=evaluated, trials=2)
    given_up = policy.given_up(state, settings(retries))
    assert [(g.trial, None) if isinstance(g, events.TrainingEnded) else
            (g.trial.trial, g.step) for g in given_up] == expected
    for g in given_up:
        if isinstance(g, policy.EvaluationFailed):
            assert g.job is state.attempts("infer", g.trial.trial, g.step)[-1]


def test_a_training_given_up_is_journaled_with_the_reason_that_says_why() -> None:
    state = journaled(("train", 1, None, F, "input"))
    assert policy.given_up(state, settings()) == [
        events.TrainingEnded(trial=1, outcome=Training.FAILED, reason=INPUT_GIVE_UP)]
    assert policy.trainings_due(state, settings()) == []


TRAININGS_DUE = [
    # (attempts of trial 1's training, how its training is journaled, what is submitted)
    ([], None, Submit({"learning_rate": 1e-3})),
    ([(JobState.RUNNING, None)], None, None),
    ([(F, "other")], None, Submit({})),
    ([(OOM, "oom")], None, Submit({"learning_rate": 1e-3, "per_device_batch_size": 32,
                                   "grad_accum_steps": 4})),
    ([(F, "input")], None, None),  # given up instead
    ([], Training.SUCCEEDED, None),  # its training has ended
]


@pytest.mark.parametrize(("train", "ended", "expected"), TRAININGS_DUE)
def test_the_training_attempts_to_submit(train: list[tuple[JobState, str | None]],
                                         ended: Training | None,
                                         expected: Submit | None) -> None:
    state = journaled(*[("train", 1, None, s, c) for s, c in train])
    if ended is not None:
        state.apply(events.TrainingEnded(trial=1, outcome=ended))
    due = policy.trainings_due(state, settings())
    assert [plan for _, _, plan in due] == ([] if expected is None else [expected])
    for trial_record, done, _ in due:
        assert trial_record is state.trials[1] and done == state.attempts("train", 1)


RULE = Rule(0.8, Mode.MAX)


def trial(n: int = 1, *, training: str = "running", ended: str | None = None,
          step: int | None = None, checkpoints: tuple[int, ...] = (100, 200),
          reason: str = "") -> TrialRecord:
    return TrialRecord(n, 42, f"t{n}", checkpoints={s: f"c{s}" for s in checkpoints},
                       training=Training(training), training_reason=reason,
                       ended=None if ended is None else TrialEnd(ended), ended_step=step)


VERDICTS = [
    # (trial, results, how it ends now or None)
    (trial(), {100: 0.7}, None),
    (trial(), {100: 0.7, 200: 0.85}, ("target_reached", 200,
                                      "accuracy 0.8500 reached the target 0.8 at step 200")),
    (trial(), {100: 0.7, 200: 0.6}, ("metric_fell", 200,
                                     "accuracy fell 0.7000 -> 0.6000 at step 200 (patience 1)")),
    (trial(training="succeeded"), {100: 0.7, 200: 0.75}, ("complete", None, (
        "training ended; none of its 2 evaluated checkpoints reached the target 0.8 (best "
        "accuracy 0.7500)"))),
    (trial(training="failed", reason="train job 3 ended FAILED"), {100: 0.7, 200: 0.75},
     ("train_failed", None, "train job 3 ended FAILED")),
    (trial(training="failed", reason="why", checkpoints=()), {}, ("train_failed", None, "why")),
]


@pytest.mark.parametrize(("record", "results", "expected"), VERDICTS)
def test_how_an_active_trial_ends(record: TrialRecord, results: dict[int, float | None],
                                  expected: tuple[str, int | None, str] | None) -> None:
    assert policy.verdict(RULE, record, results, "accuracy") == expected


# fields these tables do not vary, as today's controller journals them
_UNVARIED: dict[str, dict[str, Any]] = {
    "trial_started": {"params": {}, "sampler_trial": None},
    "submit_intent": {"overrides": {}},
    "trial_ended": {"reason": ""},
    "evaluation": {"checkpoint": ""},
}


def replay(raw: list[dict[str, Any]]) -> SearchState:
    """The state after these journal lines (given with the fields that matter here)."""
    lines = [{**_UNVARIED.get(e["event"], {}), **e} for e in raw]
    for line in lines:
        if line["event"] == "submit_intent":
            line.setdefault("name", f"search-{line['key']}")
    return SearchState.replay(decode(line, f"test line {i}") for i, line in enumerate(lines))


def state_of(trials: list[TrialRecord],
             results: dict[tuple[int, int], float | None]) -> SearchState:
    events: list[dict[str, Any]] = [
        {"event": "search_started", "t": 0.0, "settings": {}},
        {"event": "search_extended", "t": 1.0, "settings": {},
         "changed": {"search.target": [0.7, 0.8]}}]
    for t in trials:
        events.append({"event": "trial_started", "t": 1.0, "trial": t.trial, "seed": 42,
                       "output_dir": t.output_dir})
        if t.ended is not None:
            events.append({"event": "trial_ended", "t": 1.0, "trial": t.trial, "how": t.ended,
                           "step": t.ended_step})
    for (n, step), value in results.items():
        events.append({"event": "evaluation", "t": 1.0, "trial": n, "step": step,
                       "value": value, "job_id": None})
    return replay(events)


FINAL = [
    # (how each trial ended, results, the search's status)
    ([], {}, "failed"),
    (["train_failed", "train_failed"], {(1, 100): 0.5}, "failed"),
    (["metric_fell"], {(1, 100): None}, "failed"),  # no usable result
    (["complete", "metric_fell"], {(1, 100): 0.5}, "metric_fell"),
    (["metric_fell", "complete"], {(1, 100): 0.5}, "exhausted"),
    (["metric_fell", "train_failed"], {(1, 100): 0.5}, "exhausted"),
    (["pruned", "stopped"], {(1, 100): 0.5}, "exhausted"),
]


@pytest.mark.parametrize(("ends", "results", "status"), FINAL)
def test_the_final_status_without_the_target(ends: list[str],
                                             results: dict[tuple[int, int], float | None],
                                             status: str) -> None:
    trials = [trial(n, ended=how) for n, how in enumerate(ends, 1)]
    assert policy.final_status(state_of(trials, results)) == status


REJUDGED = [
    # (trial 1 as it ended, its results, the trial_ended recorded under target 0.8)
    (trial(ended="target_reached", step=100), {(1, 100): 0.75, (1, 200): 0.85},
     [{"trial": 1, "how": "target_reached", "step": 200,
       "reason": "re-judged: reaches accuracy >= 0.8"}]),
    (trial(ended="target_reached", step=200), {(1, 100): 0.75, (1, 200): 0.85}, []),
    (trial(ended="target_reached", step=100), {(1, 100): 0.75}, [
        {"trial": 1, "how": "stopped", "step": 100, "reason": (
            "reached the target under the earlier settings (search.target 0.7 -> 0.8), not "
            "accuracy >= 0.8")}]),
    (trial(ended="metric_fell", step=200), {(1, 100): 0.82, (1, 200): 0.7},
     [{"trial": 1, "how": "target_reached", "step": 100,
       "reason": "re-judged: reaches accuracy >= 0.8"}]),
    (trial(ended="metric_fell", step=200), {(1, 100): 0.75, (1, 200): 0.7}, []),
    (trial(), {(1, 100): 0.9}, []),  # active trials are the stop rule's
]


@pytest.mark.parametrize(("record", "results", "expected"), REJUDGED)
def test_ended_trials_rejudged_under_new_settings(
        record: TrialRecord, results: dict[tuple[int, int], float | None],
        expected: list[dict[str, Any]]) -> None:
    assert policy.rejudged(RULE, state_of([record], results), "accuracy") == [
        TrialEnded(**fields) for fields in expected]


@pytest.mark.parametrize(("extended_with", "trials", "empty"), [
    (None, 1, True), ((1, {"search.target": [0.7, 0.8]}), 2, True),
    ((1, {"search.target": [0.7, 0.8]}), 1, False)])
def test_why_a_reopened_search_ended_without_a_new_trial(
        extended_with: tuple[int, dict[str, list[Any]]] | None, trials: int,
        empty: bool) -> None:
    why = policy.nothing_new(RULE, SEARCH, extended_with, trials)
    assert (why == "") is empty
    if not empty:
        assert why == ("re-judged under the new settings (search.target 0.7 -> 0.8): no "
                       "evaluated checkpoint reaches accuracy >= 0.8 and "
                       "search.max_trials=1 allows no new trial")


@pytest.mark.parametrize(("before", "now", "changed"), [
    ({"search": {"target": 0.8}}, {"search": {"target": 0.8}}, {}),
    ({"search": {"target": 0.8}}, {"search": {"target": 0.9}}, {"search.target": [0.8, 0.9]}),
    # a journal from before search.split existed meant the test split
    ({"search": {}}, {"search": {"split": "test"}}, {}),
    ({"search": {}}, {"search": {"split": "validation"}},
     {"search.split": ["test", "validation"]}),
    # compared as JSON: a tuple and a list are the same setting
    ({"data": {"labels": ["a", "b"]}}, {"data": {"labels": ("a", "b")}}, {}),
])
def test_changed_settings(before: dict[str, Any], now: dict[str, Any],
                          changed: dict[str, list[Any]]) -> None:
    keys = tuple(k for k in ("search.target", "search.split", "data.labels")
                 if k.split(".")[0] in before)
    assert policy.changed_settings(before, now, keys) == changed


def test_sampled_values_are_typed_as_the_train_settings_expect() -> None:
    typed = policy.typed({"save_steps": 12.6, "warmup_steps": 12.6, "learning_rate": 1e-3,
                          "seed": 3.0, "per_device_batch_size": 16})
    assert typed == {"save_steps": 13, "warmup_steps": 12.6, "learning_rate": 1e-3, "seed": 3,
                     "per_device_batch_size": 16}
    assert isinstance(typed["seed"], int)


@pytest.mark.parametrize(("mode", "best"), [(Mode.MAX, 0.9), (Mode.MIN, 0.2)])
def test_the_best_value_told_to_the_sampler(mode: Mode, best: float) -> None:
    rule = Rule(0.5, mode)
    assert policy.best_value({100: 0.2, 200: None, 300: 0.9}, rule) == best
    assert policy.best_value({100: None}, rule) is None


def test_unfinished_work_spares_a_finishing_evaluation_and_what_was_cancelled() -> None:
    state = replay([
        {"event": "trial_started", "t": 0.0, "trial": 1, "seed": 42, "output_dir": "t1"},
        *[{"event": "submit_intent", "t": 0.0, "key": k, "kind": k[:5].strip("-"),
           "trial": 1, "step": s, "attempt": 0, "folder": "f"}
          for k, s in [("train-t001-a0", None), ("infer-t001-s100", 100),
                       ("infer-t001-s200", 200), ("infer-t001-s300", 300)]],
        *[{"event": "submitted", "t": 0.0, "key": k, "job_id": str(i)}
          for i, k in enumerate(["train-t001-a0", "infer-t001-s100", "infer-t001-s200",
                                 "infer-t001-s300"])],
        {"event": "evaluation", "t": 1.0, "trial": 1, "step": 100, "value": 0.5,
         "job_id": "1"},
        {"event": "cancel", "t": 1.0, "keys": ["infer-t001-s300"], "job_ids": ["3"]},
    ])
    assert [j.key for j in policy.unfinished_work(state)] == ["train-t001-a0",
                                                              "infer-t001-s200"]


def test_the_poll_cadence_backs_off_and_comes_back() -> None:
    now = [0.0]
    cadence = Cadence(1.0, 4.0, lambda: now[0])
    assert cadence.due(0.0)
    intervals = []
    for changed in (False, False, False, False, True):
        cadence.polled(now[0], changed)
        intervals.append(cadence.interval_s)
    assert intervals == [1.5, 2.25, 3.375, 4.0, 1.0]
    cadence.polled(10.0, False)
    assert cadence.next_poll == 11.5 and not cadence.due(11.0) and cadence.due(11.5)
    now[0] = 10.2
    cadence.submitted()  # a new job: the shortest interval, from now
    assert (cadence.interval_s, cadence.next_poll) == (1.0, 11.2)
    cadence.cancelled()  # see the cancellations at the next tick
    assert cadence.due(10.2)


def test_evaluations_due_oldest_step_first_up_to_the_concurrency_limit() -> None:
    events: list[dict[str, Any]] = [
        {"event": "trial_started", "t": 0.0, "trial": n, "seed": 42, "output_dir": f"t{n}"}
        for n in (1, 2)]
    events += [{"event": "checkpoint", "t": 0.0, "trial": n, "step": s, "path": f"c{s}"}
               for n in (1, 2) for s in (100, 200, 300)]

    def job(key: str, trial: int, step: int, job_id: str, state: str) -> list[dict[str, Any]]:
        return [{"event": "submit_intent", "t": 0.0, "key": key, "kind": "infer",
                 "trial": trial, "step": step, "attempt": 0, "folder": "f"},
                {"event": "submitted", "t": 0.0, "key": key, "job_id": job_id},
                {"event": "job_state", "t": 0.0, "key": key, "job_id": job_id, "state": state}]

    events += job("i-1-100", 1, 100, "1", "RUNNING")  # holds a slot
    events += job("i-1-200", 1, 200, "2", "RUNNING")  # its result is in: holds none
    events += [{"event": "evaluation", "t": 0.0, "trial": 1, "step": 200, "value": 0.5,
                "job_id": "2"}]
    events += job("i-2-100", 2, 100, "3", "FAILED")  # a retry is due
    state = replay(events)

    def due(limit: int) -> list[tuple[int, int, int]]:
        search = replace(SEARCH, max_concurrent_evals=limit, eval_retries=2)
        return [(t.trial, s, len(a)) for t, s, a in policy.evaluations_due(state, search)]

    assert due(1) == []
    # oldest step first across trials: the trials advance together
    assert due(3) == [(2, 100, 1), (2, 200, 0)]
    assert due(9) == [(2, 100, 1), (2, 200, 0), (1, 300, 0), (2, 300, 0)]
