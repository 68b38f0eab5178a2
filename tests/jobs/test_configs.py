"""The YAML files under conf/ that the jobs own: field names and the recipe's values."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from orchestrator.config import task_checks
from orchestrator.config.settings import DataSettings, ModelSettings, TrainSettings

CONF = Path(__file__).resolve().parents[2] / "conf"


def _load(relative: str) -> dict[str, Any]:
    loaded = OmegaConf.to_container(OmegaConf.load(CONF / relative))
    assert isinstance(loaded, dict)
    return {str(k): v for k, v in loaded.items()}


def _build(cls: type[Any], raw: dict[str, Any]) -> Any:
    unknown = set(raw) - {f.name for f in dataclasses.fields(cls)}
    assert not unknown, f"{cls.__name__} has no field(s) {unknown}"
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


@pytest.mark.parametrize("name", ["synthetic", "tweet_sentiment", "files"])
def test_data_files_use_data_settings_names(name: str) -> None:
    data = _build(DataSettings, _load(f"data/{name}.yaml"))
    assert data.labels == ("negative", "neutral", "positive")


def test_tweet_sentiment_reads_the_hub_set_with_integer_labels() -> None:
    data = _build(DataSettings, _load("data/tweet_sentiment.yaml"))
    assert (data.source, data.hub_name) == ("hub", "mteb/tweet_sentiment_extraction")
    assert (data.label_map, data.max_length) == ({}, 128)


def test_seed_recipe_is_the_users_recipe() -> None:
    recipe = _build(TrainSettings, _load("train/seed_recipe.yaml"))
    expected = dict(epochs=12, per_device_batch_size=64, grad_accum_steps=2, learning_rate=2e-5,
                    weight_decay=0.01, warmup_steps=500, lr_scheduler="cosine", logging_steps=50,
                    eval_steps=250, save_steps=250, load_best_model_at_end=True,
                    metric_for_best_model="auto", max_grad_norm=1.0, dataloader_num_workers=4,
                    early_stopping_patience=5, class_weighted_loss=True)
    assert {k: getattr(recipe, k) for k in expected} == expected
    # auto is the recipe's macro F1 for a classification
    assert task_checks.best_model_metric("classification", recipe.metric_for_best_model) == "f1"


def test_tiny_sets_model_and_the_train_knobs_it_needs() -> None:
    assert (CONF / "model/tiny.yaml").read_text().startswith("# @package _global_\n")
    raw = _load("model/tiny.yaml")
    assert set(raw) == {"model", "train"}
    model = _build(ModelSettings, raw["model"])
    assert model.name_or_path == "tiny"
    train = _build(TrainSettings, raw["train"])
    assert (train.learning_rate, train.per_device_batch_size, train.epochs) == (1e-3, 32, 7)


def test_bert_base_has_the_users_dropout() -> None:
    model = _build(ModelSettings, _load("model/bert_base.yaml"))
    assert (model.name_or_path, model.dropout) == ("google-bert/bert-base-uncased", 0.1)


@pytest.mark.parametrize(
    "relative",
    ["data/synthetic.yaml", "data/tweet_sentiment.yaml", "data/files.yaml",
     "model/tiny.yaml", "model/bert_base.yaml", "train/seed_recipe.yaml"],
)
def test_every_file_opens_with_the_command_that_uses_it(relative: str) -> None:
    lines = [ln for ln in (CONF / relative).read_text().splitlines() if "@package" not in ln]
    assert lines[0].startswith("# orchestrator run ")


# --- the other workloads (issue 15)
@pytest.mark.parametrize("relative", ["data/synthetic_prices.yaml", "data/amazon_reviews.yaml",
                                      "model/distilbert_multilingual.yaml",
                                      "train/small_gpu.yaml"])
def test_the_other_workloads_open_with_their_command(relative: str) -> None:
    test_every_file_opens_with_the_command_that_uses_it(relative)


def test_synthetic_prices_is_a_regression() -> None:
    data = _build(DataSettings, _load("data/synthetic_prices.yaml"))
    assert (data.task, data.source, data.label_column) == ("regression", "synthetic_prices",
                                                          "price")


def test_amazon_reviews_maps_stars_to_three_classes() -> None:
    data = _build(DataSettings, _load("data/amazon_reviews.yaml"))
    assert (data.hub_name, data.hub_config) == ("mteb/amazon_reviews_multi", "all_languages")
    assert data.label_map == {"0": "negative", "1": "negative", "2": "neutral",
                              "3": "positive", "4": "positive"}


def test_small_gpu_is_the_4gb_recipe() -> None:
    from orchestrator.config import compose as config

    train = config.compose(["train=small_gpu", "model=bert_base", "search.target=0.8"])["train"]
    assert {k: train[k] for k in ("per_device_batch_size", "grad_accum_steps", "precision",
                                  "eval_steps", "save_steps", "learning_rate", "epochs")} == {
        "per_device_batch_size": 6, "grad_accum_steps": 2, "precision": "fp16",
        "eval_steps": 100, "save_steps": 100, "learning_rate": 2e-5, "epochs": 12}
