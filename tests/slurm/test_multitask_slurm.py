"""A training job of 2 tasks (2 processes through srun, gloo on CPU) trains ONE model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.cli import cli
from tests.support.journal import summary
from tests.support.searches import TINY, search_dir

pytestmark = pytest.mark.slurm


def test_two_task_training_forms_one_process_group(slurm_cluster: object,
                                                   tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    done = cli("run", "executor=slurm", *TINY, "train.max_steps=100", "train.save_steps=50",
               "train.eval_steps=50", "executor.train.tasks_per_node=2",
               "search.target=0.99", f"search.dir={directory}",
               # the tests' cadence (the SLURM default backs off to 75 s between polls)
               "executor.poll_interval_s=1", "executor.max_poll_interval_s=2", "--plain",
               timeout=900)
    assert done.returncode == 1, done.stdout + done.stderr  # 0.99 is out of reach
    data = summary(directory)
    trial = data["trials"][0]
    assert trial["training"] == "succeeded", trial
    plan = json.loads((directory / "trials" / "001" / "plan.json").read_text())
    # one model: the 2 ranks split each global batch, so the plan counts steps once
    assert plan["max_steps"] == 100
    assert [e["step"] for e in data["evaluations"]] == [50, 100]
    logs = sorted((directory / "jobs" / "train-t001-a0").glob("*_log.out"))
    assert len(logs) == 2  # one log per task
    # 2700 train examples, 32 per device: one process group of 2 covers an epoch in 43
    # steps (epoch 2.33 at step 100); 2 independent copies would be at epoch 1.18
    epochs = re.findall(r"'epoch': '([\d.]+)'", logs[0].read_text())
    assert float(epochs[-1]) > 2.0, epochs
    script = next((directory / "jobs" / "train-t001-a0").glob("*_submission.sh")).read_text()
    assert re.search(r"#SBATCH --ntasks-per-node=2", script)
