"""A NaN loss under fp16 on the local executor: the trial is re-planned once in bf16/fp32.

The fault (jobs/faults.py) makes the fp16 attempt's loss NaN at step 60, after its first
checkpoint; the real training job detects it and dies with cause nan_fp16; the controller
journals a second attempt with train.precision=bf16_or_fp32 (fp32 on this CPU), which resumes
from the checkpoint and trains on, although search.train_retries=0 allows no plain retry.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import cli
from tests.support.journal import events, summary
from tests.support.searches import TINY

pytestmark = pytest.mark.e2e


def test_a_nan_loss_in_fp16_is_retried_once_in_fp32(tmp_path: Path) -> None:
    directory = tmp_path / "nan"
    # 100 steps: the retry goes past the NaN step (checkpoint 100); the search need not reach
    # its target
    done = cli("run", "executor=local", *TINY, "train.precision=fp16", "search.target=0.80",
               "train.max_steps=100", "search.train_retries=0", "search.max_concurrent_evals=1",
               f"search.dir={directory}", "--plain", env={"JOBS_FAULT_FP16_NAN_AT": "60"})
    assert done.returncode in (0, 1), done.stdout + done.stderr
    evs = events(directory)
    intents = [e for e in evs if e["event"] == "submit_intent" and e["kind"] == "train"]
    assert [i["overrides"] for i in intents] == [{}, {"precision": "bf16_or_fp32"}]
    failed = [e for e in evs if e["event"] == "job_failed"]
    assert [e["cause"] for e in failed] == ["nan_fp16"]
    assert "loss became NaN at step 60 (precision fp16)" in failed[0]["detail"]
    data = summary(directory)
    assert data["trials"][0]["training"] in ("succeeded", "cancelled")
    assert [f["cause"] for f in data["trials"][0]["train_failures"]] == ["nan_fp16"]
    # the retry resumed from the fp16 attempt's checkpoint and went past the NaN step
    steps = [e["step"] for e in evs if e["event"] == "checkpoint"]
    assert steps[0] == 50 and max(steps) > 60
    log = "".join(p.read_text() for p in directory.rglob("*_log.out"))
    assert "resuming from" in log and "checkpoint-50" in log
