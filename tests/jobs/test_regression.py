"""The regression pieces without a training run: the price data, the target, the metrics."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from pathlib import Path

import pytest

from jobs import prices, regression
from orchestrator.config.settings import DataSettings, Task


def _prices(cache: Path, **changes: object) -> DataSettings:
    base: dict[str, object] = dict(source="synthetic_prices", task="regression",
                                   label_column="price", cache_dir=str(cache),
                                   synthetic_train_size=300, synthetic_test_size=100)
    base.update(changes)
    return DataSettings(**base)  # type: ignore[arg-type]


def test_the_price_files_are_the_same_bytes_every_time(tmp_path: Path) -> None:
    first = [p.read_bytes() for p in prices.ensure_prices(_prices(tmp_path / "a"))]
    second = [p.read_bytes() for p in prices.ensure_prices(_prices(tmp_path / "b"))]
    assert first == second
    other = [p.read_bytes() for p in prices.ensure_prices(_prices(tmp_path / "c",
                                                                  synthetic_seed=1))]
    assert other != first


def test_the_price_follows_the_words() -> None:
    rows = prices.generate(4000, random.Random(0))
    by_quality = {q: [p for t, p in rows if t.startswith(f"{q} ") or f" {q} " in t]
                  for q in ("basic", "luxury")}
    mean = {q: sum(v) / len(v) for q, v in by_quality.items()}
    assert mean["luxury"] > 2.5 * mean["basic"]
    assert all(p > 0 and round(p * 100) % 100 == 99 for _, p in rows)


def test_the_train_split_reads_numbers(tmp_path: Path) -> None:
    train, val = regression.load_train_val(_prices(tmp_path))
    assert (len(train), len(val)) == (270, 30)
    assert all(isinstance(t.value, float) for t in train)
    scale = regression.scale_of(train)
    assert scale.std > 1 and 5 < scale.mean < 500


@pytest.mark.parametrize("raw", ["cheap", "", None, "nan", True])
def test_a_target_that_is_no_number_names_the_row(tmp_path: Path, raw: object) -> None:
    path = tmp_path / "train.jsonl"
    rows = [{"text": "a", "price": 1.5}, {"text": "b", "price": raw}, {"text": "c", "price": 2}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = DataSettings(source="files", task=Task.REGRESSION, train_file=str(path),
                        label_column="price")
    with pytest.raises(ValueError, match=rf"{path}: line 2: target .* is not a finite number"):
        regression.load_split(data, "train")


@pytest.mark.parametrize(("truth", "guess", "expected"), [
    ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], {"mae": 0.0, "rmse": 0.0, "r2": 1.0}),
    ([1.0, 2.0, 3.0], [2.0, 2.0, 2.0], {"mae": 2 / 3, "rmse": math.sqrt(2 / 3), "r2": 0.0}),
    ([0.0, 0.0], [3.0, -4.0], {"mae": 3.5, "rmse": math.sqrt(12.5), "r2": 0.0}),
    ([10.0, 20.0], [12.0, 18.0], {"mae": 2.0, "rmse": 2.0, "r2": 1 - 8 / 50}),
])
def test_mae_rmse_r2(truth: list[float], guess: list[float], expected: dict[str, float]) -> None:
    assert regression.metrics(truth, guess) == pytest.approx(expected)


def test_the_legacy_lines(capsys: pytest.CaptureFixture[str]) -> None:
    regression.print_legacy_lines({"n": 3, "mae": 1.5, "rmse": 2.0, "r2": 0.5, "seconds": 0.1})
    assert capsys.readouterr().out.splitlines() == [
        "length of dataset is 3", "The mean absolute error is 1.5 .",
        "The root mean squared error is 2.0 .", "The r2 score is 0.5 .",
        "Total inference time is 0.1 sec."]


@pytest.fixture(scope="module")
def price_run(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    from jobs import train
    from tests.support.job_settings import train_spec

    out = tmp_path_factory.mktemp("prices") / "trial-1"
    spec = train_spec(out, cache_dir, max_steps=60, metric_for_best_model="mae")
    data = _prices(cache_dir, synthetic_train_size=800, synthetic_test_size=200, max_length=32)
    train.run(dataclasses.replace(spec, data=data))
    return out


def test_a_regression_checkpoint_is_scored_in_dollars(price_run: Path, cache_dir: Path,
                                                       tmp_path: Path) -> None:
    from jobs import infer
    from orchestrator.config.settings import InferSpec

    config = json.loads((price_run / "checkpoint-60" / "config.json").read_text())
    assert (config["problem_type"], len(config["id2label"])) == ("regression", 1)
    assert config["regression_std"] > 1
    data = _prices(cache_dir, synthetic_train_size=800, synthetic_test_size=200, max_length=32)
    scored = [infer.run(InferSpec(checkpoint=str(price_run / f"checkpoint-{step}"),
                                  result_path=str(tmp_path / f"{step}.json"), data=data,
                                  max_length=32)) for step in (20, 60)]
    assert scored[1]["mae"] < scored[0]["mae"]
    assert set(scored[1]["metrics"]) == {"validation", "test"}
    assert scored[1]["n"] == 200 and scored[1]["loss"] == pytest.approx(scored[1]["rmse"] ** 2)
    state = json.loads((price_run / "checkpoint-60" / "trainer_state.json").read_text())
    seen = [e["eval_mae"] for e in state["log_history"] if e.get("step") == 60 and "eval_mae" in e]
    assert scored[1]["metrics"]["validation"]["mae"] == pytest.approx(seen[0], rel=1e-4)


def test_the_inference_command_knows_a_regression_checkpoint(price_run: Path, cache_dir: Path,
                                                             tmp_path: Path) -> None:
    from jobs import infer

    data = _prices(cache_dir, synthetic_train_size=800, synthetic_test_size=200)
    test_file = prices.ensure_prices(data)[1]
    result = tmp_path / "r.json"
    assert infer.main(["--checkpoint", str(price_run / "checkpoint-60"), "--result", str(result),
                       "--data-file", str(test_file), "--label-column", "price",
                       "--max-length", "32"]) == 0
    found = json.loads(result.read_text())
    assert {"mae", "rmse", "r2"} <= set(found)
    from orchestrator.common import example_scores

    errors = example_scores.read(result, "test", "mae") or []
    assert len(errors) == found["n"]
    assert -sum(errors) / len(errors) == pytest.approx(found["mae"], rel=1e-4)
    squared = example_scores.read(result, "test", "rmse") or []
    assert (-sum(squared) / len(squared)) ** 0.5 == pytest.approx(found["rmse"], rel=1e-4)
