"""infer.placement: the work queue's protocol, the pure placement decisions, the Handoff's
task states, and the controller with evaluations handed to long-lived evaluators (a fake
scheduler for the jobs; the evaluators are played through the real queue files). The
same paths run with real worker jobs on the local executor (tests/e2e) and on SLURM
(tests/slurm/test_placement_slurm.py)."""

from __future__ import annotations

import json
import multiprocessing
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.common import layout
from orchestrator.config.settings import InferSettings, Placement, Settings
from orchestrator.decide import placement
from orchestrator.journal.jsonl import Journal
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import JobKind, JobState
from orchestrator.placement import work_queue
from orchestrator.placement.tasks import LOST_GRACE_S, Handoff, Placed
from orchestrator.placement.work_queue import Task, Where
from orchestrator.scheduler import JobRef
from orchestrator.view.live import PlainView
from tests.support.fake_cluster import FakeScheduler, World, settings_for


def task(trial: int, step: int, attempt: int = 0) -> Task:
    key = f"infer-t{trial:03d}-s{step:08d}-a{attempt}"
    return Task(key, trial, step, checkpoint=f"/c/{trial}/{step}", result=f"/r/{key}.json")


# ---------------------------------------------------------------- the work queue's files
def test_a_task_moves_forward_and_is_seen_where_it_went(tmp_path: Path) -> None:
    q = tmp_path / "q"
    work_queue.post(q, task(1, 200))
    work_queue.post(q, task(2, 100))
    work_queue.post(q, task(1, 200))  # idempotent
    assert {k: f.where for k, f in work_queue.snapshot(q).items()} == {
        task(1, 200).key: Where.POSTED, task(2, 100).key: Where.POSTED}
    first = work_queue.claim(q, "77")
    assert first == task(2, 100)  # the earliest checkpoint first, across trials
    assert work_queue.where(q, first.key) == work_queue.Found(Where.CLAIMED, "77")
    work_queue.post(q, first)  # claimed: not posted again
    assert work_queue.claim(q, "78") == task(1, 200)
    work_queue.finish(q, first, "77")
    work_queue.fail(q, task(1, 200), "78", "input", "bad checkpoint")
    assert work_queue.where(q, first.key) == work_queue.Found(Where.DONE, "77")
    assert work_queue.where(q, task(1, 200).key) == work_queue.Found(
        Where.FAILED, "78", "input", "bad checkpoint")
    assert work_queue.claim(q, "77") is None
    assert work_queue.where(q, "infer-t009-s00000001-a0").where is Where.MISSING


def test_a_posted_task_can_be_withdrawn_a_claimed_one_cannot(tmp_path: Path) -> None:
    q = tmp_path / "q"
    work_queue.post(q, task(1, 100))
    work_queue.post(q, task(1, 200))
    work_queue.claim(q, "5")
    assert not work_queue.withdraw(q, task(1, 100).key)
    assert work_queue.withdraw(q, task(1, 200).key)
    assert work_queue.claimed_by(q, "5") == [task(1, 100)]
    assert work_queue.claimed_by(q, "6") == []


@pytest.mark.parametrize("foreign", ["another uid", "a symbolic link", "not a task"])
def test_a_task_not_posted_by_the_searchs_owner_is_refused_not_run(tmp_path: Path,
                                                                   foreign: str) -> None:
    """A group-writable search.dir lets others write into posted/: a worker runs a task's
    command as its owner, so it takes only files its own uid wrote (as root: 65534's is
    refused)."""
    q = tmp_path / "q"
    theirs = task(1, 100)
    theirs = Task(theirs.key, 1, 100, "/c", "/r", command=("touch", str(tmp_path / "owned")))
    work_queue.post(q, theirs)
    posted = q / work_queue.POSTED / f"{theirs.key}.json"
    if foreign == "another uid":
        os.chown(posted, 65534, 65534)
    elif foreign == "a symbolic link":
        elsewhere = tmp_path / "elsewhere.json"
        posted.rename(elsewhere)
        posted.symlink_to(elsewhere)
    else:
        posted.write_text('{"argv": ["touch", "x"]}')
    work_queue.post(q, task(1, 200))  # the controller's own, after it
    assert work_queue.claim(q, "7") == task(1, 200)
    found = work_queue.where(q, theirs.key)
    assert (found.where, found.runner, found.cause) == (Where.FAILED, "7", "other")
    assert "refused, not run" in found.reason and os.listdir(q / work_queue.CLAIMED) == [
        f"{task(1, 200).key}@7.json"]


