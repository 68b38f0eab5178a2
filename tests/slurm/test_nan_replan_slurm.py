"""The fp16 NaN re-plan with real SLURM jobs: the failed attempt's cause comes back from a
compute job's failure file, and the retry is a second sbatch with bf16_or_fp32."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import cli
from tests.support.journal import events, summary
from tests.support.searches import TINY, search_dir

pytestmark = pytest.mark.slurm


def test_a_nan_in_fp16_is_retried_once_on_slurm(slurm_cluster: object, tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    # 150 steps: the retry goes well past the NaN step; the search need not reach its target
    done = cli("run", "executor=slurm", *TINY, "train.precision=fp16", "search.target=0.80",
               "train.max_steps=150", "search.train_retries=0", f"search.dir={directory}",
               "executor.poll_interval_s=1", "executor.max_poll_interval_s=2", "--plain",
               env={"JOBS_FAULT_FP16_NAN_AT": "60"}, timeout=900)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    evs = events(directory)
    intents = [e for e in evs if e["event"] == "submit_intent" and e["kind"] == "train"]
    assert [i["overrides"] for i in intents] == [{}, {"precision": "bf16_or_fp32"}]
    assert [e["cause"] for e in evs if e["event"] == "job_failed"] == ["nan_fp16"]
    assert summary(directory)["trials"][0]["training"] in ("succeeded", "cancelled")
