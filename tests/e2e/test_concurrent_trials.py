"""Three tiny trials at once on the local executor, killed and resumed in the middle."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import kill_and_resume
from tests.support.journal import evaluations
from tests.support.searches import CONCURRENT, check_concurrent_outcome

pytestmark = pytest.mark.e2e


def test_three_concurrent_tiny_trials_killed_and_resumed(tmp_path: Path) -> None:
    directory = tmp_path / "grid"
    args = ["run", "executor=local", *CONCURRENT, f"search.dir={directory}", "--plain"]
    done = kill_and_resume(args, directory, tmp_path / "first.log",
                           lambda evs: len(evaluations(evs)) >= 1)
    assert done.returncode == 1, done.stdout + done.stderr  # 0.99 is out of reach
    data = check_concurrent_outcome(directory)
    assert data["status"] in ("exhausted", "metric_fell")
    assert len(data["evaluations"]) == 6  # 2 checkpoints x 3 trials