def _claim_all(q: str, runner: str, out: Any) -> None:
    got = []
    while (t := work_queue.claim(Path(q), runner)) is not None:
        got.append(t.key)
    out.put(got)


def test_racing_evaluators_claim_each_task_exactly_once(tmp_path: Path) -> None:
    q = tmp_path / "q"
    for step in range(1, 61):
        work_queue.post(q, task(1, step * 10))
    out: Any = multiprocessing.get_context("fork").Queue()
    procs = [multiprocessing.get_context("fork").Process(target=_claim_all,
                                                         args=(str(q), str(n), out))
             for n in range(4)]
    for p in procs:
        p.start()
    claimed = [key for _ in procs for key in out.get(timeout=60)]
    for p in procs:
        p.join(10)
    assert sorted(claimed) == sorted(task(1, s * 10).key for s in range(1, 61))


# ---------------------------------------------------------------- configuration
@pytest.mark.parametrize(("infer", "executor", "problem"), [
    (InferSettings(placement="workers"),  # type: ignore[arg-type]
     "local", "infer.placement='workers': use one of"),
    (InferSettings(placement=Placement.WORKER), "debug", "the debug executor runs each job inside"),
    (InferSettings(placement=Placement.WITH_TRAINING), "debug", "use executor=local"),
    (InferSettings(placement=Placement.WORKER, workers=0), "local",
     "infer.workers=0: must be >= 1"),
    (InferSettings(worker_idle_s=0), "local", "infer.worker_idle_s=0: must be > 0"),
])
def test_placement_settings_are_checked(tmp_path: Path, infer: InferSettings, executor: str,
                                        problem: str) -> None:
    settings = settings_for(tmp_path)
    settings = replace(settings, infer=infer,
                       executor=replace(settings.executor, name=executor))
    assert any(problem in line for line in placement.problems(settings))


def test_good_placement_settings_have_no_problem(tmp_path: Path) -> None:
    for name in placement.PLACEMENTS:
        settings = replace(settings_for(tmp_path), infer=InferSettings(placement=name))
        assert placement.problems(settings) == []


# ---------------------------------------------------------------- a task's state
@pytest.mark.parametrize(("setup", "serving", "ended", "state", "runner"), [
    ("posted", True, False, JobState.PENDING, ""),
    ("posted", False, False, JobState.LOST, ""),  # no evaluator serves the queue any more
    ("claimed", True, False, JobState.RUNNING, "41"),
    ("claimed", True, True, JobState.LOST, "41"),  # its evaluator's job ended
    ("done", True, True, JobState.SUCCEEDED, "41"),
    ("failed", True, False, JobState.FAILED, "41"),
    ("withdrawn", True, False, JobState.LOST, ""),
])
def test_the_handoff_reads_a_tasks_state_from_its_queue(
        tmp_path: Path, setup: str, serving: bool, ended: bool, state: JobState,
        runner: str) -> None:
    q = tmp_path / "evaluators" / "workers"
    t = task(1, 100)
    work_queue.post(q, t)
    if setup in ("claimed", "done", "failed"):
        work_queue.claim(q, "41")
    if setup == "done":
        work_queue.finish(q, t, "41")
    if setup == "failed":
        work_queue.fail(q, t, "41", "oom", "CUDA out of memory")
    if setup == "withdrawn":
        work_queue.withdraw(q, t.key)
    now = [0.0]
    handoff = Handoff(serving=lambda _: serving, runner_ended=lambda _: ended,
                      runner_logs=lambda r: [Path(f"/logs/{r}.out")], clock=lambda: now[0])
    ref = JobRef("task:" + t.key, q)
    polled = handoff.poll([ref])
    if state is JobState.LOST:  # a shared file system may lag: lost only after a grace
        assert polled[ref.job_id] is JobState.UNKNOWN
        now[0] = LOST_GRACE_S
        polled = handoff.poll([ref])
    assert polled[ref.job_id] is state
    assert polled.runners.get(ref.job_id, "") == runner
    failure = handoff.failure(ref)
    if setup == "failed":
        assert failure == ("oom", "CUDA out of memory")
    elif state is JobState.LOST:
        assert failure.cause == "other" and failure.reason
    assert handoff.log_paths(ref) == ([Path("/logs/41.out")] if runner else [])


