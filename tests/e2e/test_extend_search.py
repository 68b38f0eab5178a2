"""An ended search continued with --force-resume and more trials, on the local executor, with
the validation split deciding: real training and inference jobs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import cli
from tests.support.journal import events, summary

pytestmark = pytest.mark.e2e

SHORT = ["executor=local", "data=synthetic", "model=tiny", "data.synthetic_train_size=1000",
         "data.synthetic_test_size=500", "train.max_steps=60", "train.save_steps=30",
         "train.eval_steps=30", "search.target=0.99", "search.split=validation"]


def test_a_finished_search_gets_a_second_trial_with_force_resume(tmp_path: Path) -> None:
    directory = tmp_path / "search"
    first = cli("run", *SHORT, f"search.dir={directory}", "--plain")
    assert first.returncode == 1, first.stdout + first.stderr
    assert summary(directory)["status"] in ("exhausted", "metric_fell")

    refused = cli("run", *SHORT, "search.max_trials=2", f"search.dir={directory}", "--plain")
    assert refused.returncode == 2
    assert "search.max_trials 1 -> 2" in refused.stderr and "--force-resume" in refused.stderr

    again = cli("run", *SHORT, "search.max_trials=2", f"search.dir={directory}", "--plain",
                "--force-resume")
    assert again.returncode == 1, again.stdout + again.stderr
    assert "the ended search continues with new settings: search.max_trials 1 -> 2" \
        in again.stdout
    assert "trial 2 started (seed 43)" in again.stdout
    data = summary(directory)
    assert [t["trial"] for t in data["trials"]] == [1, 2]
    assert data["trials"][1]["checkpoints"] >= 1 and data["split"] == "validation"
    for e in data["evaluations"]:
        assert e["split"] == "validation"
        assert e["value"] == e["metrics"]["validation"]["accuracy"]
        assert e["metrics"]["test"]["n"] == 500 and e["metrics"]["validation"]["n"] == 100
    assert [e["event"] for e in events(directory)].count("search_extended") == 1
    report = (directory / "report.md").read_text()
    assert "decided on: the validation split" in report
