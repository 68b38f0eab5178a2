"""What the jobs show while and after they run: the progress file, the step log lines, the
trial's TensorBoard run (train.report_to), and the device facts in their results."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from jobs import infer, progress, tensorboard_job, train
from orchestrator.common import layout
from tests.support.job_settings import TrainedRun, train_spec


def _scalars(run_dir: Path) -> dict[str, list[int]]:
    from tensorboard.backend.event_processing.event_accumulator import (  # type: ignore[import-untyped]
        EventAccumulator,
    )

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_the_progress_file_holds_the_contracts_keys_at_the_end(trained_run: TrainedRun) -> None:
    data: dict[str, Any] = json.loads(layout.progress_path(trained_run.output_dir).read_text())
    assert set(data) == set(progress.KEYS)
    assert (data["step"], data["max_steps"]) == (60, 60)
    assert data["epoch"] == pytest.approx(60 / 45, abs=0.01)  # 720 examples / 16 per step
    assert data["steps_per_s"] > 0
    assert data["examples_per_s"] == pytest.approx(data["steps_per_s"] * 16, rel=0.01)
    assert 0 < data["loss"] < 5 and 0 <= data["learning_rate"] < 1e-3
    assert abs(data["t"] - layout.done_path(trained_run.output_dir).stat().st_mtime) < 60


def test_auto_reports_to_the_trials_tensorboard_run(trained_run: TrainedRun) -> None:
    tags = _scalars(layout.tensorboard_dir(trained_run.output_dir))
    assert tags["train/loss"] == [10, 20, 30, 40, 50, 60]
    for metric in ("accuracy", "f1_macro", "precision_macro", "recall_macro", "loss"):
        assert tags[f"validation/{metric}"] == [20, 40, 60]  # the test split's names
    assert tags["eval/f1"] == [20, 40, 60]  # the Trainer's own, as it logs them
    assert not any(t.startswith("validation/") and t.endswith("_per_second") for t in tags)
    assert not (trained_run.output_dir / "runs").exists()  # the Trainer's default folder


def test_train_done_says_what_it_ran_on(trained_run: TrainedRun) -> None:
    done = json.loads(layout.done_path(trained_run.output_dir).read_text())
    assert (done["device_name"], done["peak_gpu_memory_bytes"]) == ("CPU", None)
    assert done["examples_per_s"] > 0


def test_the_inference_result_says_what_it_ran_on(trained_run: TrainedRun,
                                                 tmp_path: Path) -> None:
    result = infer.run(trained_run.infer_spec(tmp_path / "result.json", step=20))
    assert (result["device_name"], result["peak_gpu_memory_bytes"]) == ("CPU", None)
    assert result["examples_per_s"] > 0


@pytest.mark.parametrize(("per_device", "accumulation", "processes", "began", "now", "rate"), [
    (16, 1, 1, 0, 60, 6.0),     # 60 steps in 10 s
    (16, 4, 2, 0, 60, 6.0),     # each optimizer step takes 16 x 4 x 2 examples
    (16, 1, 1, 40, 60, 2.0),    # resumed at step 40: only this process's 20 steps count
    (16, 1, 1, 60, 60, None),   # no step yet: no speed rather than a made-up one
])
def test_speed_counts_this_processs_steps_and_every_example_of_a_step(
    per_device: int, accumulation: int, processes: int, began: int, now: int,
    rate: float | None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    writer = progress.ProgressFile(str(tmp_path))
    writer.began_step = began
    monkeypatch.setattr(time, "monotonic", lambda: writer.began_at + 10.0)
    args: Any = SimpleNamespace(train_batch_size=per_device, world_size=processes,
                                gradient_accumulation_steps=accumulation)
    state: Any = SimpleNamespace(global_step=now, max_steps=100, epoch=1.5)
    data = writer.snapshot(args, state)
    assert (data["step"], data["max_steps"], data["epoch"]) == (now, 100, 1.5)
    assert data["steps_per_s"] == rate
    expected = None if rate is None else rate * per_device * accumulation * processes
    assert data["examples_per_s"] == expected


def test_none_writes_no_run_and_the_log_shows_the_step(
    tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "trial-1"
    train.run(train_spec(out, cache_dir, max_steps=20, report_to="none"))
    printed = capsys.readouterr().out
    assert "step 10/20 {'loss': " in printed and "step 20/20 {'eval_loss': " in printed
    # numbers as the Trainer's own PrinterCallback prints them: users' log regexes keep working
    assert re.search(r"step 10/20 \{'loss': '[-\d.e+]+'.*'epoch': '[\d.]+'", printed), printed
    assert "\n{'loss'" not in printed  # the Trainer's own dict line is replaced, not doubled
    assert not layout.tensorboard_dir(out).exists()
    assert json.loads(layout.progress_path(out).read_text())["step"] == 20


@pytest.mark.parametrize(("setting", "expected"), [
    ("auto", ["tensorboard"]),  # installed in the test environment
    ("none", []),
    ("tensorboard", ["tensorboard"]),
])
def test_report_to_resolves(setting: str, expected: list[str], tmp_path: Path) -> None:
    assert tensorboard_job.report_to(setting, str(tmp_path)) == expected


@pytest.mark.parametrize("tracker", ["wandb", "mlflow"])
def test_a_tracker_that_is_not_installed_is_refused_with_what_to_do(
    tracker: str, tmp_path: Path
) -> None:
    if tensorboard_job._installed(tracker):
        pytest.skip(f"{tracker} is installed here")
    with pytest.raises(ValueError, match=f"pip install {tracker}, or set train.report_to=none"):
        tensorboard_job.report_to(tracker, str(tmp_path))


def test_wandb_runs_offline_unless_the_user_said_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tensorboard_job, "_installed", lambda package: True)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_DIR", "/somewhere/else")
    import os

    assert tensorboard_job.report_to("wandb", str(tmp_path)) == ["wandb"]
    assert (os.environ["WANDB_MODE"], os.environ["WANDB_DIR"]) == ("offline", "/somewhere/else")
    monkeypatch.setenv("WANDB_MODE", "online")
    tensorboard_job.report_to("wandb", str(tmp_path))
    assert os.environ["WANDB_MODE"] == "online"
