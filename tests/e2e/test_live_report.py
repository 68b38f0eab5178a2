"""Curves while running: on the local executor with the users' own (fake) scripts, report.md
and metric.png show evaluations before the search ends, and `orchestrator report` rewrites
them on demand while the controller runs."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.support.cli import cli, start
from tests.support.journal import events, summary
from tests.support.searches import byo_overrides

pytestmark = pytest.mark.e2e

ROW = re.compile(r"^\| 1 \| \d+ \| ", re.MULTILINE)  # an evaluation row of trial 1


def _ended(directory: Path) -> bool:
    return any(e["event"] == "search_ended" for e in events(directory))


def _wait_for_a_row(directory: Path, log: Path, timeout: float = 120) -> str:
    """report.md's text once it holds an evaluation row."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = directory / "report.md"
        text = report.read_text() if report.exists() else ""
        if ROW.search(text):
            return text
        time.sleep(0.1)
    raise AssertionError(f"no evaluation row in {directory / 'report.md'}: {log.read_text()}")


def test_report_and_plot_show_evaluations_while_the_search_runs(tmp_path: Path) -> None:
    directory = tmp_path / "search"
    overrides = [o.replace("executor=slurm", "executor=local") for o in byo_overrides(
        directory, checkpoints=6, every_s=1.5, target=99.0)]
    proc = start("run", *overrides, "--plain", log=tmp_path / "run.log")
    try:
        report = _wait_for_a_row(directory, tmp_path / "run.log")
        # written by the controller itself, before the end, and readable in one piece
        no_summary = not (directory / "summary.json").exists()  # it means "finished"
        assert not _ended(directory), "the search ended before a report was seen"
        assert no_summary
        assert "status: **running**" in report
        assert (directory / "metric.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        on_demand = cli("report", str(directory))
        assert on_demand.returncode == 0, on_demand.stdout + on_demand.stderr
        if not _ended(directory):
            assert "status: running" in on_demand.stdout
        assert proc.wait(timeout=300) == 1, (tmp_path / "run.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    data = summary(directory)
    assert data["status"] == "exhausted" and len(data["evaluations"]) == 6
    final = (directory / "report.md").read_text()
    assert "status: **exhausted**" in final and len(ROW.findall(final)) == 6
    again = cli("report", str(directory))
    assert again.returncode == 0 and "status: exhausted" in again.stdout
