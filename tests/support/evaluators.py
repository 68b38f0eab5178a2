"""Helpers for the tests of the long-lived evaluator (jobs.worker, in_job.beside)."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from orchestrator.common import layout
from orchestrator.config.settings import EvaluatorSpec
from orchestrator.placement.work_queue import Task
from tests.support.job_settings import TrainedRun


def evaluator_spec(run: TrainedRun, search: Path, idle_s: float = 30.0,
                   queue: str = layout.WORKERS, trial_dir: str = "",
                   task_limit_s: float = 0.0) -> EvaluatorSpec:
    infer_spec = replace(run.infer_spec(Path("unused")), checkpoint="", result_path="")
    return EvaluatorSpec(str(search), queue, infer_spec, idle_s, trial_dir,
                         task_limit_s=task_limit_s)


def task(run: TrainedRun | None, out: Path, step: int, trial: int = 1, attempt: int = 1,
         checkpoint: str = "", command: tuple[str, ...] = ()) -> Task:
    key = f"infer-t{trial:03d}-s{step:08d}-a{attempt}"
    where = checkpoint or str((run.output_dir if run else out) / f"checkpoint-{step}")
    return Task(key, trial, step, where, str(out / f"{key}.json"), command)


def wait_for(condition: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(f"#!{sys.executable}\nimport sys\n{body}\n")
    path.chmod(0o755)
    return str(path)
