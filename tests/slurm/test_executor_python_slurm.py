"""The built-in jobs (tiny BERT, synthetic data) as real SLURM jobs, end to end, with the
split that README.md and docs/cluster.md describe: a light controller on the login node (a
venv with `pip install -e .` only, no torch) and the jobs in another environment that has
torch, chosen by executor.python.

One search serves both (it was two identical tiny searches, one per file): the built-in jobs
with the default interpreter run on SLURM in test_concurrent_trials_slurm.py,
test_regression_slurm.py, test_nan_replan_slurm.py and test_multitask_slurm.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import ROOT
from tests.support.journal import summary
from tests.support.searches import TINY, search_dir
from tests.support.slurm import sacct_jobs

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="session")
def controller_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a fresh venv holding the controller only (`pip install -e .`)."""
    venv = tmp_path_factory.mktemp("controller-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True,
                   timeout=300)
    python = venv / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "-q",
                           "--disable-pip-version-check", "-e", str(ROOT)],
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return python


def test_a_controller_without_torch_runs_jobs_with_the_python_that_has_it(
        slurm_cluster: object, controller_python: Path, tmp_path: Path) -> None:
    """And the tiny search stops at its target and cancels training on SLURM."""
    jobs_python = sys.executable  # this test's interpreter: the repo's .venv, with torch
    # the jobs import orchestrator (submitit unpickles its entry point) from this checkout
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    no_torch = subprocess.run([str(controller_python), "-c", "import torch"],
                              capture_output=True, text=True, env=env, check=False)
    assert no_torch.returncode != 0 and "No module named 'torch'" in no_torch.stderr
    directory = search_dir(tmp_path)
    done = subprocess.run(
        [str(controller_python), "-m", "orchestrator", "run", "executor=slurm", *TINY,
         "train.epochs=20", "search.target=0.75", f"search.dir={directory}",
         f"executor.python={jobs_python}", "executor.poll_interval_s=1",
         "executor.max_poll_interval_s=2", "--plain"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
        stdin=subprocess.DEVNULL)
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
        assert f" {jobs_python} -u -m submitit.core._submit " in text, text
        assert str(controller_python) not in text
    rows = sacct_jobs(directory.name)
    assert any(r[2] == "COMPLETED" for r in rows if "-infer-" in r[1]), rows
    assert [r[2] for r in rows if "-train-" in r[1]] == ["CANCELLED"], rows
    infer_states = [r[2] for r in rows if "-infer-" in r[1]]
    assert set(infer_states) <= {"COMPLETED", "CANCELLED"}, rows
    best = json.loads((directory / "best" / "best.json").read_text())
    assert (best["trial"], best["step"]) == (data["best"]["trial"], data["best"]["step"])
    assert (directory / "best" / "config.json").exists()
