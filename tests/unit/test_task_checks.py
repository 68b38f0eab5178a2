"""data.task=regression in the configuration: the metric's direction, what is ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import compose as config
from tests.support.cli import cli

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


@pytest.mark.parametrize(("overrides", "best_model"), [
    (["data=synthetic_prices", "search.metric=mae"], "mae"),
    (["data=synthetic_prices", "search.metric=rmse"], "rmse"),
    (["data=synthetic_prices", "search.metric=r2", "search.target=0.9"], "r2"),
    (["data=synthetic_prices", "search.metric=loss"], "loss"),
    # set by the user: kept
    (["data=synthetic_prices", "search.metric=mae", "train.metric_for_best_model=rmse"], "rmse"),
    (["data=synthetic_prices", "search.metric=mae", "train.metric_for_best_model=auto"], "mae"),
    # a classification keeps the users' recipe: macro F1
    (["search.metric=accuracy", "search.target=0.8"], "f1"),
    (["search.metric=accuracy", "search.target=0.8", "train.metric_for_best_model=loss"],
     "loss"),
])
def test_the_best_model_metric_follows_a_regressions_search_metric(
        overrides: list[str], best_model: str) -> None:
    settings = config.to_settings(config.compose(["search.target=10", *overrides]))
    assert settings.train.metric_for_best_model == best_model


def test_dry_run_shows_the_resolved_best_model_metric(tmp_path: Path) -> None:
    done = cli("run", "data=synthetic_prices", "model=tiny", "search.metric=rmse",
               "search.target=15", f"search.dir={tmp_path / 's'}", "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# the training job keeps its best model by train.metric_for_best_model=rmse" \
        in done.stdout