def test_a_task_the_controller_withdrew_is_cancelled_at_once(tmp_path: Path) -> None:
    q, t = tmp_path / "evaluators" / "workers", task(1, 600)
    work_queue.post(q, t)
    handoff = Handoff(serving=lambda _: True, runner_ended=lambda _: False,
                      runner_logs=lambda _: [], clock=lambda: 0.0)
    ref = JobRef("task:" + t.key, q)
    handoff.cancel([ref])
    # its posted file went by our hand: no evaluator had it, nothing to wait out
    assert handoff.poll([ref])[ref.job_id] is JobState.CANCELLED


@pytest.mark.parametrize(("cancelled", "state"), [(True, JobState.CANCELLED),
                                                  (False, JobState.PENDING)])
def test_a_cancelled_task_its_stopped_evaluator_put_back_is_withdrawn_again(
        tmp_path: Path, cancelled: bool, state: JobState) -> None:
    q, t = tmp_path / "evaluators" / "workers", task(1, 600)
    work_queue.post(q, t)
    work_queue.claim(q, "41")
    handoff = Handoff(serving=lambda _: True, runner_ended=lambda _: False,
                      runner_logs=lambda _: [], clock=lambda: 0.0,
                      cancel_requested=lambda key: cancelled and key == t.key)
    ref = JobRef("task:" + t.key, q)
    handoff.cancel([ref])  # claimed: not withdrawn, an evaluator has it
    assert handoff.poll([ref])[ref.job_id] is JobState.RUNNING
    assert work_queue.repost(q, t.key, "41")  # its worker was scancel'ed: the claim goes back
    # a resumed controller has no memory of the first cancel: the journal's word is enough
    fresh = Handoff(serving=lambda _: True, runner_ended=lambda _: False,
                    runner_logs=lambda _: [], clock=lambda: 0.0,
                    cancel_requested=lambda key: cancelled and key == t.key)
    assert fresh.poll([ref])[ref.job_id] is state
    assert (work_queue.where(q, t.key).where is Where.MISSING) is cancelled


def test_the_router_asks_the_scheduler_only_about_jobs(tmp_path: Path) -> None:
    sched = FakeScheduler()
    handoff = Handoff(serving=lambda _: True, runner_ended=lambda _: False,
                      runner_logs=lambda _: [])
    router = Placed(sched, handoff)
    q = tmp_path / "q"
    work_queue.post(q, task(1, 100))
    polled = router.poll([JobRef("task:" + task(1, 100).key, q)])
    # asked with no job at all (SLURM's adapter then asks slurmctld nothing, but sends the
    # cancels it still owes): a task never reaches the scheduler
    assert sched.polls == 1 and polled == {"task:" + task(1, 100).key: JobState.PENDING}
    sched.states["7"] = JobState.RUNNING
    polled = router.poll([JobRef("7", tmp_path), JobRef("task:" + task(1, 100).key, q)])
    assert sched.polls == 2 and polled["7"] is JobState.RUNNING
    router.cancel([JobRef("7", tmp_path), JobRef("task:" + task(1, 100).key, q)])
    assert sched.cancelled == ["7"] and work_queue.snapshot(q) == {}


# ---------------------------------------------------------------- the controller
class Evaluators:
    """Plays the long-lived evaluators through the real queue files: each live worker job
    (or, with_training, the trial's live training job) takes and evaluates one task a tick."""

    def __init__(self, world: World, sched: FakeScheduler, search_dir: Path) -> None:
        self.world, self.sched, self.dir = world, sched, search_dir
        self.die_on: set[str] = set()  # task keys whose evaluator's job dies holding them
        self.deaf = False  # take nothing: as an evaluator still loading, or a slow NFS

    def tick(self) -> None:
        if self.deaf:
            return
        for job_id, request in list(self.sched.requests.items()):
            if self.sched.states[job_id] is not JobState.RUNNING:
                continue
            if request.kind == "worker":
                self._take(work_queue.queue_dir(self.dir, layout.WORKERS), job_id)
            elif request.kind == "train" and request.beside is not None:
                self._take(work_queue.queue_dir(self.dir, request.beside.queue), job_id)

    def _take(self, q: Path, runner: str) -> None:
        t = work_queue.claim(q, runner)
        if t is None:
            return
        if t.key in self.die_on:
            self.sched.states[runner] = JobState.FAILED
            return
        Path(t.result).parent.mkdir(parents=True, exist_ok=True)
        Path(t.result).write_text(json.dumps({"accuracy": self.world.auto_results[t.step]}))
        work_queue.finish(q, t, runner)


