"""The outcome files for people: no Python None, a search with no evaluation says so, ISO
times beside epoch seconds, a figure readable on a slide."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.decide.stop_rule import Rule
from orchestrator.model.state import SearchState
from orchestrator.reporting.outcome import summary, write_outcome
from orchestrator.reporting.summary import Summary, build
from tests.support.journal import typed

SETTINGS = {"search": {"dir": "/runs/x", "metric": "accuracy", "target": 0.8, "mode": "max",
                       "patience": 1, "min_delta": 0.0}, "executor": {"name": "local"}}
STARTED: list[dict[str, Any]] = [
    {"event": "search_started", "t": 1_700_000_000.0, "settings": SETTINGS},
    {"event": "trial_started", "t": 1_700_000_001.0, "trial": 1, "seed": 42,
     "output_dir": "/o/001", "params": {"learning_rate": 3e-5, "warmup_steps": 500},
     "sampler_trial": None},
    {"event": "submit_intent", "t": 1_700_000_002.0, "key": "train-t001-a0", "kind": "train",
     "trial": 1, "step": None, "attempt": 0, "folder": "/f", "name": "x-0123abcd-train-t001-a0",
     "overrides": {}},
]
EVALUATED: list[dict[str, Any]] = [
    *STARTED,
    {"event": "submitted", "t": 1_700_000_002.0, "key": "train-t001-a0", "job_id": "77"},
    {"event": "checkpoint", "t": 1_700_000_010.0, "trial": 1, "step": 100, "path": "/o/c-100"},
    {"event": "checkpoint", "t": 1_700_000_011.0, "trial": 1, "step": 200, "path": "/o/c-200"},
    {"event": "evaluation", "t": 1_700_000_012.0, "trial": 1, "step": 100, "value": 0.7025,
     "job_id": None, "checkpoint": "/o/c-100"},
    {"event": "evaluation", "t": 1_700_000_013.0, "trial": 1, "step": 200, "value": 0.6955,
     "job_id": "79", "checkpoint": "/o/c-200"},
    {"event": "trial_ended", "t": 1_700_000_014.0, "trial": 1, "how": "metric_fell",
     "step": 200, "reason": "accuracy fell 0.7025 -> 0.6955 at step 200 (patience 1)"},
    {"event": "training_ended", "t": 1_700_000_015.0, "trial": 1, "outcome": "cancelled",
     "reason": "cancelled by the controller: the trial had ended"},
    {"event": "search_ended", "t": 1_700_000_016.0, "status": "metric_fell", "reason": ""},
]


def _write(tmp_path: Path, events: list[dict[str, Any]]) -> tuple[Summary, str]:
    data = write_outcome(SearchState.replay(typed(events)), Rule(0.8), tmp_path)
    return data, (tmp_path / "report.md").read_text()


@pytest.mark.parametrize(("events", "says", "never"), [
    (STARTED, ["no evaluation yet", "| 1 | learning_rate=3e-05, warmup_steps=500 | 42 | - | "
               "running | - |"], ["Why trials ended", "| trial | step |"]),
    (EVALUATED, ["- trial 1 (metric_fell): accuracy fell 0.7025 -> 0.6955 at step 200 "
                 "(patience 1)", "| 1 | 100 | - | 0.7025 | - |", "finished: 2023-11-14T"],
     ["no evaluation yet", "cancelled by the controller"]),
])
def test_the_report_has_no_none_and_says_what_is_missing(
        tmp_path: Path, events: list[dict[str, Any]], says: list[str], never: list[str]) -> None:
    _, report = _write(tmp_path, events)
    assert not re.search(r"\bNone\b", report)
    for text in says:
        assert text in report
    for text in never:
        assert text not in report


@pytest.mark.parametrize(("events", "finished_iso"), [(STARTED, False), (EVALUATED, True)])
def test_summary_has_iso_times_beside_epoch_seconds(
        events: list[dict[str, Any]], finished_iso: bool) -> None:
    data = summary(SearchState.replay(typed(events)), Rule(0.8))
    assert data["started_at"] == 1_700_000_000.0
    assert re.fullmatch(r"2023-11-1[45]T\d\d:\d\d:\d\d[+-]\d\d:\d\d", data["started_at_iso"])
    assert (data["finished_at_iso"] is not None) is finished_iso


@pytest.mark.parametrize("events", [STARTED, EVALUATED])
def test_the_figure_is_slide_sized(tmp_path: Path, events: list[dict[str, Any]]) -> None:
    from PIL import Image

    _write(tmp_path, events)
    with Image.open(tmp_path / "metric.png") as image:
        dpi = image.info.get("dpi", (0, 0))
        assert round(dpi[0]) >= 150 and image.size[0] >= 1400


def test_the_legend_names_each_trials_settings_and_end() -> None:
    from orchestrator.reporting.outcome import _trial_label

    data = build(SearchState.replay(typed(EVALUATED)), Rule(0.8))
    assert _trial_label(data.trials[0], 1) == (
        "trial 1 (learning_rate=3e-05, warmup_steps=500)\n"
        "accuracy fell 0.7025 -> 0.6955 at step 200 (patience 1)")
    long = replace(data.trials[0], params={f"p{i}": 1.0 for i in range(30)})
    assert all(len(line) <= 64 for line in _trial_label(long, 8).splitlines())
