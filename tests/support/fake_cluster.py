"""The controller's logic tests' cluster: FakeScheduler, an in-memory scheduler behind the
Scheduler interface (jobs run until a test ends them), and World, which plays the jobs from
the controller's sleep hook (checkpoints appear, inference jobs write their results on a
script of ticks); settings_for gives fast settings for a search in a tmp_path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from orchestrator.common import layout
from orchestrator.common.causes import JobFailure
from orchestrator.common.checkpoints import write_marker
from orchestrator.config.resolve import resolved_mode
from orchestrator.config.settings import (
    DataSettings,
    ExecutorSettings,
    InferSettings,
    ModelSettings,
    SearchSettings,
    Settings,
    TrainSettings,
)
from orchestrator.model.transitions import JobState
from orchestrator.scheduler import JobRef, JobRequest


class FakeScheduler:
    submit_settle_s = 0.0

    def __init__(self) -> None:
        self.requests: dict[str, JobRequest] = {}
        self.states: dict[str, JobState] = {}
        self.cancelled: list[str] = []
        self.polls = 0
        self.failures: dict[str, str] = {}  # job id -> the error its result holds
        self.causes: dict[str, str] = {}  # job id -> the cause the job itself wrote

    def submit(self, request: JobRequest) -> str:
        job_id = str(100 + len(self.requests))
        self.requests[job_id] = request
        self.states[job_id] = JobState.RUNNING
        return job_id

    def recover(self, request: JobRequest) -> str | None:
        found = [i for i, r in self.requests.items() if r.key == request.key]
        return found[-1] if found else None

    def poll(self, jobs: Sequence[JobRef]) -> Mapping[str, JobState]:
        self.polls += 1
        return {ref.job_id: self.states[ref.job_id] for ref in jobs}

    def cancel(self, jobs: Sequence[JobRef]) -> None:
        for ref in jobs:
            self.cancelled.append(ref.job_id)
            if not self.states[ref.job_id].terminal:
                self.states[ref.job_id] = JobState.CANCELLED

    def failure(self, job: JobRef) -> JobFailure:
        return JobFailure(self.causes.get(job.job_id),
                          self.failures.get(job.job_id, "RuntimeError: boom"))

    def log_paths(self, job: JobRef) -> list[Path]:
        return [job.folder / f"{job.job_id}_0_log.out"]

    def render(self, request: JobRequest) -> str:
        return ""

    def by_kind(self, kind: str) -> list[tuple[str, JobRequest]]:
        return [(i, r) for i, r in self.requests.items() if r.kind == kind]


def settings_for(tmp_path: Path, **search: Any) -> Settings:
    settings = Settings(
        search=replace(SearchSettings(dir=str(tmp_path), target=0.8, drain_timeout_s=1), **search),
        executor=ExecutorSettings(poll_interval_s=0.01, max_poll_interval_s=0.01,
                                  fs_interval_s=0.01),
        data=DataSettings(), model=ModelSettings(), train=TrainSettings(), infer=InferSettings(),
    )
    # as validation does: below it, search.mode is always max or min
    return replace(settings, search=replace(settings.search, mode=resolved_mode(settings)))


class World:
    """Plays the jobs: a script of (tick -> action) run from the controller's sleep hook."""

    def __init__(self, sched: FakeScheduler, search_dir: Path) -> None:
        self.sched = sched
        self.dir = search_dir
        self.ticks = 0
        self.script: dict[int, Callable[[], None]] = {}
        self.auto_results: dict[int, float | None] = {}  # step -> value the infer job writes
        self.by_trial: dict[tuple[int, int], float] = {}  # (trial, step) -> value, if set
        self.result_of: Callable[[float], dict[str, Any]] = lambda v: {"accuracy": v}

    def checkpoint(self, *steps: int, trial: int = 1) -> None:
        for step in steps:
            path = layout.checkpoint_dir(layout.trial_dir(self.dir, trial), step)
            path.mkdir(parents=True, exist_ok=True)
            write_marker(path, step)

    def end_training(self, state: JobState = JobState.SUCCEEDED, error: str = "",
                     cause: str = "") -> None:
        job_id, _ = self.sched.by_kind("train")[-1]
        self.sched.states[job_id] = state
        if error:
            self.sched.failures[job_id] = error
        if cause:
            self.sched.causes[job_id] = cause

    def sleep(self, _: float) -> None:
        self.ticks += 1
        if self.ticks in self.script:
            self.script[self.ticks]()
        for job_id, request in self.sched.by_kind("infer"):
            step = request.spec.result_path
            step_no = int(Path(step).stem.split("-")[1])
            trial_no = int(Path(step).parent.parent.name)
            known = self.by_trial.get((trial_no, step_no), self.auto_results.get(step_no, -1.0))
            if self.sched.states[job_id] is JobState.RUNNING and known != -1.0:
                value = self.auto_results.get(step_no) if known is None else known
                if value is None:
                    self.sched.states[job_id] = JobState.FAILED
                    continue
                Path(step).parent.mkdir(parents=True, exist_ok=True)
                Path(step).write_text(json.dumps(self.result_of(value)))
                self.sched.states[job_id] = JobState.SUCCEEDED
        if self.ticks > 500:
            raise AssertionError("the controller did not finish")
