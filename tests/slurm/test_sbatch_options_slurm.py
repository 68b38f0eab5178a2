"""What we write into sbatch and srun options, accepted and honoured by the real sbatch:
a fractional `mem_gb` (and the alias `executor.train.mem=500M`) asks for whole megabytes,
and a job of several tasks ends as soon as one rank fails (--kill-on-bad-exit) instead of
leaving the others holding their GPUs for ddp_timeout."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from orchestrator.config.compose import compose, to_settings
from orchestrator.config.settings import JobResources
from orchestrator.model.transitions import JobKind, JobState
from orchestrator.scheduler import JobRef, JobRequest
from orchestrator.scheduler.slurm import SlurmScheduler
from tests.support.journal import wait_until
from tests.support.searches import search_dir
from tests.support.slurm import run

pytestmark = pytest.mark.slurm

# rank 1 fails at once; rank 0 would sit in a collective for 300 s
RANKS = ("import os, sys, time\n"
         "sys.exit(1) if os.environ['SLURM_PROCID'] == '1' else time.sleep(300)")


def _submit(directory: Path, key: str, resources: JobResources,
            command: tuple[str, ...]) -> tuple[SlurmScheduler, JobRef]:
    folder = directory / "jobs" / key
    request = JobRequest(key=key, kind=JobKind.TRAIN, name=f"{directory.name}-{key}",
                         folder=folder, resources=resources, command=command,
                         output=str(folder / "out"))
    scheduler = SlurmScheduler(interactive=False)
    return scheduler, JobRef(scheduler.submit(request), folder, request.name)


def _ended(scheduler: SlurmScheduler, ref: JobRef, within_s: float) -> JobState:
    wait_until(lambda: scheduler.poll([ref])[ref.job_id].terminal, within_s, every_s=0.5)
    return scheduler.poll([ref])[ref.job_id]


@pytest.mark.parametrize(("overrides", "asked"), [
    (["executor.train.mem_gb=1.5"], "1536M"),
    # what `executor.train.mem=500M` says to write instead
    (["executor.train.mem_gb=0.488281"], "500M"),
])
def test_a_fractional_memory_is_accepted_in_whole_megabytes(
        slurm_cluster: object, tmp_path: Path, overrides: list[str], asked: str) -> None:
    settings = to_settings(compose(["executor=slurm", "search.target=0.8", *overrides]))
    resources = JobResources(timeout_min=5, mem_gb=settings.executor.train.mem_gb)
    scheduler, ref = _submit(search_dir(tmp_path), "train-t001-a0", resources,
                             (sys.executable, "-c", "print('ran')"))
    try:
        assert _ended(scheduler, ref, 120) is JobState.SUCCEEDED
    finally:
        scheduler.cancel([ref])
    asked_for = run(["sacct", "-n", "-X", "-P", "--noconvert", "-j", ref.job_id, "-o",
                     "ReqMem"]).stdout.split()
    assert asked_for == [asked]


def test_one_failing_rank_ends_a_multi_task_job_at_once(slurm_cluster: object,
                                                        tmp_path: Path) -> None:
    resources = JobResources(timeout_min=10, tasks_per_node=2, cpus_per_task=1)
    scheduler, ref = _submit(search_dir(tmp_path), "train-t001-a0", resources,
                             (sys.executable, "-c", RANKS))
    try:
        wait_until(lambda: scheduler.poll([ref])[ref.job_id] is not JobState.PENDING, 120,
                   every_s=0.5)
        started = time.monotonic()
        state = _ended(scheduler, ref, 60)
        took = time.monotonic() - started
    finally:
        scheduler.cancel([ref])
    assert state is JobState.FAILED
    assert took < 45, f"rank 0 held the job {took:.0f} s after rank 1 failed"
