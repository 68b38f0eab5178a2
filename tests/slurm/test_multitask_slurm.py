"""A training job of 2 tasks (2 processes through srun, gloo on CPU) trains ONE model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.cli import cli
from tests.support.journal import summary
from tests.support.searches import JOBS_PYTHON, TINY, search_dir

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


def test_a_trial_spans_two_nodes_and_is_evaluated_while_it_trains(
        slurm_cluster: object, tmp_path: Path) -> None:
    """executor.train.nodes=2 on the namespaced nodes (partition `nodes`): one process group
    across two hosts (the rendezvous from SLURM: the first node's name, resolved on the
    other), checkpoints written once and evaluated on the host node while training runs."""
    directory = search_dir(tmp_path)
    done = cli("run", "executor=slurm", "data=synthetic", "model=tiny",
               "data.synthetic_train_size=1200", "data.synthetic_test_size=300",
               "train.max_steps=60", "train.save_steps=20", "train.eval_steps=20",
               "executor.train.nodes=2", "executor.train.partition=nodes",
               "executor.train.cpus_per_task=2", "search.target=0.99", "search.patience=10",
               f"search.dir={directory}", "executor.poll_interval_s=1",
               "executor.max_poll_interval_s=2", "--plain", *JOBS_PYTHON, timeout=900)
    assert done.returncode == 1, done.stdout + done.stderr  # 0.99 is out of reach
    data = summary(directory)
    assert data["trials"][0]["training"] == "succeeded"
    assert [e["step"] for e in data["evaluations"]] == [20, 40, 60]
    logs = sorted((directory / "jobs" / "train-t001-a0").glob("*_log.out"))
    hosts = sorted(re.findall(r"hostname=(\w+),.*global_rank=(\d)\(2\)", log.read_text())[0]
                   for log in logs)
    assert len(hosts) == 2 and {h for h, _ in hosts} <= {"n1", "n2", "n3"}, hosts
    assert len({h for h, _ in hosts}) == 2 and [r for _, r in hosts] in (["0", "1"], ["1", "0"])
    # an evaluation began before the training ended: evaluated while it trained
    evs = [json.loads(line) for line in (directory / "journal.jsonl").read_text().splitlines()]
    first_eval = min(e["t"] for e in evs if e["event"] == "evaluation")
    trained = next(e["t"] for e in evs if e["event"] == "training_ended")
    assert first_eval < trained
