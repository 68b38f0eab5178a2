"""Regression: one output, MSE loss, and mae / rmse / r2 where a classifier has accuracy.

Theory of operation: with `data.task=regression` the label column holds a number (a price,
in dollars). The training job learns it standardised, `(y - mean) / std` with the mean and
standard deviation of the train split, because a freshly initialised head starts near 0 and
Adam moves it by about the learning rate per step: in dollars it would never get there. The
two numbers are saved in the model's config.json (`regression_mean`, `regression_std`), so
every checkpoint (and best/) says how to turn its output back into the target's units:
`y = output * regression_std + regression_mean`; validation during training and the
inference job (`evaluate`) report mae, rmse and r2 in those units. Classification-only
pieces (labels, label_map, class weights, the per-class report, the confusion matrix) do
not apply; validation refuses the settings that would need them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from transformers import EvalPrediction, PreTrainedModel, PreTrainedTokenizerBase

from jobs.data import raw_rows, split_validation
from jobs.trainer_parts import WeightedLossTrainer
from orchestrator.config.settings import DataSettings, TrainSpec

METRICS = ("mae", "rmse", "r2")
MEAN_KEY, STD_KEY = "regression_mean", "regression_std"


class Target(NamedTuple):
    text: str
    value: float


class Scale(NamedTuple):
    mean: float
    std: float

    def to_units(self, outputs: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        return outputs * self.std + self.mean


def target_value(raw: Any, where: str) -> float:
    """The number in a label cell, or ValueError naming the row and the fix."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(raw, bool) or not math.isfinite(value):
        raise ValueError(f"{where}: target {raw!r} is not a finite number; data.task="
                         "regression needs a numeric data.label_column")
    return value


def load_split(data: DataSettings, split: str) -> list[Target]:
    return [Target(text, target_value(raw, where)) for text, raw, where in raw_rows(data, split)]


def load_train_val(data: DataSettings) -> tuple[list[Target], list[Target]]:
    return split_validation(load_split(data, "train"), data.val_fraction)


def scale_of(targets: Sequence[Target]) -> Scale:
    values = np.asarray([t.value for t in targets], dtype=np.float64)
    std = float(values.std())
    return Scale(float(values.mean()), std if std > 0 else 1.0)


def metrics(y_true: Sequence[float], y_pred: Sequence[float]) -> dict[str, float]:
    """mae, rmse and r2 (1 - residual / total sum of squares; 0 when the truth is constant)."""
    truth, guess = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    error = guess - truth
    total = float(((truth - truth.mean()) ** 2).sum()) if len(truth) else 0.0
    return {
        "mae": float(np.abs(error).mean()) if len(truth) else math.nan,
        "rmse": float(np.sqrt((error**2).mean())) if len(truth) else math.nan,
        "r2": 1.0 - float((error**2).sum()) / total if total > 0 else 0.0,
    }


class RegressionTrainer(WeightedLossTrainer):
    """The same trainer (NaN guard, accumulation) with MSE on the one output."""

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(logits.squeeze(-1), labels.to(logits.dtype))


class Regression:
    """The regression pieces `jobs.train` uses in place of `jobs.tasks.Classification`'s."""

    trainer_class = RegressionTrainer

    def __init__(self, spec: TrainSpec) -> None:
        self.spec = spec
        self.scale = Scale(0.0, 1.0)

    def load_train_val(self, data: DataSettings) -> tuple[list[Target], list[Target]]:
        train, val = load_train_val(data)
        self.scale = scale_of(train)
        return train, val

    def prepare(self, model: PreTrainedModel) -> None:
        # saved with the config into every checkpoint: the way back to the target's units
        setattr(model.config, MEAN_KEY, self.scale.mean)
        setattr(model.config, STD_KEY, self.scale.std)

    def weights(self, train_set: Sequence[Target]) -> None:
        return None  # class weights are for classes

    def encode(self, tokenizer: PreTrainedTokenizerBase, items: Sequence[Target],
               max_length: int) -> Any:
        import datasets

        encoded = tokenizer([t.text for t in items], truncation=True, max_length=max_length)
        columns = {key: list(values) for key, values in encoded.items()}
        columns["labels"] = [(t.value - self.scale.mean) / self.scale.std for t in items]
        return datasets.Dataset.from_dict(columns)

    def compute_metrics(self) -> Callable[[EvalPrediction], dict[str, float]]:
        def compute(prediction: EvalPrediction) -> dict[str, float]:
            outputs = prediction.predictions
            outputs = outputs[0] if isinstance(outputs, tuple) else outputs
            guess = self.scale.to_units(np.asarray(outputs, dtype=np.float64).reshape(-1))
            truth = self.scale.to_units(np.asarray(prediction.label_ids, dtype=np.float64))
            return metrics(truth.tolist(), guess.tolist())

        return compute


# --------------------------------------------------------------------------- inference
def score(splits: dict[str, list[Target]], outputs: torch.Tensor,
          model: PreTrainedModel) -> dict[str, dict[str, Any]]:
    """A regression checkpoint's metrics per split (mae / rmse / r2, in the target's units),
    from its `outputs` for the splits' texts in order: jobs.evaluator puts them in the same
    result shape as a classifier's (the test split's at the top, both under `metrics`)."""
    scale = Scale(float(getattr(model.config, MEAN_KEY, 0.0)),
                  float(getattr(model.config, STD_KEY, 1.0)))
    predicted = scale.to_units(outputs[:, 0].double().numpy())
    scored: dict[str, dict[str, Any]] = {}
    start = 0
    for name, split in splits.items():
        rows, start = predicted[start : start + len(split)], start + len(split)
        truth = [t.value for t in split]
        found = metrics(truth, rows.tolist())
        scored[name] = {"n": len(split), **found, "loss": found["rmse"] ** 2}
    return scored


def examples(splits: dict[str, list[Target]], outputs: torch.Tensor,
             model: PreTrainedModel) -> dict[str, dict[str, list[float]]]:
    """Each split's per-example scores in the target's units (common.example_scores):
    neg_abs_error for mae, neg_loss (minus the squared error) for rmse, r2 and loss."""
    scale = Scale(float(getattr(model.config, MEAN_KEY, 0.0)),
                  float(getattr(model.config, STD_KEY, 1.0)))
    predicted = scale.to_units(outputs[:, 0].double().numpy())
    found: dict[str, dict[str, list[float]]] = {}
    start = 0
    for name, split in splits.items():
        rows, start = predicted[start : start + len(split)], start + len(split)
        error = rows - np.asarray([t.value for t in split], dtype=np.float64)
        found[name] = {"neg_abs_error": (-np.abs(error)).tolist(),
                       "neg_loss": (-(error**2)).tolist()}
    return found


def print_legacy_lines(result: dict[str, Any]) -> None:
    # The legacy loop's shape, one line per metric, for users' regexes such as
    # `The mean absolute error is ([\d.]+)`.
    print(f"length of dataset is {result['n']}", flush=True)
    print(f"The mean absolute error is {result['mae']} .", flush=True)
    print(f"The root mean squared error is {result['rmse']} .", flush=True)
    print(f"The r2 score is {result['r2']} .", flush=True)
    print(f"Total inference time is {result['seconds']} sec.", flush=True)
