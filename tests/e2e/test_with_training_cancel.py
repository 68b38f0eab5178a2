"""A cancelled training job on the local executor takes the evaluator beside it along
(infer.placement=with_training): no process of the job outlives the cancel."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from orchestrator.common import layout
from orchestrator.config.settings import DataSettings, EvaluatorSpec, InferSpec, JobResources
from orchestrator.model.transitions import JobKind
from orchestrator.placement import work_queue
from orchestrator.scheduler import JobRef, JobRequest
from orchestrator.scheduler.local import LocalScheduler
from orchestrator.scheduler.processes import group_members
from tests.support.journal import wait_until

pytestmark = pytest.mark.e2e



def test_a_cancelled_training_job_stops_its_evaluator(tmp_path: Path) -> None:
    data = DataSettings(cache_dir=str(tmp_path / "cache"), synthetic_train_size=100,
                        synthetic_test_size=20)
    infer = InferSpec(checkpoint="", result_path="", data=data)
    spec = EvaluatorSpec(str(tmp_path), layout.trial_queue(1), infer, idle_s=300.0,
                         trial_dir=str(tmp_path / "trials" / "001"))
    folder = tmp_path / "jobs" / "train-t001-a0"
    request = JobRequest(key="train-t001-a0", kind=JobKind.TRAIN, name="x-train-t001-a0",
                         folder=folder, resources=JobResources(timeout_min=5),
                         command=(sys.executable, "-c", "import time; time.sleep(300)"),
                         output=str(tmp_path / "out"), beside=spec)
    scheduler = LocalScheduler()
    job_id = scheduler.submit(request)
    qdir = work_queue.queue_dir(tmp_path, layout.trial_queue(1))
    wait_until(lambda: work_queue.runners(qdir), 120)  # the evaluator's first heartbeat
    (beat,) = work_queue.runners(qdir)
    assert beat["runner"] == job_id  # it names its claims by the training job's id
    assert beat["pid"] in group_members(int(job_id))
    ref = JobRef(job_id, folder, request.name)
    scheduler.cancel([ref])
    wait_until(lambda: scheduler.poll([ref])[job_id].terminal, 15)
    wait_until(lambda: not group_members(int(job_id)), 5)
    wait_until(lambda: not _running(beat["pid"]), 5)  # gone, or a zombie not yet reaped


def _running(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return False
    return fields[0] != "Z"
