"""The controller's decisions against an in-memory scheduler and a scripted file system.

These are the pure-logic tests (retries, cancellation, recovery of a half-journaled
submission); the same paths run for real on the local executor and on SLURM in tests/e2e
and tests/slurm.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config.settings import Settings
from orchestrator.engine.controller import Controller
from orchestrator.errors import SchedulerUnavailable
from orchestrator.journal.jsonl import Journal, read_events
from orchestrator.model import events
from orchestrator.model.events import JobFailed, Submitted, encode
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import JobKind, JobState
from orchestrator.scheduler import JobRef, JobRequest
from orchestrator.view.live import PlainView
from tests.support.fake_cluster import FakeScheduler, World, settings_for


def run(tmp_path: Path, world: World, sched: FakeScheduler, **search: Any) -> SearchState:
    journal = Journal(tmp_path / "journal.jsonl")
    controller = Controller(settings_for(tmp_path, **search), journal, sched, PlainView(),
                            clock=lambda: float(world.ticks), sleep=world.sleep)
    state = controller.run()
    journal.close()
    return state


def test_target_reached_cancels_training_and_promotes_best(tmp_path: Path) -> None:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    world.auto_results = {100: 0.6, 200: 0.85, 300: 0.9}
    world.script = {2: lambda: world.checkpoint(100), 4: lambda: world.checkpoint(200)}
    state = run(tmp_path, world, sched)
    assert state.finished is not None and state.finished.status == "target_reached"
    train_id, _ = sched.by_kind("train")[0]
    assert train_id in sched.cancelled
    assert state.jobs["train-t001-a0"].state is JobState.CANCELLED
    assert json.loads((tmp_path / "best" / "best.json").read_text())["step"] == 200
    assert (tmp_path / "summary.json").exists() and (tmp_path / "metric.png").exists()


class ResumedLocalScheduler(FakeScheduler):
    """The local backend after a resume: a job started by the killed controller and then
    killed by this one is only seen gone without a result, LOST."""

    def cancel(self, jobs: Sequence[JobRef]) -> None:
        for ref in jobs:
            self.cancelled.append(ref.job_id)
            if not self.states[ref.job_id].terminal:
                self.states[ref.job_id] = JobState.LOST


def test_a_job_the_controller_cancelled_is_cancelled_not_lost(tmp_path: Path) -> None:
    sched = ResumedLocalScheduler()
    world = World(sched, tmp_path)
    world.auto_results = {100: 0.6, 200: 0.85}
    world.script = {2: lambda: world.checkpoint(100), 4: lambda: world.checkpoint(200)}
    state = run(tmp_path, world, sched)
    assert len(sched.by_kind("train")) == 1  # not retried
    assert state.jobs["train-t001-a0"].state is JobState.CANCELLED
    trial = state.trials[1]
    assert trial.training == "cancelled" and "cancelled by the controller" in \
        trial.training_reason
    assert trial.ended_reason == "accuracy 0.8500 reached the target 0.8 at step 200"


def test_the_trial_end_reason_is_the_stop_rules_with_its_values(tmp_path: Path) -> None:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    world.auto_results = {100: 0.7025, 200: 0.6955}
    world.script = {2: lambda: world.checkpoint(100, 200)}
    state = run(tmp_path, world, sched)
    assert state.trials[1].ended_reason == (
        "accuracy fell 0.7025 -> 0.6955 at step 200 (patience 1)")
    report = (tmp_path / "report.md").read_text()
    assert "- trial 1 (metric_fell): accuracy fell 0.7025 -> 0.6955 at step 200" in report
    assert "cancelled by the controller" not in report.split("Why trials ended")[1]


def test_failed_inference_is_retried_then_recorded_and_the_search_goes_on(
    tmp_path: Path,
) -> None:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    world.auto_results = {100: None, 200: 0.7}  # 100 fails every time
    world.script = {2: lambda: world.checkpoint(100, 200),
                    6: world.end_training}
    state = run(tmp_path, world, sched, eval_retries=2)
    attempts = [r for _, r in sched.by_kind("infer") if "s00000100" in r.key]
    assert len(attempts) == 3
    failed = state.evaluations[(1, 100)]
    assert failed.value is None and "ended FAILED" in failed.error and failed.logs
    assert state.evaluations[(1, 200)].value == 0.7
    assert state.finished is not None and state.finished.status == "exhausted"


@pytest.mark.parametrize("eval_retries", [0, 2])
def test_a_node_fail_is_cancelled_at_once(tmp_path: Path, eval_retries: int) -> None:
    """SLURM requeues a NODE_FAIL'd job under the same id: the controller cancels that id
    as soon as it sees the failure, whether or not a retry follows."""
    sched = FakeScheduler()
    world = World(sched, tmp_path)

    def node_fails() -> None:
        job_id, _ = sched.by_kind("infer")[0]
        sched.states[job_id] = JobState.NODE_FAIL

    world.script = {2: lambda: world.checkpoint(100), 4: node_fails,
                    6: lambda: world.auto_results.update({100: 0.85}), 9: world.end_training}
    state = run(tmp_path, world, sched, eval_retries=eval_retries)
    ids = [i for i, _ in sched.by_kind("infer")]
    assert ids[0] in sched.cancelled
    evs, _ = read_events(tmp_path / "journal.jsonl")
    names = [(e["event"], e.get("key") or e.get("keys"), e.get("state"))
             for e in map(encode, evs)]
    failed_at = names.index(("job_state", "infer-t001-s00000100-a0", "NODE_FAIL"))
    assert names[failed_at + 1] == ("cancel", ["infer-t001-s00000100-a0"], None)
    evaluation = state.evaluations[(1, 100)]
    assert state.finished is not None
    if eval_retries:
        assert evaluation.value == 0.85 and evaluation.job_id == ids[1]
        assert state.finished.status == "target_reached"
    else:
        assert len(ids) == 1 and "NODE_FAIL" in evaluation.error
        assert state.finished.status == "failed"


def test_cancelled_outside_is_reported_as_cancelled_not_success(tmp_path: Path) -> None:
    sched = FakeScheduler()
    world = World(sched, tmp_path)

    def scancel_inference() -> None:
        job_id, _ = sched.by_kind("infer")[0]
        sched.states[job_id] = JobState.CANCELLED

    world.script = {2: lambda: world.checkpoint(100), 5: scancel_inference,
                    7: world.end_training}
    state = run(tmp_path, world, sched)
    assert "cancelled outside the controller" in state.evaluations[(1, 100)].error
    assert state.finished is not None and state.finished.status == "failed"


def test_failed_training_is_resubmitted_then_the_trial_fails(tmp_path: Path) -> None:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    world.script = {2: lambda: world.end_training(JobState.FAILED),
                    5: lambda: world.end_training(JobState.NODE_FAIL)}
    state = run(tmp_path, world, sched, train_retries=1)
    assert len(sched.by_kind("train")) == 2
    trial = state.trials[1]
    assert trial.training == "failed" and "NODE_FAIL" in trial.training_reason
    assert state.finished is not None and state.finished.status == "failed"


def test_out_of_memory_replans_with_the_same_effective_batch(tmp_path: Path) -> None:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    oom = "TrainOutOfMemory: out of memory: per_device_batch_size=64 does not fit"
    world.script = {2: lambda: world.end_training(JobState.OUT_OF_MEMORY),
                    5: lambda: world.end_training(JobState.FAILED, oom),
                    8: lambda: world.end_training(JobState.OUT_OF_MEMORY),
                    11: lambda: world.end_training(JobState.OUT_OF_MEMORY)}
    state = run(tmp_path, world, sched)
    specs = [r.spec.train for _, r in sched.by_kind("train")]
    assert [(t.per_device_batch_size, t.grad_accum_steps) for t in specs] == [
        (64, 2), (32, 4), (16, 8), (8, 16)]
    assert "out of memory 4 times" in state.trials[1].training_reason
    assert state.finished is not None and state.finished.status == "failed"


def test_a_nan_loss_fails_the_trial_without_a_retry(tmp_path: Path) -> None:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    nan = "LossBecameNaN: loss became NaN at step 120"
    world.script = {2: lambda: world.end_training(JobState.FAILED, nan)}
    state = run(tmp_path, world, sched)
    assert len(sched.by_kind("train")) == 1
    assert "loss became NaN at step 120" in state.trials[1].training_reason
    assert state.finished is not None and state.finished.status == "failed"


COLUMN = ("loading the data (data.train_file=/x/train.csv): ValueError: /x/train.csv: column "
          "'tweet' not found at line 2 (columns: ['label', 'text']); set data.text_column")


@pytest.mark.parametrize(("cause", "error", "attempts", "printed"), [
    # the job said why: input ends the trial at once
    ("input", COLUMN, 1, f"train-t001-a0 (job 100) FAILED: input: {COLUMN}"),
    ("input", "ModuleNotFoundError: No module named 'torch'", 1,
     "FAILED: input: ModuleNotFoundError: No module named 'torch'"),
    # the job said "other", or nothing (a user's script): retried train_retries times
    ("other", "RuntimeError: NCCL timeout", 3, "FAILED: other: RuntimeError: NCCL timeout"),
    ("", "RuntimeError: boom", 3, "train-t001-a2 (job 102) FAILED: other: RuntimeError: boom"),
    # nothing written, but the text says it is one of ours that failed on its input
    ("", "orchestrator.common.failures.JobInputError: loading the data: bad", 1, "FAILED: input:"),
], ids=["input", "missing-module", "other", "nothing-written", "input-by-text"])
def test_an_input_failure_ends_the_trial_at_once_and_other_failures_are_retried(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], cause: str, error: str,
        attempts: int, printed: str) -> None:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    fail = lambda: world.end_training(JobState.FAILED, error, cause)  # noqa: E731
    world.script = {2: fail, 5: fail, 8: fail}
    state = run(tmp_path, world, sched, train_retries=2)
    assert len(sched.by_kind("train")) == attempts
    failed = [e for e in read_events(tmp_path / "journal.jsonl")[0] if isinstance(e, JobFailed)]
    assert [e.cause for e in failed] == [cause or ("input" if attempts == 1 else "other")] * (
        attempts)
    trial = state.trials[1]
    assert trial.training == "failed" and trial.ended == "train_failed"
    assert error in trial.training_reason
    assert ("an input error, not retried" in trial.training_reason) == (attempts == 1)
    assert state.finished is not None and state.finished.status == "failed"
    out = capsys.readouterr().out
    assert printed in out, out
    assert " is FAILED" not in out  # every failure line carries its reason
    ended = next(ln for ln in out.splitlines() if "trial 1 ended: train_failed" in ln)
    assert error in ended
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [f["cause"] for f in summary["trials"][0]["train_failures"]] == [
        e.cause for e in failed]


def test_an_inference_input_failure_is_not_retried(tmp_path: Path) -> None:
    sched = FakeScheduler()
    world = World(sched, tmp_path)

    def infer_fails_on_input() -> None:
        job_id, _ = sched.by_kind("infer")[0]
        sched.states[job_id] = JobState.FAILED
        sched.causes[job_id] = "input"
        sched.failures[job_id] = "cannot run /nope/run_inf.sh: No such file or directory"

    world.script = {2: lambda: world.checkpoint(100), 4: infer_fails_on_input,
                    6: world.end_training}
    state = run(tmp_path, world, sched, eval_retries=2)
    assert len(sched.by_kind("infer")) == 1
    assert "cannot run /nope/run_inf.sh" in state.evaluations[(1, 100)].error


def test_metric_fell_starts_the_next_trial_with_a_new_seed(tmp_path: Path) -> None:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    world.auto_results = {100: 0.7, 200: 0.6}

    def second_trial() -> None:
        for step in (100, 200):
            world.checkpoint(step, trial=2)

    world.script = {2: lambda: world.checkpoint(100, 200),
                    12: second_trial}
    state = run(tmp_path, world, sched, max_trials=2)
    assert [t.ended for t in state.trials.values()] == ["metric_fell", "metric_fell"]
    seeds = [r.spec.seed for _, r in sched.by_kind("train")]
    assert seeds == [42, 43]
    assert state.finished is not None and state.finished.status == "metric_fell"


def _killed_between_intent_and_submitted(tmp_path: Path,
                                         made_it: bool) -> tuple[FakeScheduler, Settings]:
    """A search whose controller journaled a training's submit_intent and was killed before
    `submitted`; `made_it`: its sbatch reached the scheduler all the same."""
    sched = FakeScheduler()
    journal = Journal(tmp_path / "journal.jsonl")
    settings = settings_for(tmp_path)
    first = Controller(settings, journal, sched, PlainView())
    first.start()
    first.decide()
    first.record(events.SubmitIntent(key="train-t001-a0", kind=JobKind.TRAIN, trial=1, step=None,
                                     attempt=0, folder=str(tmp_path / "jobs" / "train-t001-a0"),
                                     name="search-0123abcd-train-t001-a0", overrides={}))
    if made_it:
        sched.submit(JobRequest("train-t001-a0", JobKind.TRAIN, "x", tmp_path,
                                settings.executor.train))
    journal.close()
    return sched, settings


@pytest.mark.parametrize("made_it", [True, False])
def test_intent_without_job_id_is_recovered_or_submitted_once(tmp_path: Path,
                                                               made_it: bool) -> None:
    """A kill between 'submit_intent' and 'submitted' never doubles a job."""
    sched, settings = _killed_between_intent_and_submitted(tmp_path, made_it)
    journal = Journal(tmp_path / "journal.jsonl")
    second = Controller(settings, journal, sched, PlainView())
    second.start()
    second.act()
    journal.close()
    assert len(sched.by_kind("train")) == 1
    assert second.state.jobs["train-t001-a0"].job_id == "100"


@pytest.mark.parametrize("made_it", [True, False], ids=["sbatch landed", "never submitted"])
def test_cancel_of_an_interrupted_search_abandons_an_intent_never_submitted(
        tmp_path: Path, made_it: bool) -> None:
    """`orchestrator cancel` on a search killed between 'submit_intent' and 'submitted': an
    intent whose job never reached the scheduler is journaled abandoned, never submitted to
    be cancelled at once; one whose sbatch landed is found by name, then cancelled."""
    from orchestrator.engine import cancel_request as cancelling
    from orchestrator.model.transitions import SearchStatus

    sched, settings = _killed_between_intent_and_submitted(tmp_path, made_it)
    cancelling.write_request(tmp_path)
    journal = Journal(tmp_path / "journal.jsonl")
    state = Controller(settings, journal, sched, PlainView()).run()
    journal.close()
    assert state.finished is not None and state.finished.status == SearchStatus.CANCELLED
    assert len(sched.requests) == int(made_it)  # nothing submitted by the cancel itself
    evs = read_events(tmp_path / "journal.jsonl")[0]
    done = [e for e in evs if isinstance(e, Submitted)]
    assert [(e.job_id, e.recovered, e.abandoned) for e in done] == (
        [("100", True, False)] if made_it else [(None, False, True)])
    names = [e.event for e in evs]
    assert names.index("cancel_requested") < names.index("search_ended") < names.index(
        "submitted")
    assert sched.cancelled == (["100"] if made_it else [])


@pytest.mark.parametrize("lands", [True, False])
def test_an_intent_left_by_a_kill_waits_for_the_killed_controllers_sbatch(
        tmp_path: Path, lands: bool) -> None:
    """kill -9 spares the sbatch the controller was running: its job may reach the
    scheduler after the rerun first looked for it. The rerun looks again once
    submit_settle_s has passed since the intent, and submits afresh only then."""
    sched = FakeScheduler()
    sched.submit_settle_s = 10.0
    journal = Journal(tmp_path / "journal.jsonl")
    settings = settings_for(tmp_path)
    first = Controller(settings, journal, sched, PlainView())
    first.start()
    first.decide()
    first.record(events.SubmitIntent(key="train-t001-a0", kind=JobKind.TRAIN, trial=1, step=None,
                                     attempt=0, folder=str(tmp_path / "jobs" / "train-t001-a0"),
                                     name="search-0123abcd-train-t001-a0", overrides={}))
    journal.close()
    now = [0.0]
    journal = Journal(tmp_path / "journal.jsonl")
    second = Controller(settings, journal, sched, PlainView(), clock=lambda: now[0])
    second.start()
    second.act()
    assert sched.requests == {}  # not found, not submitted: it may still come
    if lands:  # the orphaned sbatch reaches the scheduler
        sched.submit(JobRequest("train-t001-a0", JobKind.TRAIN, "x", tmp_path,
                                settings.executor.train))
    now[0] = 5.0
    second.act()
    assert len(sched.requests) == int(lands)
    now[0] = 10.5
    second.act()
    journal.close()
    assert len(sched.by_kind("train")) == 1
    submitted = [e for e in read_events(tmp_path / "journal.jsonl")[0]
                 if isinstance(e, Submitted)]
    assert [(e.job_id, e.recovered) for e in submitted] == [("100", lands)]


def test_an_intent_of_a_batch_killed_late_still_waits_for_its_sbatch(tmp_path: Path) -> None:
    """A batch journals its intents together, then runs sbatch after sbatch: a kill late in
    a long batch spares an sbatch that began long after its intent's time. The rerun waits
    the whole submit_settle_s from the resume, not from the intent (which would be over)."""
    sched, settings = _killed_between_intent_and_submitted(tmp_path, made_it=False)
    sched.submit_settle_s = 10.0
    path = tmp_path / "journal.jsonl"
    lines = path.read_text().splitlines()
    intent = json.loads(lines[-1])
    assert intent["event"] == "submit_intent"
    intent["t"] -= 60.0  # the batch's sbatch calls ran for a minute before the kill
    path.write_text("\n".join([*lines[:-1], json.dumps(intent)]) + "\n")
    now = [0.0]
    journal = Journal(path)
    second = Controller(settings, journal, sched, PlainView(), clock=lambda: now[0])
    second.start()
    second.act()
    assert sched.requests == {}  # not found, not made again: its sbatch may still land
    sched.submit(JobRequest("train-t001-a0", JobKind.TRAIN, "x", tmp_path,
                            settings.executor.train))  # it lands
    now[0] = 10.5
    second.act()
    journal.close()
    assert len(sched.by_kind("train")) == 1  # found by name, not made twice
    assert second.state.jobs["train-t001-a0"].job_id == "100"


class OutageScheduler(FakeScheduler):
    """slurmctld does not answer until tick `until`; one submission in `accepted_anyway` is
    taken although sbatch timed out (it must be found by name, not made twice)."""

    def __init__(self, world_ticks: Callable[[], int], until: int) -> None:
        super().__init__()
        self.ticks, self.until = world_ticks, until
        self.refused = 0
        self.accepted_anyway = {"train-t001-a0"}

    def submit(self, request: JobRequest) -> str:
        if self.ticks() < self.until:
            self.refused += 1
            if request.key in self.accepted_anyway:
                self.accepted_anyway.discard(request.key)
                super().submit(request)
            raise SchedulerUnavailable(f"submitting {request.key}: Socket timed out")
        return super().submit(request)

    def recover(self, request: JobRequest) -> str | None:
        if self.ticks() < self.until:
            self.refused += 1
            raise SchedulerUnavailable(f"looking for job {request.name}: connect failure")
        return super().recover(request)


def test_submissions_wait_while_the_scheduler_does_not_answer(tmp_path: Path) -> None:
    world = World(FakeScheduler(), tmp_path)
    sched = OutageScheduler(lambda: world.ticks, until=12)
    world.sched = sched
    world.auto_results = {100: 0.5, 200: 0.9}
    world.script = {1: lambda: world.checkpoint(100), 3: lambda: world.checkpoint(200)}
    settings = settings_for(tmp_path)
    settings = replace(settings, executor=replace(settings.executor, poll_interval_s=1,
                                                  max_poll_interval_s=4))
    journal = Journal(tmp_path / "journal.jsonl")
    state = Controller(settings, journal, sched, PlainView(), clock=lambda: float(world.ticks),
                       sleep=world.sleep).run()
    journal.close()
    evs, _ = read_events(tmp_path / "journal.jsonl")
    assert state.finished is not None and state.finished.status == "target_reached"
    assert sched.refused == 5  # tried at ticks 0, 1, 3, 7, 11 (backing off 1, 2, 4, 4 s)
    assert [e.event for e in evs].count("scheduler_unavailable") == 1
    assert [e.event for e in evs].count("scheduler_available") == 1
    keys = [r.key for r in sched.requests.values()]
    assert sorted(keys) == sorted(set(keys))  # nothing submitted twice
    assert any(e.recovered for e in evs if isinstance(e, Submitted))


def test_one_scheduler_query_per_poll_whatever_the_number_of_jobs(tmp_path: Path) -> None:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    world.script = {2: lambda: world.checkpoint(*range(100, 2100, 100))}
    journal = Journal(tmp_path / "journal.jsonl")
    controller = Controller(settings_for(tmp_path, max_concurrent_evals=20), journal, sched,
                            PlainView(), sleep=world.sleep)
    controller.start()
    for _ in range(4):
        assert controller.tick()
        world.sleep(0)
    before = sched.polls
    controller.cadence.next_poll = 0
    controller.observe()
    journal.close()
    assert len(controller.state.live_jobs()) == 21
    assert sched.polls - before == 1


def test_concurrent_trials_with_a_grid_and_the_median_rule(tmp_path: Path) -> None:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    world.by_trial = {(1, 100): 0.5, (2, 100): 0.7, (3, 100): 0.72, (2, 200): 0.75,
                      (3, 200): 0.85}

    def checkpoints(step: int) -> Callable[[], None]:
        def write() -> None:
            for t in (1, 2, 3):
                world.checkpoint(step, trial=t)

        return write

    world.script = {2: checkpoints(100), 6: checkpoints(200)}
    state = run(tmp_path, world, sched, space={"weight_decay": [0.0, 0.1, 0.2]},
                max_trials=5, max_concurrent_trials=3, early_stop="median")
    trains = sched.by_kind("train")
    assert len(trains) == 3  # the grid has 3 points: max_trials=5 is capped
    assert [r.spec.train.weight_decay for _, r in trains] == [0.0, 0.1, 0.2]
    ended = {t.trial: t.ended for t in state.trials.values()}
    assert ended == {1: "pruned", 2: "stopped", 3: "target_reached"}
    assert "worse than the median 0.7100" in state.trials[1].ended_reason
    assert state.finished is not None and state.finished.status == "target_reached"
    report = (tmp_path / "report.md").read_text()
    assert "weight_decay=0.1" in report and "Why trials ended" in report


def test_concurrent_trials_with_asha_cut_at_a_rung(tmp_path: Path) -> None:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    world.by_trial = {(1, 100): 0.6, (2, 100): 0.7, (3, 100): 0.5, (1, 300): 0.7,
                      (2, 300): 0.85}

    def checkpoints(step: int, trials: tuple[int, ...]) -> Callable[[], None]:
        def write() -> None:
            for t in trials:
                world.checkpoint(step, trial=t)

        return write

    world.script = {2: checkpoints(100, (1, 2, 3)), 6: checkpoints(300, (1, 2))}
    state = run(tmp_path, world, sched, max_trials=3, max_concurrent_trials=3,
                early_stop="asha", early_stop_min_trials=1, early_stop_grace_steps=100)
    ended = {t.trial: t.ended for t in state.trials.values()}
    assert ended == {1: "stopped", 2: "target_reached", 3: "pruned"}
    assert state.trials[3].ended_reason == (
        "at rung 100 (step 100) its accuracy 0.5000 was not in the top 1/3 of the 3 trials "
        "that reached it (the best 1 continue, down to 0.7000)")


def test_a_job_hour_budget_stops_the_search(tmp_path: Path) -> None:
    """One training job that never ends, a budget of one job-hour, a wall clock that moves
    a quarter of an hour per tick: the search ends once that hour is used, not before."""
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    start = time.time()
    journal = Journal(tmp_path / "journal.jsonl")
    controller = Controller(settings_for(tmp_path, budget_job_hours=1.0, max_trials=3), journal,
                            sched, PlainView(), clock=lambda: float(world.ticks),
                            sleep=world.sleep, wall=lambda: start + 900.0 * world.ticks)
    state = controller.run()
    journal.close()
    assert state.finished is not None and state.finished.status == "failed"
    used = float(state.finished.reason.split()[3])  # "the jobs used 1.250 of ..."
    assert 1.0 <= used <= 1.25, state.finished.reason  # at the first tick over budget
    assert state.finished.reason.endswith("of search.budget_job_hours=1.0")
    assert len(sched.by_kind("train")) == 1


@pytest.mark.parametrize(("silent_s", "beats"), [(5.0, 0), (59.0, 0), (61.0, 1)])
def test_a_heartbeat_is_journaled_only_after_a_silent_minute(
        tmp_path: Path, silent_s: float, beats: int) -> None:
    now = [0.0]
    journal = Journal(tmp_path / "journal.jsonl")
    controller = Controller(settings_for(tmp_path), journal, FakeScheduler(), PlainView(),
                            wall=lambda: now[0])
    controller.record(events.Resumed())
    now[0] = journal.events[-1].t + silent_s
    controller._heartbeat()
    now[0] = journal.events[-1].t + 1.0  # a second later: the heartbeat is the latest entry
    controller._heartbeat()
    journal.close()
    evs, _ = read_events(tmp_path / "journal.jsonl")
    assert [e.event for e in evs].count("heartbeat") == beats


def test_the_report_is_rewritten_once_a_tick_when_evaluations_land(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Curves while running: after a tick in which evaluations landed (three here, in one
    tick), report.md and metric.png are rewritten once, before the search ends."""
    from orchestrator.engine import controller
    from orchestrator.reporting import outcome

    seen: list[tuple[int, bool, bool]] = []  # evaluations, search ended, report.md's row

    def spy(state: SearchState, rule: Any, search_dir: Path) -> None:
        outcome.refresh_outcome(state, rule, search_dir)
        report = (search_dir / "report.md").read_text()
        seen.append((len(state.evaluations), state.finished is not None,
                     f"| 1 | {max(s for _, s in state.evaluations)} |" in report))

    monkeypatch.setattr(controller, "refresh_outcome", spy)
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    world.auto_results = {100: 0.6, 200: 0.65, 300: 0.7, 400: 0.75}
    world.script = {2: lambda: world.checkpoint(100, 200, 300), 8: lambda: world.checkpoint(400),
                    12: world.end_training}
    state = run(tmp_path, world, sched, max_concurrent_evals=3)
    assert state.finished is not None and len(state.evaluations) == 4
    assert seen == [(3, False, True), (4, False, True)]
