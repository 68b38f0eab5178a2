"""What the jobs held (orchestrator.model.usage): job-hours by kind, GPU-hours, a worker's idle
hours, and the sentence the reports print."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.model import events
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import JobKind, JobState
from orchestrator.model.usage import usage, usage_text

H = 3600.0


def _job(state: SearchState, key: str, kind: str, job_id: str, running: float,
         ended: float | None, queue: str = "", runner: str = "") -> None:
    state.apply(events.SubmitIntent(key=key, kind=JobKind(kind), trial=1, step=None, attempt=0,
                                    folder="f", name=key, overrides={}, queue=queue))
    state.apply(events.Submitted(key=key, job_id=job_id))
    state.apply(events.JobStateChanged(t=running, key=key, job_id=job_id,
                                       state=JobState.RUNNING, runner=runner))
    if ended is not None:
        state.apply(events.JobStateChanged(t=ended, key=key, job_id=job_id,
                                           state=JobState.SUCCEEDED, runner=runner))


def _state(train_gpus: int = 0, infer_gpus: int = 0, nodes: int = 1) -> SearchState:
    state = SearchState()
    state.apply(events.SearchStarted(settings={"executor": {
        "train": {"gpus_per_node": train_gpus, "nodes": nodes},
        "infer": {"gpus_per_node": infer_gpus, "nodes": 1}}}))
    return state


def _worker_search(train_gpus: int = 0, infer_gpus: int = 0, nodes: int = 1) -> SearchState:
    """Training held 2 h; the worker job 1 h, of which it evaluated two tasks of 0.25 h."""
    state = _state(train_gpus, infer_gpus, nodes)
    _job(state, "train-t001-a0", "train", "10", 0.0, 2 * H)
    _job(state, "worker-w01-a0", "worker", "11", 0.0, H)
    for n, start in enumerate((0.1 * H, 0.5 * H)):
        _job(state, f"infer-t001-s{n:08d}-a0", "infer", f"task:{n}", start, start + 0.25 * H,
             queue="workers", runner="11")
    return state


@pytest.mark.parametrize(("train_gpus", "infer_gpus", "nodes", "gpu_hours"), [
    (0, 0, 1, 0.0),
    (1, 0, 1, 2.0),  # training's 2 h on one GPU
    (1, 1, 1, 3.0),  # plus the worker's hour, idle or not
    (4, 1, 2, 17.0),  # 2 h x 4 GPUs x 2 nodes, plus the worker's hour
])
def test_gpu_hours_count_what_each_job_asked_for(train_gpus: int, infer_gpus: int, nodes: int,
                                                 gpu_hours: float) -> None:
    assert usage(_worker_search(train_gpus, infer_gpus, nodes), 10 * H)["gpu_hours"] == gpu_hours


def test_a_worker_is_idle_while_it_holds_its_job_without_a_task() -> None:
    got = usage(_worker_search(), 10 * H)
    # tasks hold nothing of their own: an evaluation's time is its worker's
    assert got["job_hours_by_kind"] == {"train": 2.0, "infer": 0.0, "worker": 1.0}
    assert got["worker_idle_hours"] == 0.5


def test_a_live_worker_is_counted_up_to_now() -> None:
    state = _state()
    _job(state, "worker-w01-a0", "worker", "11", 0.0, None)
    _job(state, "infer-t001-s00000100-a0", "infer", "task:a", 0.2 * H, None,
         queue="workers", runner="11")
    got = usage(state, H)
    assert got["job_hours_by_kind"]["worker"] == 1.0
    assert got["worker_idle_hours"] == 0.2  # its task is still being evaluated


def test_per_checkpoint_jobs_have_no_idle_hours() -> None:
    state = _state(infer_gpus=1)
    _job(state, "infer-t001-s00000100-a0", "infer", "12", 0.0, 0.5 * H)
    got = usage(state, H)
    assert got == {"job_hours_by_kind": {"train": 0.0, "infer": 0.5, "worker": 0.0},
                   "gpu_hours": 0.5, "worker_idle_hours": 0.0}


@pytest.mark.parametrize(("data", "text"), [
    ({"job_hours": 0.0}, "job-hours used: 0.000"),
    ({"job_hours": 2.5, "job_hours_by_kind": {"train": 2.0, "infer": 0.5, "worker": 0.0}},
     "job-hours used: 2.500 (train 2.000; infer 0.500)"),
    ({"job_hours": 3.0, "job_hours_by_kind": {"train": 2.0, "infer": 0.0, "worker": 1.0},
      "worker_idle_hours": 0.5, "gpu_hours": 3.0},
     "job-hours used: 3.000 (train 2.000; worker 1.000, 0.500 of it idle); GPU-hours: 3.000"),
])
def test_the_reports_sentence(data: dict[str, Any], text: str) -> None:
    assert usage_text(data) == text


def test_the_evaluators_own_seconds_count_over_the_polls() -> None:
    """A task claimed and done between two polls was never seen running: the seconds its
    evaluator wrote in the done file (journaled as held_s) are what counts."""
    state = _state()
    _job(state, "worker-w01-a0", "worker", "11", 0.0, H)
    key = "infer-t001-s00000100-a0"
    state.apply(events.SubmitIntent(key=key, kind=JobKind.INFER, trial=1, step=100, attempt=0,
                                    folder="q", name=key, overrides={}, queue="workers"))
    state.apply(events.Submitted(key=key, job_id="task:" + key))
    state.apply(events.JobStateChanged(t=0.5 * H, key=key, job_id="task:" + key,
                                       state=JobState.SUCCEEDED, runner="11",
                                       held_s=0.3 * H))
    assert usage(state, 2 * H)["worker_idle_hours"] == 0.7
