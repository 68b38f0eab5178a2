from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.data import Example, load_test, load_train_val, split_validation
from orchestrator.common.labels import label_id
from orchestrator.config.settings import DataSettings

STARS = {"1": "negative", "2": "negative", "3": "neutral", "4": "positive", "5": "positive"}


def _csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _files(train: Path, test: Path, **changes: object) -> DataSettings:
    settings: dict[str, object] = dict(source="files", train_file=str(train), test_file=str(test))
    settings.update(changes)
    return DataSettings(**settings)  # type: ignore[arg-type]


def test_stars_map_to_three_classes(tmp_path: Path) -> None:
    train = _csv(tmp_path / "train.csv", "review,stars", [f"review {s},{s}" for s in "1234512345"])
    test_rows: list[dict[str, object]] = [{"review": "ok", "stars": 3}, {"review": "x", "stars": 5}]
    test = _jsonl(tmp_path / "test.jsonl", test_rows)
    data = _files(train, test, text_column="review", label_column="stars", label_map=STARS)
    train_set, val_set = load_train_val(data)
    assert [e.label for e in train_set + val_set] == [0, 0, 1, 2, 2, 0, 0, 1, 2, 2]
    assert train_set[0] == Example("review 1", 0)
    assert load_test(data) == [Example("ok", 1), Example("x", 2)]


def test_a_label_outside_the_map_names_file_line_and_value(tmp_path: Path) -> None:
    train = _csv(tmp_path / "train.csv", "text,stars", ["good,5", "odd,6"])
    data = _files(train, train, label_column="stars", label_map=STARS)
    expected = r"train\.csv: line 3: label '6' is not in data\.label_map"
    with pytest.raises(ValueError, match=expected):
        load_train_val(data)


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_a_missing_column_is_named_with_the_columns_present(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"test.{suffix}"
    if suffix == "csv":
        _csv(path, "sentence,label", ["hello,negative"])
    else:
        _jsonl(path, [{"sentence": "hello", "label": "negative"}])
    with pytest.raises(ValueError) as caught:
        load_test(_files(path, path))
    message = str(caught.value)
    assert "column 'text' not found" in message and str(path) in message
    assert "['label', 'sentence']" in message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("negative", 0), ("positive", 2), (1, 1), ("2", 2), (2.0, 2)],
)
def test_names_and_integer_indexes_without_a_map(raw: object, expected: int) -> None:
    assert label_id(raw, DataSettings(), "here") == expected


@pytest.mark.parametrize("raw", ["happy", 3, -1, None, True])
def test_unknown_labels_without_a_map_raise_naming_the_value(raw: object) -> None:
    with pytest.raises(ValueError, match=r"here: label '.*' is not one of data\.labels"):
        label_id(raw, DataSettings(), "here")


def test_validation_is_the_last_tenth_in_order() -> None:
    examples = [Example(f"t{i}", i % 3) for i in range(100)]
    train, val = split_validation(examples, 0.1)
    assert train == examples[:90]
    assert val == examples[90:]


def test_files_validation_keeps_file_order(tmp_path: Path) -> None:
    rows = [f"row {i},{['negative', 'neutral', 'positive'][i % 3]}" for i in range(20)]
    train = _csv(tmp_path / "train.csv", "text,label", rows)
    train_set, val_set = load_train_val(_files(train, train))
    assert [e.text for e in val_set] == ["row 18", "row 19"]
    assert [e.text for e in train_set] == [f"row {i}" for i in range(18)]


@pytest.mark.parametrize("fraction", [0.0, 1.0, 0.999])
def test_a_validation_fraction_that_empties_a_split_raises(fraction: float) -> None:
    examples = [Example("t", 0)] * 10
    with pytest.raises(ValueError, match="val_fraction"):
        split_validation(examples, fraction)


def test_an_unknown_extension_raises(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"train\.parquet: unsupported extension '\.parquet'"):
        load_test(_files(path, path))


def test_synthetic_source_splits_4000_into_3600_and_400(tmp_path: Path) -> None:
    data = DataSettings(cache_dir=str(tmp_path))
    train_set, val_set = load_train_val(data)
    assert (len(train_set), len(val_set), len(load_test(data))) == (3600, 400, 2000)


def test_a_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\ncaf\u00e9,negative\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1\.csv: not UTF-8"):
        load_test(_files(path, path))