def run_placed(tmp_path: Path, placement_name: str, script: dict[int, Any],
               results: dict[int, float | None], die_on: tuple[str, ...] = (),
               deaf: bool = False, **search: Any) -> tuple[SearchState, FakeScheduler]:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    world.auto_results = results
    evaluators = Evaluators(world, sched, tmp_path)
    evaluators.die_on, evaluators.deaf = set(die_on), deaf
    plain_sleep = world.sleep

    def sleep(seconds: float) -> None:
        plain_sleep(seconds)
        if world.ticks in script:
            script[world.ticks](world)
        evaluators.tick()

    settings: Settings = replace(settings_for(tmp_path, **search),
                                 infer=InferSettings(placement=Placement(placement_name)))
    journal = Journal(tmp_path / "journal.jsonl")
    from orchestrator.engine.controller import Controller

    controller = Controller(settings, journal, sched, PlainView(),
                            clock=lambda: float(world.ticks), sleep=sleep)
    state = controller.run()
    journal.close()
    return state, sched


def test_workers_evaluate_every_checkpoint_without_an_inference_job(tmp_path: Path) -> None:
    state, sched = run_placed(
        tmp_path, "worker", {2: lambda w: w.checkpoint(100), 5: lambda w: w.checkpoint(200),
                             8: lambda w: w.checkpoint(300)},
        {100: 0.5, 200: 0.6, 300: 0.85})
    assert state.finished is not None and state.finished.status == "target_reached"
    assert sched.by_kind("infer") == []
    workers = sched.by_kind("worker")
    assert len(workers) == 1 and workers[0][0] in sched.cancelled  # ended with the search
    assert {ev.job_id for ev in state.evaluations.values()} == {workers[0][0]}
    assert state.jobs[workers[0][1].key].seconds(1e12) >= 0
    assert all(j.seconds(1e12) == 0 for j in state.jobs.values() if j.queue)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["placement"] == "worker"
    assert summary["scheduler_jobs"] == {"train": 1, "infer": 0, "worker": 1}


def test_a_worker_that_dies_holding_a_checkpoint_hands_it_to_a_new_worker(
        tmp_path: Path) -> None:
    dying = "infer-t001-s00000200-a0"
    state, sched = run_placed(
        tmp_path, "worker", {2: lambda w: w.checkpoint(100, 200),
                             9: lambda w: w.end_training()},
        {100: 0.5, 200: 0.6}, die_on=(dying,))
    workers = sched.by_kind("worker")
    assert [r.key for _, r in workers] == ["worker-w01-a0", "worker-w01-a1"]
    assert state.jobs[dying].state is JobState.LOST and state.jobs[dying].cause == "other"
    again = state.jobs["infer-t001-s00000200-a1"]
    assert again.queue == "workers" and again.state is JobState.SUCCEEDED
    assert state.evaluations[(1, 200)].job_id == workers[1][0]
    assert sorted(state.evaluations) == [(1, 100), (1, 200)]  # each once


def test_when_workers_keep_failing_evaluations_go_to_jobs(tmp_path: Path) -> None:
    dying = tuple(f"infer-t001-s00000100-a{a}" for a in range(2))
    state, sched = run_placed(
        tmp_path, "worker", {2: lambda w: w.checkpoint(100), 40: lambda w: w.checkpoint(200),
                             45: lambda w: w.end_training()},
        {100: 0.5, 200: 0.6}, die_on=dying, eval_retries=1)
    assert len(sched.by_kind("worker")) == 2  # eval_retries + 1 failed: the slot is closed
    assert state.evaluations[(1, 100)].value is None  # both of its attempts lost
    assert "evaluator" in state.evaluations[(1, 100)].error
    assert [r.key for _, r in sched.by_kind("infer")] == ["infer-t001-s00000200-a0"]
    assert state.evaluations[(1, 200)].value == 0.6


