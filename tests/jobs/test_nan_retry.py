"""The training job's side of the NaN-in-fp16 retry: it says nan_fp16, the retry's
precision resolves, and the fault used by the end-to-end test does what it says."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs import faults, train
from jobs.trainer_parts import resolve_precision
from orchestrator.common import failures
from orchestrator.config.settings import Precision
from tests.support.job_settings import train_spec


def test_a_nan_in_fp16_is_classified_nan_fp16(tmp_path: Path, cache_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(faults.ENV, "7")
    spec = train_spec(tmp_path / "t", cache_dir, precision="fp16", max_steps=20)
    with pytest.raises(RuntimeError) as caught:
        train.run(spec)
    assert str(caught.value).startswith("loss became NaN at step 7 (precision fp16)")
    assert failures.classify(caught.value).cause == "nan_fp16"


def test_a_nan_in_fp32_stays_nan(tmp_path: Path, cache_dir: Path) -> None:
    spec = train_spec(tmp_path / "t", cache_dir, learning_rate=1e38, max_grad_norm=0.0,
                      max_steps=20)
    with pytest.raises(RuntimeError) as caught:
        train.run(spec)
    assert failures.classify(caught.value).cause == "nan"


def test_the_fault_leaves_other_precisions_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.config.settings import TrainSettings

    monkeypatch.setenv(faults.ENV, "7")
    assert faults.fp16_nan_at(TrainSettings(precision=Precision.FP16)) == 7
    assert faults.fp16_nan_at(TrainSettings(precision=Precision.BF16_OR_FP32)) is None
    monkeypatch.delenv(faults.ENV)
    assert faults.fp16_nan_at(TrainSettings(precision=Precision.FP16)) is None


def test_the_retry_precision_is_fp32_on_a_cpu() -> None:
    assert resolve_precision("bf16_or_fp32") == "fp32"
