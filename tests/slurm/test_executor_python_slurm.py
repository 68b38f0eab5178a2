"""The built-in jobs (tiny BERT, synthetic data) as real SLURM jobs, end to end, with the
split that README.md and docs/cluster.md describe: a light controller on the login node (a
venv with the controller and its declared dependencies only, no torch: conftest's
``controller_python``) and the jobs in another environment that has torch, chosen by
executor.python.

The search is conftest's session-scoped ``tiny_search``: test_placement_slurm.py compares
the same search with a worker job to it, so the suite trains it once. The built-in jobs with
the default interpreter run on SLURM in test_nan_replan_slurm.py, test_regression_slurm.py
and test_multitask_slurm.py; the tiny search's outcome files, status and resume are
tests/e2e/test_local_search.py on the local executor."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.support.cli import ROOT
from tests.support.journal import summary
from tests.support.searches import TINY_SEARCH_TIMEOUT_S, TinySearch
from tests.support.slurm import sacct_jobs

pytestmark = pytest.mark.slurm


# the first test to ask for the session's tiny_search pays for it (a venv, a search)
@pytest.mark.timeout(TINY_SEARCH_TIMEOUT_S)
def test_a_controller_without_torch_runs_jobs_with_the_python_that_has_it(
        tiny_search: TinySearch) -> None:
    """And the tiny search stops at its target and cancels training on SLURM."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    no_torch = subprocess.run([str(tiny_search.controller_python), "-c", "import torch"],
                              capture_output=True, text=True, env=env, check=False)
    assert no_torch.returncode != 0 and "No module named 'torch'" in no_torch.stderr
    done, directory = tiny_search.done, tiny_search.directory
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    data = summary(directory)
    assert data["status"] == "target_reached"
    # 20 epochs: long enough that the target always comes before the last step, even on a
    # busy 2-core machine
    trial = data["trials"][0]
    assert trial["max_steps"] and data["best"]["step"] < trial["max_steps"]
    scripts = sorted((directory / "jobs").glob("*/*_submission.sh"))
    kinds = {path.parent.name.split("-")[0] for path in scripts}
    assert kinds == {"train", "infer"}, scripts
    for path in scripts:
        text = path.read_text()
        assert f" {tiny_search.jobs_python} -u -m submitit.core._submit " in text, text
        assert str(tiny_search.controller_python) not in text
    rows = sacct_jobs(directory.name)
    assert any(r[2] == "COMPLETED" for r in rows if "-infer-" in r[1]), rows
    assert [r[2] for r in rows if "-train-" in r[1]] == ["CANCELLED"], rows
    infer_states = [r[2] for r in rows if "-infer-" in r[1]]
    assert set(infer_states) <= {"COMPLETED", "CANCELLED"}, rows
    best = json.loads((directory / "best" / "best.json").read_text())
    assert (best["trial"], best["step"]) == (data["best"]["trial"], data["best"]["step"])
    assert (directory / "best" / "config.json").exists()