def test_with_training_the_evaluator_runs_in_the_training_job(tmp_path: Path) -> None:
    state, sched = run_placed(
        tmp_path, "with_training", {2: lambda w: w.checkpoint(100),
                                    5: lambda w: w.checkpoint(200)},
        {100: 0.5, 200: 0.85})
    (train_id, train), = sched.by_kind("train")
    assert train.beside is not None and train.beside.queue == "trial-001"
    assert sched.by_kind("infer") == [] and sched.by_kind("worker") == []
    assert {ev.job_id for ev in state.evaluations.values()} == {train_id}
    assert state.finished is not None and state.finished.status == "target_reached"


def test_with_training_a_checkpoint_seen_after_training_ended_goes_to_a_job(
        tmp_path: Path) -> None:
    def late(w: World) -> None:
        w.end_training()
        w.checkpoint(200)

    state, sched = run_placed(
        tmp_path, "with_training", {2: lambda w: w.checkpoint(100), 6: late},
        {100: 0.5, 200: 0.6})
    assert state.jobs["infer-t001-s00000100-a0"].queue == "trial-001"
    assert state.jobs["infer-t001-s00000200-a0"].queue == ""
    assert [r.key for _, r in sched.by_kind("infer")] == ["infer-t001-s00000200-a0"]
    assert sorted(state.evaluations) == [(1, 100), (1, 200)]


def test_a_task_its_evaluator_never_took_is_not_one_of_the_retries(tmp_path: Path) -> None:
    """with_training: the training job ends with a checkpoint posted to its evaluator but not
    taken. That task ran nothing: with search.eval_retries=0 the checkpoint still goes to an
    inference job."""
    state, sched = run_placed(
        tmp_path, "with_training", {2: lambda w: w.checkpoint(100), 6: lambda w: w.end_training()},
        {100: 0.5}, deaf=True, eval_retries=0)
    lost = state.jobs["infer-t001-s00000100-a0"]
    assert (lost.queue, lost.runner, lost.state) == ("trial-001", "", JobState.LOST)
    assert [r.key for _, r in sched.by_kind("infer")] == ["infer-t001-s00000100-a1"]
    assert state.evaluations[(1, 100)].value == 0.5


def test_workers_due_at_the_start_and_only_while_work_waits(tmp_path: Path) -> None:
    settings = replace(settings_for(tmp_path), infer=InferSettings(placement=Placement.WORKER,
                                                                   workers=2))
    state = SearchState()
    assert placement.workers_due(state, settings) == []  # no trial yet
    from orchestrator.model import events

    for e in (events.SearchStarted(settings={}), events.TrialStarted(
            trial=1, seed=1, output_dir="x", params={}, sampler_trial=None)):
        state.apply(e)
    assert placement.workers_due(state, settings) == [(1, 0), (2, 0)]
    for slot in (1, 2):
        state.apply(events.SubmitIntent(key=f"worker-w0{slot}-a0", kind=JobKind.WORKER, trial=0,
                                        step=slot, attempt=0, folder="f", name="n",
                                        overrides={}))
        state.apply(events.Submitted(key=f"worker-w0{slot}-a0", job_id=f"{slot}"))
    assert placement.workers_due(state, settings) == []
    for slot in (1, 2):  # both exit idle
        state.apply(events.JobStateChanged(key=f"worker-w0{slot}-a0", job_id=f"{slot}",
                                           state=JobState.SUCCEEDED))
    assert placement.workers_due(state, settings) == []  # nothing waits: none is needed
    state.apply(events.SubmitIntent(key="infer-t001-s00000100-a0", kind=JobKind.INFER, trial=1,
                                    step=100, attempt=0, folder="q", name="n", overrides={},
                                    queue="workers"))
    assert placement.workers_due(state, settings) == [(1, 1)]  # one task waits: one worker
    assert placement.runner_ended(state, "1") and not placement.runner_ended(state, "99")


def _worker(state: SearchState, slot: int, attempt: int, job_id: str,
            end: JobState | None = None) -> None:
    from orchestrator.model import events

    key = f"worker-w{slot:02d}-a{attempt}"
    state.apply(events.SubmitIntent(key=key, kind=JobKind.WORKER, trial=0, step=slot,
                                    attempt=attempt, folder="f", name="n", overrides={}))
    state.apply(events.Submitted(key=key, job_id=job_id))
    if end is not None:
        state.apply(events.JobStateChanged(key=key, job_id=job_id, state=end))


