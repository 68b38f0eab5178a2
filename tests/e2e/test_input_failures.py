"""A training input error that the login-node checks cannot see ends the search at once, on
the local executor with the real training job: one attempt, no retry, the reason printed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator import exit_codes
from tests.support.cli import cli
from tests.support.journal import strict_events, summary

pytestmark = pytest.mark.e2e


def test_a_model_folder_the_job_cannot_load_is_not_retried(tmp_path: Path) -> None:
    model = tmp_path / "my-model"  # valid JSON, so it passes the checks before submission
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    directory = tmp_path / "s"
    done = cli("run", "executor=local", "data=synthetic", "model=tiny",
               f"model.name_or_path={model}", "data.synthetic_train_size=400",
               "data.synthetic_test_size=100", "search.train_retries=2",
               "search.target=0.8", f"search.dir={directory}",
               "executor.poll_interval_s=0.5", "executor.max_poll_interval_s=1",
               "--plain")
    output = done.stdout + done.stderr
    # 3 (failed) once the CLI maps a failed search to it; 1 before that
    assert done.returncode == exit_codes.FAILED, output
    events = strict_events(directory)
    trains = [e for e in events if e["event"] == "submit_intent" and e["kind"] == "train"]
    assert len(trains) == 1, trains  # search.train_retries=2, yet no retry
    failed = [e for e in events if e["event"] == "job_failed"]
    assert [e["cause"] for e in failed] == ["input"], failed
    data = summary(directory)
    assert data["status"] == "failed"
    trial = data["trials"][0]
    assert trial["ended"] == "train_failed" and "an input error, not retried" in (
        trial["training_reason"])
    assert trial["train_failures"][0]["cause"] == "input"
    printed = f"train-t001-a0 (job {failed[0]['job_id']}) FAILED: input: " \
              f"loading model.name_or_path={model}: "
    assert printed in done.stdout, output
    assert "trial 1 ended: train_failed: " in done.stdout and str(model) in done.stdout
