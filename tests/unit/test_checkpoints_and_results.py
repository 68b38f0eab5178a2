from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from orchestrator.common.checkpoints import complete_checkpoints, is_complete, write_marker
from orchestrator.common.layout import COMPLETE_MARKER
from orchestrator.engine.results import ResultError, metric_from_json, metric_from_text

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _checkpoint(root: Path, step: int, state: str | None = None, marker: bool = False) -> Path:
    path = root / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(b"x")
    if state is not None:
        (path / "trainer_state.json").write_text(state)
    if marker:
        write_marker(path, step)
    return path


@pytest.mark.parametrize(("state", "marker", "complete"), [
    (None, False, False),  # just created
    ("", False, False),  # trainer_state.json seen empty (non-atomic write)
    ('{"global_step": 10', False, False),  # half written
    ('{"global_step": 20}', False, False),  # another step's state
    ('{"global_step": 10}', False, True),  # a foreign script's complete checkpoint
    (None, True, True),  # our marker
])
def test_completeness(tmp_path: Path, state: str | None, marker: bool, complete: bool) -> None:
    assert is_complete(_checkpoint(tmp_path, 10, state, marker)) is complete


def test_scan_returns_complete_checkpoints_in_step_order(tmp_path: Path) -> None:
    _checkpoint(tmp_path, 1000, marker=True)
    _checkpoint(tmp_path, 200, marker=True)
    _checkpoint(tmp_path, 300)  # being written
    (tmp_path / "checkpoint-x").mkdir()
    (tmp_path / "runs").mkdir()
    assert [c.step for c in complete_checkpoints(tmp_path)] == [200, 1000]
    assert complete_checkpoints(tmp_path / "missing") == []


def test_marker_is_json_with_the_step(tmp_path: Path) -> None:
    path = _checkpoint(tmp_path, 5, marker=True)
    assert json.loads((path / COMPLETE_MARKER).read_text()) == {"global_step": 5}


def test_structured_result(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"accuracy": 0.81, "f1_macro": 0.8}))
    assert metric_from_json(path, "accuracy") == 0.81


@pytest.mark.parametrize(("content", "message"), [
    ("not json", "is not JSON"),
    ('{"f1_macro": 0.8}', "has no metric 'accuracy'"),
    ('{"accuracy": "high"}', "not a number"),
    ('{"accuracy": NaN}', "is nan"),
    ("[1, 2]", "has no metric"),
])
def test_bad_structured_results(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(ResultError, match=message):
        metric_from_json(path, "accuracy")


def test_missing_result_file(tmp_path: Path) -> None:
    with pytest.raises(ResultError, match="cannot read"):
        metric_from_json(tmp_path / "nope.json", "accuracy")


def test_legacy_line_recorded_output() -> None:
    text = (FIXTURES / "legacy_inference.out").read_text()
    assert metric_from_text(text) == pytest.approx(80.15734265734265)


def test_legacy_line_last_match_wins_and_custom_regex() -> None:
    text = "The generation accuracy is 50.0 %.\nThe generation accuracy is 61.5 %.\n"
    assert metric_from_text(text) == 61.5
    assert metric_from_text("val_mae=12.5 dollars", r"val_mae=([\d.]+)") == 12.5


def test_legacy_output_without_the_line() -> None:
    with pytest.raises(ResultError, match="no line matching"):
        metric_from_text("length of dataset is 3432\nTraceback ...", source="bert-inf.out")


SPLIT_RESULTS = [
    # (result file content, split, value or the error's fragment)
    ({"accuracy": 0.7, "metrics": {"validation": {"accuracy": 0.8, "n": 80},
                                   "test": {"accuracy": 0.7, "n": 300}}}, "validation", 0.8),
    ({"accuracy": 0.7, "metrics": {"validation": {"accuracy": 0.8},
                                   "test": {"accuracy": 0.7}}}, "test", 0.7),
    ({"accuracy": 0.7}, "test", 0.7),  # written before validation was scored: test only
    ({"accuracy": 0.7}, "validation", "has no validation split (it has: test)"),
    ({"metrics": {"validation": {"f1_macro": 0.5}}}, "validation", "has no metric 'accuracy'"),
]


@pytest.mark.parametrize(("content", "split", "expected"), SPLIT_RESULTS)
def test_the_deciding_split_is_read_from_the_result(tmp_path: Path, content: dict[str, object],
                                                    split: str, expected: float | str) -> None:
    from orchestrator.engine.results import evaluation_from_json

    path = tmp_path / "r.json"
    path.write_text(json.dumps(content))
    if isinstance(expected, str):
        with pytest.raises(ResultError, match=re.escape(expected)):
            evaluation_from_json(path, "accuracy", split)
        return
    value, metrics = evaluation_from_json(path, "accuracy", split)
    assert value == expected == metrics[split]["accuracy"]
