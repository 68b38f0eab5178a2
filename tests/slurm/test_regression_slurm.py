"""A regression search (prices from descriptions, MAE) as real SLURM jobs.

What SLURM adds is checked here: the regression's training and inference run as SLURM jobs,
their states in sacct (the inference COMPLETED, the training cancelled by the decision or
done), the MAE read back from a compute job's result. The search is cut short to one
evaluation (a target every MAE meets: the first checkpoint decides); the MAE falling to a real
target before the last step, with r2, is tests/e2e/test_regression_search.py on the local
executor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.common import layout
from tests.support.cli import cli
from tests.support.journal import summary
from tests.support.searches import PRICES, search_dir
from tests.support.slurm import sacct_jobs

pytestmark = pytest.mark.slurm

# any MAE (dollars) meets it: the first checkpoint's evaluation ends the search
ANY_MAE = "search.target=1000000"


def test_a_price_search_on_slurm_stops_on_its_mae_target(slurm_cluster: object,
                                                         tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    done = cli("run", "executor=slurm", *PRICES, ANY_MAE, f"search.dir={directory}",
               "executor.poll_interval_s=1", "executor.max_poll_interval_s=2", "--plain",
               timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    data = summary(directory)
    assert (data["status"], data["metric"], data["mode"]) == ("target_reached", "mae", "min")
    assert [e["step"] for e in data["evaluations"]] == [50] == [data["best"]["step"]]
    best = json.loads(layout.result_path(directory, 1, 50).read_text())
    assert {"mae", "rmse", "r2", "loss"} <= set(best["metrics"]["test"])
    assert best["mae"] == data["best"]["value"] > 0
    assert "confusion_matrix" not in best and "per_class" not in best
    assert '"regression_mean"' in (directory / "best" / "config.json").read_text()
    rows = sacct_jobs(directory.name)
    assert {r[2] for r in rows if "-train-" in r[1]} <= {"CANCELLED", "COMPLETED"}
    assert [r[2] for r in rows if "-infer-" in r[1]] == ["COMPLETED"], rows
