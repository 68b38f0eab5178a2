from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jobs import train
from orchestrator.common.checkpoints import complete_checkpoints
from orchestrator.common.layout import COMPLETE_MARKER
from orchestrator.config.settings import TrainSettings
from tests.support.job_settings import TrainedRun, train_spec

REPO = Path(__file__).resolve().parents[2]


def _read(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))


def test_checkpoints_each_carry_the_completion_marker(trained_run: TrainedRun) -> None:
    out = trained_run.output_dir
    assert [c.step for c in complete_checkpoints(out)] == [20, 40, 60]
    run = _read(out / "plan.json")["run"]  # type: ignore[index]
    assert isinstance(run, str) and run  # the run that wrote them: plan and markers agree
    for step in (20, 40, 60):
        assert _read(out / f"checkpoint-{step}" / COMPLETE_MARKER) == {"global_step": step,
                                                                       "run": run}
        assert (out / f"checkpoint-{step}" / "tokenizer.json").is_file()


def test_plan_describes_the_schedule(trained_run: TrainedRun) -> None:
    plan = _read(trained_run.output_dir / "plan.json")
    assert isinstance(plan, dict) and plan.pop("run")
    assert plan == {
        "max_steps": 60,
        "save_steps": 20,
        "num_train_examples": 720,
        "num_val_examples": 80,
        "trial": 1,
        "seed": 42,
    }


def test_train_done_matches_the_returned_dict(trained_run: TrainedRun) -> None:
    result = trained_run.result
    assert _read(trained_run.output_dir / "train_done.json") == result
    assert set(result) == {"global_step", "best_checkpoint", "best_metric", "train_seconds",
                           "device_name", "peak_gpu_memory_bytes", "examples_per_s"}
    assert result["global_step"] == 60
    assert Path(result["best_checkpoint"]).parent == trained_run.output_dir
    assert 0.0 <= result["best_metric"] <= 1.0
    assert result["train_seconds"] > 0


def test_the_log_history_is_kept_outside_the_checkpoints(trained_run: TrainedRun) -> None:
    """report.html's curves: the last checkpoint's list (then the training summary the
    Trainer logs at its end), in the trial folder."""
    out = trained_run.output_dir
    state = _read(out / "checkpoint-60" / "trainer_state.json")
    kept = _read(out / "log_history.json")
    assert isinstance(state, dict) and isinstance(kept, list)
    assert kept[:-1] == state["log_history"] and "train_runtime" in kept[-1]


def test_a_restart_resumes_from_the_last_checkpoint(
    trained_run: TrainedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "trial-1"
    shutil.copytree(trained_run.output_dir, out)
    first = {p: p.read_bytes() for p in sorted((out / "checkpoint-60").iterdir())}
    result = train.run(train_spec(out, trained_run.cache_dir, max_steps=100))
    assert f"resuming from {out / 'checkpoint-60'} (step 60)" in capsys.readouterr().out
    assert result["global_step"] == 100
    assert [c.step for c in complete_checkpoints(out)] == [20, 40, 60, 80, 100]
    assert {p: p.read_bytes() for p in sorted((out / "checkpoint-60").iterdir())} == first
    # The resumed run's history still holds the first run's evaluations: not from scratch.
    state = _read(out / "checkpoint-80" / "trainer_state.json")
    assert isinstance(state, dict)
    eval_steps = [e["step"] for e in state["log_history"] if "eval_accuracy" in e]
    assert eval_steps == [20, 40, 60, 80]
    plan = _read(out / "plan.json")
    assert isinstance(plan, dict) and plan["max_steps"] == 100


def test_model_only_checkpoints_cannot_resume_and_are_moved_aside(
    tmp_path: Path, cache_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "trial-1"
    spec = train_spec(
        out, cache_dir, max_steps=10, save_steps=5, eval_steps=5, save_only_model=True
    )
    train.run(spec)
    capsys.readouterr()
    train.run(spec)
    assert "has no optimizer state (save_only_model): starting over" in capsys.readouterr().out
    (aside,) = out.glob("superseded-*")
    assert sorted(p.name for p in aside.iterdir()) == ["checkpoint-10", "checkpoint-5"]
    assert [c.step for c in complete_checkpoints(out)] == [5, 10]


def test_a_nan_loss_stops_with_the_step(tmp_path: Path, cache_dir: Path) -> None:
    spec = train_spec(tmp_path / "nan", cache_dir, learning_rate=1e38, max_grad_norm=0.0)
    with pytest.raises(RuntimeError, match=r"^loss became NaN at step \d+ "):
        train.run(spec)
    assert not (tmp_path / "nan" / "train_done.json").exists()


def test_cuda_out_of_memory_becomes_train_out_of_memory(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    def out_of_memory(spec: object) -> dict[str, object]:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(train, "_train", out_of_memory)
    with pytest.raises(train.TrainOutOfMemory, match=r"^out of memory: per_device_batch_size=16"):
        train.run(train_spec(tmp_path, cache_dir))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (dict(early_stopping_patience=3, load_best_model_at_end=False), "load_best_model_at_end"),
        (dict(save_steps=30, eval_steps=20), "multiple of train.eval_steps"),
    ],
)
def test_settings_the_trainer_would_reject_fail_first(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        train.check_settings(TrainSettings(**changes))  # type: ignore[arg-type]


def test_the_job_modules_import_without_torch() -> None:
    code = (
        "import sys, jobs.train, jobs.infer\n"
        "heavy = {'torch', 'transformers', 'datasets', 'sklearn'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
