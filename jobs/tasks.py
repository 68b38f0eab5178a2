"""What the training job does differently per `data.task`: classification or regression.

`jobs.train` asks `task_parts(spec)` for the data, the class weights, the encoding, the
validation metrics and the Trainer class, and never branches on the task itself. Imported
inside the training job only (it imports torch and transformers through trainer_parts).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from transformers import EvalPrediction, PreTrainedModel, PreTrainedTokenizerBase

from jobs import trainer_parts as parts
from jobs.data import Example, load_train_val
from jobs.heads import REGRESSION
from orchestrator.config.settings import DataSettings, TrainSpec


class Classification:
    """The users' recipe: class ids, optionally class-weighted cross-entropy."""

    trainer_class: type[parts.WeightedLossTrainer] = parts.WeightedLossTrainer

    def __init__(self, spec: TrainSpec) -> None:
        self.spec = spec

    def load_train_val(self, data: DataSettings) -> tuple[list[Example], list[Example]]:
        return load_train_val(data)

    def prepare(self, model: PreTrainedModel) -> None:
        """Nothing to add to a classifier's config."""

    def weights(self, train_set: Sequence[Example]) -> Any:
        if not self.spec.train.class_weighted_loss:
            return None
        return parts.class_weights([e.label for e in train_set], len(self.spec.data.labels))

    def encode(self, tokenizer: PreTrainedTokenizerBase, items: Sequence[Example],
               max_length: int) -> Any:
        return parts.encode(tokenizer, items, max_length)

    def compute_metrics(self) -> Callable[[EvalPrediction], dict[str, float]]:
        return parts.compute_metrics_for(len(self.spec.data.labels))


def task_parts(spec: TrainSpec) -> Any:
    """`Classification`, or `jobs.regression.Regression` (the same methods)."""
    if spec.data.task == REGRESSION:
        from jobs.regression import Regression

        return Regression(spec)
    return Classification(spec)