def _searching(tmp_path: Path, workers: int = 1) -> tuple[SearchState, Settings]:
    from orchestrator.model import events

    settings = replace(settings_for(tmp_path, eval_retries=2),
                       infer=InferSettings(placement=Placement.WORKER, workers=workers))
    state = SearchState()
    state.apply(events.SearchStarted(settings={}))
    state.apply(events.TrialStarted(trial=1, seed=1, output_dir="x", params={},
                                    sampler_trial=None))
    return state, settings


def _waiting_task(state: SearchState, step: int) -> None:
    from orchestrator.model import events

    state.apply(events.SubmitIntent(key=f"infer-t001-s{step:08d}-a0", kind=JobKind.INFER, trial=1,
                                    step=step, attempt=0, folder="q", name="n", overrides={},
                                    queue="workers"))


def test_workers_that_take_no_waiting_task_close_their_slot(tmp_path: Path) -> None:
    state, settings = _searching(tmp_path)
    _worker(state, 1, 0, "10", JobState.SUCCEEDED)  # the first: it idled before any work
    _waiting_task(state, 100)
    for attempt, job_id in ((1, "11"), (2, "12")):  # each exits without taking the task
        assert placement.workers_due(state, settings) == [(1, attempt)]
        _worker(state, 1, attempt, job_id, JobState.SUCCEEDED)
    assert placement.workers_due(state, settings) == [(1, 3)]
    _worker(state, 1, 3, "13", JobState.SUCCEEDED)
    assert placement.workers_due(state, settings) == []  # eval_retries=2: three in a row
    assert not placement.serving(state, settings, layout.WORKERS)
    assert placement.queue_for(state, settings, 1) == ""  # the next goes to a job


def test_one_new_worker_per_waiting_task_beyond_those_alive(tmp_path: Path) -> None:
    state, settings = _searching(tmp_path, workers=3)
    _worker(state, 1, 0, "10")  # alive
    _worker(state, 2, 0, "20", JobState.SUCCEEDED)
    _worker(state, 3, 0, "30", JobState.SUCCEEDED)
    _waiting_task(state, 100)
    assert placement.workers_due(state, settings) == []  # the live one will take it
    _waiting_task(state, 200)
    assert placement.workers_due(state, settings) == [(2, 1)]


def test_a_reused_job_id_is_alive_while_its_newest_job_lives(tmp_path: Path) -> None:
    state, _ = _searching(tmp_path)
    _worker(state, 1, 0, "500", JobState.SUCCEEDED)
    assert placement.runner_ended(state, "500")
    _worker(state, 1, 1, "500")  # SLURM gave the old id to the new worker
    assert not placement.runner_ended(state, "500")


def test_an_evaluation_that_ran_out_of_memory_in_an_evaluator_goes_to_a_job(
        tmp_path: Path) -> None:
    from orchestrator.model import events

    state, settings = _searching(tmp_path)
    _worker(state, 1, 0, "10")
    _waiting_task(state, 100)
    key = "infer-t001-s00000100-a0"
    state.apply(events.Submitted(key=key, job_id="task:" + key))
    state.apply(events.JobFailed(key=key, cause="oom", reason="CUDA out of memory"))
    attempts = state.attempts("infer", 1, 100)
    assert placement.queue_for(state, settings, 1) == "workers"
    assert placement.queue_for(state, settings, 1, attempts) == ""


def test_an_ended_tasks_seconds_reach_the_journal(tmp_path: Path) -> None:
    q = tmp_path / "q"
    for t in (task(1, 100), task(1, 200), task(1, 300)):
        work_queue.post(q, t)
    work_queue.finish(q, work_queue.claim(q, "7") or task(0, 0), "7", seconds=12.5)
    work_queue.fail(q, work_queue.claim(q, "7") or task(0, 0), "7", "oom", "out of memory",
                    seconds=3.0)
    handoff = Handoff(serving=lambda queue: True, runner_ended=lambda runner: False,
                      runner_logs=lambda runner: [], clock=lambda: 0.0)
    ids = ["task:" + task(1, step).key for step in (100, 200, 300)]
    polled = handoff.poll([JobRef(i, q) for i in ids])
    assert [polled[i] for i in ids] == [JobState.SUCCEEDED, JobState.FAILED, JobState.PENDING]
    assert polled.held == {ids[0]: 12.5, ids[1]: 3.0}
