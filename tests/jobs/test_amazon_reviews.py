"""data=amazon_reviews offline: a local file of the hub set's shape, stars to 3 classes."""

from __future__ import annotations

from pathlib import Path

from jobs import infer, train
from jobs.data import load_test
from orchestrator.config import compose as config
from orchestrator.config.settings import InferSpec, Settings, TrainSpec
from tests.support.job_settings import small_train
from tests.support.reviews import write_reviews


def _settings(tmp_path: Path, *extra: str) -> Settings:
    train_file = write_reviews(tmp_path / "train.csv", 800, seed=1)
    test_file = write_reviews(tmp_path / "test.csv", 200, seed=2)
    return config.to_settings(config.compose([
        "data=amazon_reviews", "model=tiny", "data.source=files", f"data.train_file={train_file}",
        f"data.test_file={test_file}", "data.max_length=32", f"data.cache_dir={tmp_path / 'c'}",
        "search.target=0.7", f"search.dir={tmp_path / 's'}", *extra]))


def test_stars_become_three_classes(tmp_path: Path) -> None:
    data = _settings(tmp_path).data
    assert data.labels == ("negative", "neutral", "positive")
    assert (data.hub_name, data.hub_config) == ("mteb/amazon_reviews_multi", "all_languages")
    rows = (tmp_path / "test.csv").read_text(encoding="utf-8").splitlines()[1:]
    stars = [int(r.rsplit(",", 1)[1]) + 1 for r in rows]
    expected = [0 if s <= 2 else 1 if s == 3 else 2 for s in stars]
    assert [e.label for e in load_test(data)] == expected


def test_the_tiny_model_learns_the_multilingual_reviews(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    out = tmp_path / "trial-1"
    spec = TrainSpec(trial=1, seed=42, output_dir=str(out), data=settings.data,
                     model=settings.model, train=small_train(max_steps=60))
    train.run(spec)
    result = infer.run(InferSpec(checkpoint=str(out / "checkpoint-60"),
                                 result_path=str(tmp_path / "r.json"), data=settings.data,
                                 batch_size=32, max_length=32))
    assert result["labels"] == ["negative", "neutral", "positive"]
    assert result["n"] == 200 and result["accuracy"] > 0.6, result["accuracy"]


def test_the_model_group_names_distilbert_multilingual() -> None:
    composed = config.compose(["model=distilbert_multilingual", "search.target=0.7"])
    assert composed["model"]["name_or_path"] == "distilbert/distilbert-base-multilingual-cased"
    assert composed["model"]["dropout"] == 0.1
