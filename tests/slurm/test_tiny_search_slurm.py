"""The built-in jobs (tiny BERT, synthetic data) as real SLURM jobs, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import cli
from tests.support.journal import summary
from tests.support.searches import TINY, search_dir
from tests.support.slurm import sacct_jobs

pytestmark = pytest.mark.slurm


def test_tiny_search_on_slurm_stops_at_target_and_cancels_training(
    slurm_cluster: object, tmp_path: Path
) -> None:
    directory = search_dir(tmp_path)
    # 20 epochs: long enough that the target always comes before the last step, even on a
    # busy 2-core machine
    done = cli("run", "executor=slurm", *TINY, "train.epochs=20", "search.target=0.75",
               f"search.dir={directory}",
               "executor.poll_interval_s=1", "executor.max_poll_interval_s=2", "--plain",
               timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    data = summary(directory)
    assert data["status"] == "target_reached"
    trial = data["trials"][0]
    assert trial["max_steps"] and data["best"]["step"] < trial["max_steps"]
    rows = sacct_jobs(directory.name)
    assert [r[2] for r in rows if "-train-" in r[1]] == ["CANCELLED"]
    infer_states = [r[2] for r in rows if "-infer-" in r[1]]
    assert "COMPLETED" in infer_states and set(infer_states) <= {"COMPLETED", "CANCELLED"}
    best = json.loads((directory / "best" / "best.json").read_text())
    assert (best["trial"], best["step"]) == (data["best"]["trial"], data["best"]["step"])
    assert (directory / "best" / "config.json").exists()
