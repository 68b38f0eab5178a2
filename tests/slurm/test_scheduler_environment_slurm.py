"""The user's own settings for SLURM's commands (SACCT_FORMAT, SQUEUE_FORMAT,
SLURM_TIME_FORMAT, SQUEUE_SORT, SCANCEL_INTERACTIVE...) change nothing the controller reads
from the real sacct and squeue, and nothing it sends with scancel."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.config.settings import JobResources
from orchestrator.model.transitions import JobKind, JobState
from orchestrator.scheduler import JobRef, JobRequest
from orchestrator.scheduler.slurm import SlurmScheduler
from tests.support.journal import wait_until
from tests.support.searches import search_dir

pytestmark = pytest.mark.slurm

# what users put in their shell's profile: each would change what the commands print
SETTINGS = [
    ("SACCT_FORMAT", "jobid%20,jobname%5,state%3"),
    ("SQUEUE_FORMAT", "%.5i %.3T %j"),
    ("SQUEUE_FORMAT2", "jobid:5,state:3"),
    ("SQUEUE_SORT", "-i"),
    ("SQUEUE_STATES", "RUNNING"),
    ("SQUEUE_USERS", "nobody"),
    ("SLURM_TIME_FORMAT", "relative"),
    ("SLURM_BITSTR_LEN", "3"),
    ("SCANCEL_VERBOSE", "1"),
]


@dataclass(frozen=True)
class Jobs:
    requests: tuple[JobRequest, ...]  # one that ended, one held in the queue
    refs: tuple[JobRef, ...]


def _request(directory: Path, key: str, resources: JobResources) -> JobRequest:
    return JobRequest(key=key, kind=JobKind.INFER, name=f"{directory.name}-{key}",
                      folder=directory / "jobs" / key, resources=resources,
                      command=(sys.executable, "-c", "print('ran')"),
                      output=str(directory / "jobs" / key / "out"))


@pytest.fixture(scope="module")
def jobs(slurm_cluster: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jobs]:
    directory = search_dir(tmp_path_factory.mktemp("env"))
    requests = (_request(directory, "ended", JobResources(timeout_min=5)),
                _request(directory, "held", JobResources(timeout_min=5,
                                                         additional={"hold": True})))
    scheduler = SlurmScheduler(interactive=False)
    refs = tuple(JobRef(scheduler.submit(r), r.folder, r.name) for r in requests)
    try:
        wait_until(lambda: scheduler.poll(refs) == {refs[0].job_id: JobState.SUCCEEDED,
                                                    refs[1].job_id: JobState.PENDING}, 120,
                   every_s=1.0)
        yield Jobs(requests, refs)
    finally:
        scheduler.cancel(refs)


def _seen(jobs: Jobs) -> tuple[dict[str, JobState], dict[str, str], list[str | None]]:
    """What a fresh controller reads: states, why the held job waits, the jobs by name."""
    scheduler = SlurmScheduler(interactive=False)
    polled = scheduler.poll(jobs.refs)
    return dict(polled), dict(polled.reasons), [scheduler.recover(r) for r in jobs.requests]


@pytest.mark.parametrize(("variable", "value"), SETTINGS)
def test_what_the_controller_reads_is_unchanged(jobs: Jobs, monkeypatch: pytest.MonkeyPatch,
                                                variable: str, value: str) -> None:
    expected = _seen(jobs)
    assert expected[1] == {jobs.refs[1].job_id: "JobHeldUser"}
    assert expected[2] == [ref.job_id for ref in jobs.refs]
    monkeypatch.setenv(variable, value)
    assert _seen(jobs) == expected


def test_a_cancel_is_sent_when_scancel_would_ask_first(
        slurm_cluster: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SCANCEL_INTERACTIVE makes scancel ask y/n for each job, forever on a closed stdin."""
    request = _request(search_dir(tmp_path), "held", JobResources(timeout_min=5,
                                                                  additional={"hold": True}))
    scheduler = SlurmScheduler(interactive=False)
    ref = JobRef(scheduler.submit(request), request.folder, request.name)
    monkeypatch.setenv("SCANCEL_INTERACTIVE", "true")
    started = time.monotonic()
    scheduler.cancel([ref])
    assert time.monotonic() - started < 10
    wait_until(lambda: scheduler.poll([ref])[ref.job_id] is JobState.CANCELLED, 60,
               every_s=1.0)
