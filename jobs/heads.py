"""The model's head and the best-model direction per `data.task`. Standard library only:
`jobs.trainer_parts` and `jobs.tasks` both import it."""

from __future__ import annotations

from typing import Any

from orchestrator.config.settings import DataSettings

REGRESSION = "regression"


def head_config(data: DataSettings) -> dict[str, Any]:
    """The model config's head settings: one output for a regression, a class per label."""
    if data.task == REGRESSION:
        return {"num_labels": 1, "problem_type": "regression", "id2label": {0: "target"},
                "label2id": {"target": 0}}
    labels = list(data.labels)
    return {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
            "label2id": {name: i for i, name in enumerate(labels)}}


def greater_is_better(data: DataSettings, metric: str) -> bool | None:
    """For train.metric_for_best_model: None leaves it to the Trainer (loss: lower, the rest
    higher), which would keep the worst checkpoint by mae or rmse."""
    if data.task == REGRESSION and metric.removeprefix("eval_") in ("mae", "rmse"):
        return False
    return None
