"""A regression search (prices from descriptions, MAE target) as real SLURM jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import cli
from tests.support.searches import PRICES, check_price_search, search_dir
from tests.support.slurm import sacct_jobs

pytestmark = pytest.mark.slurm


def test_a_price_search_on_slurm_stops_on_its_mae_target(slurm_cluster: object,
                                                         tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    done = cli("run", "executor=slurm", *PRICES, f"search.dir={directory}",
               "executor.poll_interval_s=1", "executor.max_poll_interval_s=2", "--plain",
               timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    data = check_price_search(directory)
    assert max(e["step"] for e in data["evaluations"]) == data["best"]["step"]
    rows = sacct_jobs(directory.name)
    assert {r[2] for r in rows if "-train-" in r[1]} <= {"CANCELLED", "COMPLETED"}
    assert "COMPLETED" in [r[2] for r in rows if "-infer-" in r[1]]
