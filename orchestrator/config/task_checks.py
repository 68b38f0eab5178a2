"""Configuration problems of `data.task` (classification | regression), one line each.

A regression reads a number from data.label_column and reports mae, rmse, r2 and loss;
classification-only settings (data.labels, data.label_map, train.class_weighted_loss) are
ignored for it, and those that would make the search ask for a class metric are refused
here, with the fix. Pure: validate calls it with the settings.

`train.metric_for_best_model=auto` (the default) is resolved here, by `best_model_metric`:
the data group is composed before the train group, so conf/data/synthetic_prices.yaml cannot
set it; the task and the search's metric decide instead (validate resolves it once; the
training job resolves a hand-built spec's `auto` without the search metric).
"""

from __future__ import annotations

from dataclasses import replace

from orchestrator.config.settings import Settings, Task, TrainSettings

TASKS = tuple(t.value for t in Task)  # shape reports another value of data.task
REGRESSION_METRICS = ("mae", "rmse", "r2", "loss")  # what jobs.regression reports
REGRESSION_ONLY_SOURCES = ("synthetic_prices",)
CLASSIFICATION_ONLY_SOURCES = ("synthetic",)
AUTO = "auto"  # train.metric_for_best_model: follow the task (and the search's metric)


def best_model_metric(task: str, metric: str, search_metric: str = "") -> str:
    """train.metric_for_best_model with `auto` resolved: a classification keeps the users'
    recipe (f1, macro F1 on validation); a regression keeps the search's own metric where
    its validation reports it (mae, rmse, r2, loss), else mae."""
    if metric != AUTO:
        return metric
    if task != Task.REGRESSION:
        return "f1"
    return search_metric if search_metric in REGRESSION_METRICS else "mae"


def resolved_train(s: Settings) -> TrainSettings:
    """s.train with train.metric_for_best_model=auto resolved (`best_model_metric`)."""
    metric = best_model_metric(s.data.task, s.train.metric_for_best_model, s.search.metric)
    return replace(s.train, metric_for_best_model=metric)


def is_regression(s: Settings) -> bool:
    return s.data.task == Task.REGRESSION


def problems(s: Settings) -> list[str]:
    task, source = s.data.task, s.data.source
    if task not in TASKS:
        return [f"data.task={task}: must be one of {', '.join(TASKS)}"]
    if task == "classification":
        if source in REGRESSION_ONLY_SOURCES:
            return [f"data.source={source} holds prices, not classes: set data.task=regression "
                    "(data=synthetic_prices does)"]
        return []
    if source in CLASSIFICATION_ONLY_SOURCES:
        return [f"data.task=regression with data.source={source}: that set has classes, not "
                "numbers; use data=synthetic_prices, or data=files with data.label_column "
                "naming a numeric column"]
    return [*_search_metric(s), *_best_model_metric(s)]


def _search_metric(s: Settings) -> list[str]:
    metric, target = s.search.metric, s.search.target
    if s.infer.command:
        return []  # a user's script reports whatever its regex reads
    if metric not in REGRESSION_METRICS:
        return [f"search.metric={metric}: a regression's inference job reports "
                f"{', '.join(REGRESSION_METRICS)}; e.g. search.metric=mae"]
    if target is None:
        return []  # validate reports it
    if metric in ("mae", "rmse", "loss") and target < 0:
        return [f"search.target={target:g}: {metric} is never negative"]
    if metric == "r2" and target > 1:
        return [f"search.target={target:g}: r2 is at most 1"]
    return []


def _best_model_metric(s: Settings) -> list[str]:
    t = s.train
    metric = t.metric_for_best_model.removeprefix("eval_")
    if t.command or not t.load_best_model_at_end or metric in (*REGRESSION_METRICS, AUTO):
        return []
    return [f"train.metric_for_best_model={t.metric_for_best_model}: a regression's validation "
            f"reports {', '.join(REGRESSION_METRICS)}; use train.metric_for_best_model=auto (the "
            "search's metric) or mae (or train.load_best_model_at_end=false)"]
