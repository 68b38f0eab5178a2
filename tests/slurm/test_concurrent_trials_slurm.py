"""Three trials at once as real SLURM jobs, killed and resumed in the middle.

What SLURM adds is checked here: three training jobs in sacct at once, the resumed controller
re-attaching to each of them by its job id (one sbatch per trial, no second), their states.
The trials are the users' fake scripts (tests/fixtures/byo), a few seconds each: the same
scenario with the tiny BERT, three trainings killed and resumed and their outcome (grid
order, nothing evaluated twice, job-hours, the table), is tests/e2e/test_concurrent_trials.py
on the local executor; the tiny BERT's jobs on SLURM are test_executor_python_slurm.py,
test_nan_replan_slurm.py, test_regression_slurm.py and test_multitask_slurm.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import kill_and_resume
from tests.support.journal import evaluations, events
from tests.support.searches import byo_overrides, check_concurrent_outcome, search_dir
from tests.support.slurm import sacct_jobs

pytestmark = pytest.mark.slurm

# the grid of tests/support/searches.py's CONCURRENT; each training lingers after its 2
# checkpoints, so all three are still running when the controller is killed
GRID = ["search.space={learning_rate: [5e-4, 1e-3, 2e-3]}", "search.max_trials=3",
        "search.max_concurrent_trials=3", "search.max_concurrent_evals=3"]


def _training_ids(evs: list[dict[str, object]]) -> dict[object, object]:
    return {e["key"]: e["job_id"] for e in evs
            if e["event"] == "submitted" and str(e["key"]).startswith("train-")}


def test_three_concurrent_trials_on_slurm_killed_and_resumed(slurm_cluster: object,
                                                             tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    args = ["run", *byo_overrides(directory, checkpoints=2, every_s=1.0, linger_s=8,
                                  target=99.0), *GRID, "--plain"]
    before: list[dict[str, object]] = []

    def ready(evs: list[dict[str, object]]) -> bool:
        before[:] = evs
        return len(evaluations(evs)) >= 1 and len(_training_ids(evs)) == 3

    done = kill_and_resume(args, directory, tmp_path / "first.log", ready)
    assert done.returncode == 1, done.stdout + done.stderr  # 99 % is out of reach
    data = check_concurrent_outcome(directory)
    assert len(data["evaluations"]) == 6  # 2 checkpoints x 3 trials
    evs = events(directory)
    assert any(e["event"] == "resumed" for e in evs)
    ids = _training_ids(before)
    assert _training_ids(evs) == ids  # the resumed controller submitted no training again
    trains = sorted((r[0], r[2]) for r in sacct_jobs(directory.name) if "-train-" in r[1])
    # one SLURM job per trial, re-attached after the kill, each ending by itself
    assert trains == sorted((str(i), "COMPLETED") for i in ids.values()), trains
