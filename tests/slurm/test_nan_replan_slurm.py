"""The fp16 NaN re-plan with real SLURM jobs: the failed attempt's cause comes back from a
compute job's failure file, and the retry is a second sbatch with bf16_or_fp32.

What SLURM adds is checked here: the cause read from the compute job's failure file, two
training jobs in sacct (the fp16 one FAILED, the retry its own job). The retry trains to step
100, just past the NaN at 60 (as in the local test); the retry resuming from the fp16
attempt's checkpoint, past the NaN step, with the failure's detail, is
tests/e2e/test_nan_replan.py on the local executor."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import cli
from tests.support.journal import events, summary
from tests.support.searches import TINY, search_dir
from tests.support.slurm import sacct_jobs

pytestmark = pytest.mark.slurm


def test_a_nan_in_fp16_is_retried_once_on_slurm(slurm_cluster: object, tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    # 100 steps: the retry goes past the NaN step; the search need not reach its target
    done = cli("run", "executor=slurm", *TINY, "train.precision=fp16", "search.target=0.80",
               "train.max_steps=100", "search.train_retries=0", f"search.dir={directory}",
               "executor.poll_interval_s=1", "executor.max_poll_interval_s=2", "--plain",
               env={"JOBS_FAULT_FP16_NAN_AT": "60"}, timeout=900)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    evs = events(directory)
    intents = [e for e in evs if e["event"] == "submit_intent" and e["kind"] == "train"]
    assert [i["overrides"] for i in intents] == [{}, {"precision": "bf16_or_fp32"}]
    assert [e["cause"] for e in evs if e["event"] == "job_failed"] == ["nan_fp16"]
    assert summary(directory)["trials"][0]["training"] in ("succeeded", "cancelled")
    ids = [e["job_id"] for e in evs if e["event"] == "submitted" and e["key"].startswith("train")]
    trains = sorted((r[0], r[2]) for r in sacct_jobs(directory.name) if "-train-" in r[1])
    assert len(ids) == 2 and [i for i, _ in trains] == sorted(ids), (ids, trains)
    assert dict(trains)[ids[0]] == "FAILED", trains
    assert dict(trains)[ids[1]] in ("COMPLETED", "CANCELLED"), trains
