from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from jobs import infer
from tests.support.job_settings import TrainedRun

LEGACY_REGEX = r"The generation accuracy is ([\d.]+) %"  # what the legacy loop parses


def test_result_file_keys_types_and_consistency(
    trained_run: TrainedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "result.json"
    result = infer.run(trained_run.infer_spec(path))
    assert json.loads(path.read_text()) == result
    assert result["checkpoint"] == str(trained_run.output_dir / "checkpoint-60")
    assert result["step"] == 60 and result["n"] == 300
    for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro"):
        assert isinstance(result[key], float) and 0.0 <= result[key] <= 1.0
    assert isinstance(result["loss"], float) and result["loss"] > 0
    assert result["labels"] == ["negative", "neutral", "positive"]
    assert set(result["per_class"]) == set(result["labels"])
    assert sum(c["support"] for c in result["per_class"].values()) == 300
    matrix = result["confusion_matrix"]
    assert len(matrix) == 3 and all(len(row) == 3 for row in matrix)
    assert sum(map(sum, matrix)) == 300
    assert sum(matrix[i][i] for i in range(3)) == round(result["accuracy"] * 300)
    assert result["seconds"] > 0 and result["examples_per_s"] > 0
    assert (result["device"], result["dtype"]) == ("cpu", "float32")
    _assert_legacy_lines(capsys.readouterr().out, result)


def test_per_example_scores_sit_beside_the_result(trained_run: TrainedRun,
                                                  tmp_path: Path) -> None:
    from orchestrator.common import example_scores

    path = tmp_path / "step-00000060.json"
    result = infer.run(trained_run.infer_spec(path))
    side = json.loads((tmp_path / "step-00000060.examples.json").read_text())
    assert set(side) == set(result["metrics"])
    for split, metrics in result["metrics"].items():
        correct = example_scores.read(path, split, "accuracy")
        assert correct is not None and len(correct) == metrics["n"]
        assert set(correct) <= {0.0, 1.0}
        assert sum(correct) / len(correct) == pytest.approx(metrics["accuracy"])
        losses = example_scores.read(path, split, "loss") or []
        assert -sum(losses) / len(losses) == pytest.approx(metrics["loss"], rel=1e-4)


def _assert_legacy_lines(out: str, result: dict[str, Any]) -> None:
    lines = out.splitlines()
    assert "length of dataset is 300" in lines
    assert f"The generation accuracy is {result['accuracy'] * 100} %." in lines
    assert f"Total inference time is {result['seconds']} sec." in lines
    match = re.search(LEGACY_REGEX, out)
    assert match and float(match.group(1)) == pytest.approx(result["accuracy"] * 100)


def test_batched_and_per_example_agree(trained_run: TrainedRun, tmp_path: Path) -> None:
    batched = infer.run(trained_run.infer_spec(tmp_path / "batched.json", step=40))
    single = infer.run_per_example(trained_run.infer_spec(tmp_path / "single.json", step=40))
    assert batched["accuracy"] == single["accuracy"]
    assert batched["confusion_matrix"] == single["confusion_matrix"]
    assert batched["loss"] == pytest.approx(single["loss"], abs=1e-4)


def test_the_cli_reads_a_jsonl_test_file(trained_run: TrainedRun, tmp_path: Path) -> None:
    rows = [("the food was great", "positive"), ("i hate this app", "negative")] * 3
    data_file = tmp_path / "test.jsonl"
    data_file.write_text("".join(json.dumps({"tweet": t, "y": y}) + "\n" for t, y in rows))
    result_path = tmp_path / "cli.json"
    checkpoint = trained_run.output_dir / "checkpoint-60"
    argv = ["--checkpoint", str(checkpoint), "--result", str(result_path),
            "--data-file", str(data_file), "--text-column", "tweet", "--label-column", "y"]
    assert infer.main(argv) == 0
    result = json.loads(result_path.read_text())
    assert result["n"] == 6 and result["labels"] == ["negative", "neutral", "positive"]


def _fake_model(names: list[str]) -> Any:
    config = SimpleNamespace(id2label=dict(enumerate(names)), num_labels=len(names))
    return SimpleNamespace(config=config)


@pytest.mark.parametrize(
    ("model_names", "order"),
    [
        (["negative", "neutral", "positive"], [0, 1, 2]),
        (["positive", "negative", "neutral"], [1, 2, 0]),  # same names, other order
        (["LABEL_0", "LABEL_1", "LABEL_2"], [0, 1, 2]),  # generic names: taken in order
    ],
)
def test_model_columns_follow_the_data_labels(model_names: list[str], order: list[int]) -> None:
    labels = ("negative", "neutral", "positive")
    assert infer._column_order(_fake_model(model_names), labels) == order


def test_a_class_count_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="the checkpoint has 2 classes"):
        infer._column_order(_fake_model(["a", "b"]), ("negative", "neutral", "positive"))


def test_a_missing_checkpoint_names_the_path(trained_run: TrainedRun, tmp_path: Path) -> None:
    spec = replace(trained_run.infer_spec(tmp_path / "r.json"), checkpoint=str(tmp_path / "nope"))
    with pytest.raises(OSError, match=re.escape(str(tmp_path / "nope"))):
        infer.run(spec)
    assert not (tmp_path / "r.json").exists()


def test_the_validation_split_is_scored_with_the_test_split_in_one_load(
    trained_run: TrainedRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Validation is exactly what training validated on (jobs.data.load_train_val)."""
    from jobs.data import load_train_val

    spec = trained_run.infer_spec(tmp_path / "r.json")
    result = infer.run(spec)
    validation, test = result["metrics"]["validation"], result["metrics"]["test"]
    assert validation["n"] == len(load_train_val(spec.data)[1]) == 80
    assert test["n"] == result["n"] == 300
    for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro", "loss",
                "confusion_matrix"):
        assert test[key] == result[key]  # the test split stays at the top, as before
    assert sum(map(sum, validation["confusion_matrix"])) == 80
    assert 0.0 <= validation["accuracy"] <= 1.0 and validation["loss"] > 0
    _assert_legacy_lines(capsys.readouterr().out, result)  # test accuracy in the legacy line
    alone = infer.run(replace(spec, validation=False, result_path=str(tmp_path / "t.json")))
    assert alone["metrics"].keys() == {"test"} and alone["accuracy"] == result["accuracy"]
