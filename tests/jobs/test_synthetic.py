from __future__ import annotations

import json
import multiprocessing
import random
from dataclasses import replace
from pathlib import Path

import pytest

from jobs.synthetic import CLASSES, ensure_synthetic, generate_examples
from orchestrator.config.settings import DataSettings


def _data(cache: Path, **changes: object) -> DataSettings:
    base = DataSettings(cache_dir=str(cache), synthetic_train_size=500, synthetic_test_size=200)
    return replace(base, **changes)  # type: ignore[arg-type]


def test_same_settings_give_identical_files(tmp_path: Path) -> None:
    first = ensure_synthetic(_data(tmp_path / "a"))
    second = ensure_synthetic(_data(tmp_path / "b"))
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    assert [p.name for p in first] == ["train.jsonl", "test.jsonl"]


def test_another_seed_gives_other_files_in_another_folder(tmp_path: Path) -> None:
    train0, _ = ensure_synthetic(_data(tmp_path, synthetic_seed=0))
    train1, _ = ensure_synthetic(_data(tmp_path, synthetic_seed=1))
    assert train0.parent != train1.parent
    assert train0.read_bytes() != train1.read_bytes()


def test_files_hold_text_and_a_class_name(tmp_path: Path) -> None:
    train, test = ensure_synthetic(_data(tmp_path))
    rows = [json.loads(line) for line in train.read_text().splitlines()]
    assert len(rows) == 500
    assert len(test.read_text().splitlines()) == 200
    assert all(set(row) == {"text", "label"} and row["label"] in CLASSES for row in rows)
    assert {row["label"] for row in rows} == set(CLASSES)


def test_existing_files_are_not_rewritten(tmp_path: Path) -> None:
    train, _ = ensure_synthetic(_data(tmp_path))
    before = train.stat().st_mtime_ns
    ensure_synthetic(_data(tmp_path))
    assert train.stat().st_mtime_ns == before


@pytest.mark.parametrize("noise", [0.0, 0.1, 0.3])
def test_label_noise_fraction(noise: float) -> None:
    examples = generate_examples(4000, noise, random.Random(7))
    flipped = sum(e.label != e.clean_label for e in examples) / len(examples)
    assert abs(flipped - noise) < 0.025


def test_negation_and_but_decide_the_clean_label() -> None:
    examples = generate_examples(3000, 0.0, random.Random(3))
    negated = [e for e in examples if " not " in e.text.lower() and " but " not in e.text]
    assert any(e.clean_label == "negative" for e in negated)
    assert any(e.clean_label == "positive" for e in negated)


def test_two_processes_racing_end_with_the_complete_files(tmp_path: Path) -> None:
    data = _data(tmp_path / "race", synthetic_train_size=20000)
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        results = pool.map(ensure_synthetic, [data, data])
    assert results[0] == results[1]
    expected = ensure_synthetic(_data(tmp_path / "alone", synthetic_train_size=20000))
    assert [p.read_bytes() for p in results[0]] == [p.read_bytes() for p in expected]
    assert not [p for p in results[0][0].parent.iterdir() if p.suffix == ".tmp"]
