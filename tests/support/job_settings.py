"""Settings for the short real training runs the job tests share (imported by conftest)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.config.settings import (
    DataSettings,
    InferSpec,
    ModelSettings,
    TrainSettings,
    TrainSpec,
)


def small_data(cache_dir: Path) -> DataSettings:
    return DataSettings(
        cache_dir=str(cache_dir),
        max_length=32,
        synthetic_train_size=800,  # 720 train + 80 validation
        synthetic_test_size=300,
    )


def small_train(**changes: Any) -> TrainSettings:
    base: dict[str, Any] = dict(
        max_steps=60,
        per_device_batch_size=16,
        grad_accum_steps=1,
        learning_rate=1e-3,
        warmup_steps=5,
        logging_steps=10,
        eval_steps=20,
        save_steps=20,
        dataloader_num_workers=0,
        early_stopping_patience=0,
    )
    base.update(changes)
    return TrainSettings(**base)


def train_spec(output_dir: Path, cache_dir: Path, **changes: Any) -> TrainSpec:
    return TrainSpec(
        trial=1,
        seed=42,
        output_dir=str(output_dir),
        data=small_data(cache_dir),
        model=ModelSettings(),
        train=small_train(**changes),
    )


@dataclass(frozen=True)
class TrainedRun:
    output_dir: Path
    cache_dir: Path
    result: dict[str, Any]

    def infer_spec(self, result_path: Path, step: int = 60) -> InferSpec:
        return InferSpec(
            checkpoint=str(self.output_dir / f"checkpoint-{step}"),
            result_path=str(result_path),
            data=small_data(self.cache_dir),
            batch_size=32,
            max_length=32,
        )
