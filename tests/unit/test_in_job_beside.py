"""in_job_call starts an evaluator beside training only when the request says so, and
only in task 0 (the evaluator itself: tests/jobs/test_with_training.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator.config.settings import DataSettings, EvaluatorSpec, InferSpec, JobResources
from orchestrator.model.transitions import JobKind
from orchestrator.placement import work_queue
from orchestrator.scheduler import JobRequest, in_job
from orchestrator.scheduler.submitit_jobs import in_job_call


def _spec(tmp_path: Path) -> EvaluatorSpec:
    infer = InferSpec(checkpoint="", result_path="", data=DataSettings())
    return EvaluatorSpec(str(tmp_path), "trial-001", infer, trial_dir=str(tmp_path / "t"))


@pytest.mark.parametrize(("command", "beside", "function"), [
    ((), False, in_job.call),
    (("train.sh",), False, in_job.run_command),
    ((), True, in_job.call_beside),
    (("train.sh",), True, in_job.run_command_beside),
])
def test_the_job_runs_its_evaluator_only_when_asked(tmp_path: Path, command: tuple[str, ...],
                                                    beside: bool, function: object) -> None:
    spec = _spec(tmp_path) if beside else None
    request = JobRequest(key="train-t001-a0", kind=JobKind.TRAIN, name="x", folder=tmp_path,
                         resources=JobResources(), target="jobs.train:run", spec="S",
                         command=command, output="out", beside=spec)
    called, args = in_job_call(request)
    assert called is function
    assert (args[0] is spec) == beside  # the evaluator's spec first, else none at all


@pytest.mark.parametrize("rank", [("RANK", "1"), ("SLURM_PROCID", "2")])
def test_only_task_0_starts_an_evaluator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         rank: tuple[str, str]) -> None:
    monkeypatch.setenv(*rank)
    with in_job.beside(_spec(tmp_path)):
        pass
    assert not (tmp_path / "evaluators").exists()  # no queue folder, no spec, no process


def test_no_spec_no_evaluator(tmp_path: Path) -> None:
    with in_job.beside(None):
        pass
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("exits", "spawns"), [
    # an evaluator that failed a hung evaluation itself (EXIT_OVERRAN) is restarted without
    # using one of its MAX_EVALUATOR_RESTARTS: each such exit costs that task a retry instead
    ([work_queue.EXIT_OVERRAN] * 5 + [0], 6),
    ([1] * 10, 1 + in_job.MAX_EVALUATOR_RESTARTS),  # crashes: restarted 3 times, then not
    ([1, work_queue.EXIT_OVERRAN, 1, 1, 1, 1], 5),
])
def test_evaluator_restarts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            exits: list[int], spawns: int) -> None:
    codes = iter(exits)
    spawned: list[int] = []

    def spawn(self: Any) -> None:
        code = next(codes)
        spawned.append(code)
        self.process = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"])

    monkeypatch.setattr(in_job._Beside, "_spawn", spawn)
    with in_job.beside(_spec(tmp_path)):
        pass  # training returned at once: the evaluator is drained, restarts and all
    assert len(spawned) == spawns
