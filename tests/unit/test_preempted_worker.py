"""A preempted worker (infer.placement=worker) keeps no task: the claims of a worker whose job
ended preempted (or lost with its node, or held and replaced) go back to the queue, not lost
as failures; a worker's job requeued under its id puts back what its last run claimed
(jobs.worker); a preempted worker closes no slot. The real evaluator: tests/jobs/test_worker.py."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.common import layout
from orchestrator.config.settings import InferSettings, Placement
from orchestrator.decide import placement
from orchestrator.engine.controller import Controller
from orchestrator.journal.jsonl import Journal
from orchestrator.model import events
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import JobKind, JobState
from orchestrator.placement import work_queue
from orchestrator.placement.tasks import LOST_GRACE_S, Handoff
from orchestrator.placement.work_queue import Task, Where
from orchestrator.scheduler import JobRef
from orchestrator.view.live import PlainView
from tests.support.fake_cluster import FakeScheduler, World, settings_for


def _task(step: int, attempt: int = 0) -> Task:
    key = f"infer-t001-s{step:08d}-a{attempt}"
    return Task(key, 1, step, checkpoint=f"/c/1/{step}", result=f"/r/{key}.json")


def test_repost_puts_a_claim_back_once(tmp_path: Path) -> None:
    q = tmp_path / "q"
    work_queue.post(q, _task(100))
    assert work_queue.claim(q, "41") == _task(100)
    assert work_queue.repost(q, _task(100).key, "41")
    assert work_queue.where(q, _task(100).key) == work_queue.Found(Where.POSTED)
    assert not work_queue.repost(q, _task(100).key, "41")  # already back
    assert work_queue.claim(q, "42") == _task(100)  # another evaluator takes it


@pytest.mark.parametrize(("preempted", "state", "where"), [
    (True, JobState.PENDING, Where.POSTED),  # back in the queue, the same attempt
    (False, JobState.LOST, Where.CLAIMED),  # a worker that failed: lost, retried, counted
], ids=["preempted", "failed"])
def test_the_claims_of_a_preempted_worker_go_back_to_the_queue(
        tmp_path: Path, preempted: bool, state: JobState, where: Where) -> None:
    q = tmp_path / "evaluators" / "workers"
    work_queue.post(q, _task(100))
    work_queue.claim(q, "41")
    now = [0.0]
    handoff = Handoff(serving=lambda _: True, runner_ended=lambda _: True,
                      runner_logs=lambda _: [], clock=lambda: now[0],
                      runner_preempted=lambda runner: preempted and runner == "41")
    ref = JobRef("task:" + _task(100).key, q)
    polled = handoff.poll([ref])
    if state is JobState.LOST:
        now[0] = LOST_GRACE_S
        polled = handoff.poll([ref])
    assert polled[ref.job_id] is state
    assert work_queue.where(q, _task(100).key).where is where


def _worker(state: SearchState, attempt: int, job_id: str, end: JobState | None) -> None:
    key = f"worker-w01-a{attempt}"
    state.apply(events.SubmitIntent(key=key, kind=JobKind.WORKER, trial=0, step=1,
                                    attempt=attempt, folder="f", name="n", overrides={}))
    state.apply(events.Submitted(key=key, job_id=job_id))
    if end is not None:
        state.apply(events.JobStateChanged(key=key, job_id=job_id, state=end))


@pytest.mark.parametrize(("end", "preempted"), [
    (JobState.PREEMPTED, True), (JobState.NODE_FAIL, True), (JobState.REPLACED, True),
    (JobState.FAILED, False), (JobState.SUCCEEDED, False), (JobState.CANCELLED, False),
    (None, False),  # alive: its claims are its own
])
def test_which_ended_workers_lose_no_task(end: JobState | None, preempted: bool) -> None:
    state = SearchState()
    _worker(state, 0, "41", end)
    assert placement.runner_preempted(state, "41") is preempted
    assert not placement.runner_preempted(state, "99")  # not ours: left alone


def test_preempted_workers_close_no_slot(tmp_path: Path) -> None:
    settings = replace(settings_for(tmp_path, eval_retries=1),
                       infer=InferSettings(placement=Placement.WORKER, workers=1))
    state = SearchState()
    state.apply(events.SearchStarted(settings={}))
    state.apply(events.TrialStarted(trial=1, seed=1, output_dir="x", params={},
                                    sampler_trial=None))
    for attempt in range(4):  # preempted again and again before taking anything
        _worker(state, attempt, str(40 + attempt), JobState.PREEMPTED)
    state.apply(events.SubmitIntent(key="infer-t001-s00000100-a0", kind=JobKind.INFER,
                                    trial=1, step=100, attempt=0, folder="q", name="n",
                                    overrides={}, queue="workers"))
    assert placement.workers_due(state, settings) == [(1, 4)]  # the slot stays open


class PreemptedOnce:
    """Plays the worker jobs through the real queue files: each live worker claims a task a
    tick and evaluates it, except that the first worker is preempted (for good, as under
    PreemptMode=CANCEL) holding the first task it claims."""

    def __init__(self, world: World, sched: FakeScheduler, search_dir: Path) -> None:
        self.world, self.sched, self.q = world, sched, work_queue.queue_dir(search_dir,
                                                                           layout.WORKERS)
        self.preempted = ""

    def tick(self) -> None:
        for job_id, request in list(self.sched.requests.items()):
            if request.kind != "worker" or self.sched.states[job_id] is not JobState.RUNNING:
                continue
            t = work_queue.claim(self.q, job_id)
            if t is None:
                continue
            if not self.preempted:
                self.preempted = t.key
                self.sched.states[job_id] = JobState.PREEMPTED  # its claim stays open
                continue
            Path(t.result).parent.mkdir(parents=True, exist_ok=True)
            Path(t.result).write_text(json.dumps({"accuracy": self.world.auto_results[t.step]}))
            work_queue.finish(self.q, t, job_id)


def test_a_preempted_workers_task_is_evaluated_by_the_next_worker_free(tmp_path: Path) -> None:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    world.auto_results = {100: 0.5, 200: 0.6}
    workers = PreemptedOnce(world, sched, tmp_path)
    plain_sleep = world.sleep

    def sleep(seconds: float) -> None:
        plain_sleep(seconds)
        if world.ticks == 2:
            world.checkpoint(100, 200)
        if world.ticks == 12:
            world.end_training()
        workers.tick()

    settings: Any = replace(settings_for(tmp_path, eval_retries=0),
                            infer=InferSettings(placement=Placement.WORKER))
    journal = Journal(tmp_path / "journal.jsonl")
    state = Controller(settings, journal, sched, PlainView(), clock=lambda: float(world.ticks),
                       sleep=sleep).run()
    journal.close()
    first, second = [job_id for job_id, _ in sched.by_kind("worker")][:2]
    assert workers.preempted == "infer-t001-s00000100-a0"
    task = state.jobs[workers.preempted]  # the same attempt, evaluated by the next worker
    assert task.state is JobState.SUCCEEDED and task.runner == second and task.cause is None
    assert state.jobs["worker-w01-a0"].state is JobState.PREEMPTED and first != second
    assert sorted(state.evaluations) == [(1, 100), (1, 200)]
    assert all(e.value is not None for e in state.evaluations.values())  # eval_retries=0
    assert not any(j.key.endswith("-a1") for j in state.jobs.values() if j.queue)


def test_a_command_killed_by_its_jobs_sigterm_goes_back_to_the_queue(tmp_path: Path) -> None:
    """Preemption (or any end of the worker's job) sends SIGTERM to every process of the job:
    the user's command dies of it, and its task is put back for another evaluator rather
    than failed; the evaluator then leaves."""
    from jobs import worker
    from orchestrator.config.settings import EvaluatorSpec

    q = work_queue.queue_dir(tmp_path, layout.WORKERS)
    # the command plays the job's end: SIGTERM to its evaluator, then to itself
    killed = replace(_task(100), command=("sh", "-c", "kill -TERM $PPID; kill -TERM $$"),
                     result=str(tmp_path / "out.txt"))
    work_queue.post(q, killed)
    spec = EvaluatorSpec(str(tmp_path), layout.WORKERS, None,  # type: ignore[arg-type]
                         idle_s=5.0, preload=False)
    summary = worker.run(spec, "41")
    assert summary["exit"].startswith("its job got SIGTERM")
    assert (summary["evaluated"], summary["failed"]) == (0, 0)
    assert work_queue.where(q, killed.key) == work_queue.Found(Where.POSTED)
