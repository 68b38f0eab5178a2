"""data.task=regression in the configuration: the metric's direction, what is ignored."""

from __future__ import annotations

import pytest

from orchestrator.config import compose as config

PRICES = ["data=synthetic_prices", "train.metric_for_best_model=mae"]


@pytest.mark.parametrize(("metric", "target", "mode"), [
    ("mae", 12.5, "min"), ("rmse", 20, "min"), ("loss", 100, "min"), ("r2", 0.9, "max")])
def test_a_regression_metric_picks_its_own_direction(metric: str, target: float,
                                                     mode: str) -> None:
    settings = config.to_settings(config.compose(
        [*PRICES, f"search.metric={metric}", f"search.target={target}"]))
    assert (settings.data.task, settings.search.mode) == ("regression", mode)


def test_classification_only_settings_are_ignored_for_a_regression() -> None:
    # a label_map and 3 labels: a regression on the same file ignores them
    settings = config.to_settings(config.compose(
        [*PRICES, "search.metric=mae", "search.target=10", "data.labels=[x]",
         "data.label_map={1: nothing}", "train.class_weighted_loss=true"]))
    assert settings.data.task == "regression"


def test_the_default_task_is_classification() -> None:
    settings = config.to_settings(config.compose(["search.target=0.8"]))
    assert settings.data.task == "classification"
