"""`orchestrator report DIR` over recorded journals: report.md and metric.png (summary.json
once the search ended) rewritten from the journal alone, on a running search and an ended one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator import exit_codes
from orchestrator.cli.main import main

SETTINGS = {"search": {"dir": "/runs/x", "metric": "accuracy", "target": 0.8, "mode": "max",
                       "patience": 1, "min_delta": 0.0}, "executor": {"name": "local"}}
RUNNING = [
    {"event": "search_started", "t": 1000.0, "settings": SETTINGS},
    {"event": "trial_started", "t": 1001.0, "trial": 1, "seed": 42, "output_dir": "/o/1",
     "params": {"learning_rate": 3e-5}, "sampler_trial": None},
    {"event": "checkpoint", "t": 1002.0, "trial": 1, "step": 100, "path": "/o/1/c-100"},
    {"event": "evaluation", "t": 1003.0, "trial": 1, "step": 100, "value": 0.6580,
     "job_id": "502", "checkpoint": "/o/1/c-100"},
]
ENDED = [*RUNNING,
         {"event": "checkpoint", "t": 1004.0, "trial": 1, "step": 200, "path": "/o/1/c-200"},
         {"event": "evaluation", "t": 1005.0, "trial": 1, "step": 200, "value": 0.8105,
          "job_id": "503", "checkpoint": "/o/1/c-200"},
         {"event": "trial_ended", "t": 1006.0, "trial": 1, "how": "target_reached",
          "step": 200, "reason": "accuracy 0.8105 reached the target 0.8 at step 200"},
         {"event": "search_ended", "t": 1007.0, "status": "target_reached", "reason": ""}]


def _record(directory: Path, events: list[dict[str, Any]]) -> None:
    directory.mkdir(parents=True)
    (directory / "journal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))


@pytest.mark.parametrize(("events", "status", "rows"), [
    (RUNNING, "running", ["| 1 | 100 |"]),
    (ENDED, "target_reached", ["| 1 | 100 |", "| 1 | 200 |"]),
])
def test_report_rewrites_the_outcome_files_from_the_journal(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], events: list[dict[str, Any]],
        status: str, rows: list[str]) -> None:
    directory = tmp_path / "search"
    _record(directory, events)
    journal = (directory / "journal.jsonl").read_bytes()
    assert main(["report", str(directory)]) == 0
    out = capsys.readouterr().out
    assert f"status: {status}" in out and str(directory / "report.md") in out
    report = (directory / "report.md").read_text()
    assert f"status: **{status}**" in report
    assert all(row in report for row in rows)
    assert "learning_rate=3e-05" in report
    if status == "running":  # summary.json's presence means the search ended
        assert not (directory / "summary.json").exists()
    else:
        assert json.loads((directory / "summary.json").read_text())["status"] == status
    assert (directory / "metric.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (directory / "journal.jsonl").read_bytes() == journal  # only read
    assert not list(directory.glob(".*tmp*"))  # no temp file left behind


def test_report_replaces_stale_outcome_files(tmp_path: Path) -> None:
    directory = tmp_path / "search"
    _record(directory, ENDED)
    (directory / "report.md").write_text("stale\n")
    assert main(["report", str(directory)]) == 0
    assert "| 1 | 200 |" in (directory / "report.md").read_text()


@pytest.mark.parametrize("command", ["report", "status"])
@pytest.mark.parametrize("make", [False, True])
def test_report_on_a_folder_without_a_journal_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], make: bool, command: str) -> None:
    """Exit 2, never 1: a script reading `status` would take 1 for a search that ended
    without reaching its target."""
    directory = tmp_path / "nothing"
    if make:
        directory.mkdir()
    assert main([command, str(directory)]) == exit_codes.USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert str(directory / "journal.jsonl") in err[0] and "search.dir" in err[0]
    assert not (directory / "report.md").exists()
