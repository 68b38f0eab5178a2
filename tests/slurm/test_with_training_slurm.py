"""infer.placement=with_training on the real cluster: the evaluator beside training names
its claims by the SLURM job's id, and `scancel` of the training job ends it too."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from orchestrator.common import layout
from orchestrator.config.settings import DataSettings, EvaluatorSpec, InferSpec, JobResources
from orchestrator.model.transitions import JobKind
from orchestrator.placement import work_queue
from orchestrator.scheduler import JobRef, JobRequest
from orchestrator.scheduler.slurm import SlurmScheduler
from tests.support.journal import wait_until
from tests.support.searches import search_dir

pytestmark = pytest.mark.slurm



def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_scancel_of_a_training_job_ends_the_evaluator_beside_it(slurm_cluster: object,
                                                                 tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    data = DataSettings(cache_dir=str(tmp_path / "cache"), synthetic_train_size=100,
                        synthetic_test_size=20)
    infer = InferSpec(checkpoint="", result_path="", data=data)
    spec = EvaluatorSpec(str(directory), layout.trial_queue(1), infer, idle_s=300.0,
                         trial_dir=str(directory / "trials" / "001"))
    folder = directory / "jobs" / "train-t001-a0"
    request = JobRequest(key="train-t001-a0", kind=JobKind.TRAIN, name=f"{directory.name}-train",
                         folder=folder, resources=JobResources(timeout_min=5),
                         command=(sys.executable, "-c", "import time; time.sleep(300)"),
                         output=str(directory / "out"), beside=spec)
    scheduler = SlurmScheduler(interactive=False)
    job_id = scheduler.submit(request)
    ref = JobRef(job_id, folder, request.name)
    qdir = work_queue.queue_dir(directory, layout.trial_queue(1))
    try:
        # queued, then the evaluator's first heartbeat
        wait_until(lambda: work_queue.runners(qdir), 300, every_s=0.5)
        (beat,) = work_queue.runners(qdir)
        assert beat["runner"] == job_id and _alive(beat["pid"])
    finally:
        scheduler.cancel([ref])
    wait_until(lambda: scheduler.poll([ref])[job_id].terminal, 120, every_s=0.5)
    wait_until(lambda: not _alive(beat["pid"]), 30, every_s=0.5)
