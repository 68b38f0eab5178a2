"""Three tiny trials at once as real SLURM jobs, killed and resumed in the middle."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import kill_and_resume
from tests.support.journal import evaluations
from tests.support.searches import CONCURRENT, check_concurrent_outcome, search_dir
from tests.support.slurm import sacct_jobs

pytestmark = pytest.mark.slurm


def test_three_concurrent_tiny_trials_on_slurm_killed_and_resumed(slurm_cluster: object,
                                                                  tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    args = ["run", "executor=slurm", *CONCURRENT, f"search.dir={directory}",
            "executor.poll_interval_s=1", "executor.max_poll_interval_s=2", "--plain"]
    done = kill_and_resume(args, directory, tmp_path / "first.log",
                           lambda evs: len(evaluations(evs)) >= 1)
    assert done.returncode == 1, done.stdout + done.stderr
    data = check_concurrent_outcome(directory)
    assert len(data["evaluations"]) == 6
    trains = [r for r in sacct_jobs(directory.name) if "-train-" in r[1]]
    assert len(trains) == 3  # one SLURM job per trial, re-attached after the kill
