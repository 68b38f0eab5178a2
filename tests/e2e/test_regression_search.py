"""A regression search on the local executor: prices from descriptions, stopped on MAE."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import cli
from tests.support.searches import PRICES, check_price_search

pytestmark = pytest.mark.e2e


def test_a_price_search_stops_when_the_mae_reaches_its_target(tmp_path: Path) -> None:
    directory = tmp_path / "prices"
    # a checkpoint every 150 steps, not 50: the target is met at step 300 either way (MAE 14.6
    # at 150, 5.4 at 300), with two evaluations instead of six
    done = cli("run", "executor=local", *PRICES, "train.save_steps=150",
               f"search.dir={directory}", "--plain")
    assert done.returncode == 0, done.stdout + done.stderr
    data = check_price_search(directory)
    # the target stops the search: no checkpoint after the deciding one is evaluated (one
    # evaluation at a time), whether or not training was still running to be cancelled
    assert max(e["step"] for e in data["evaluations"]) == data["best"]["step"]
    assert data["trials"][0]["train_job_states"] in (["CANCELLED"], ["SUCCEEDED"])
    assert (directory / "best" / "config.json").is_file()
    assert '"regression_mean"' in (directory / "best" / "config.json").read_text()
