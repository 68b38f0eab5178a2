"""kill -9 the controller on the real cluster, run the same command again."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import cli, start
from tests.support.journal import decision, evaluations, events, submissions, wait_for
from tests.support.searches import ONLY_FIFTH, byo_overrides, search_dir
from tests.support.slurm import sacct_jobs

pytestmark = pytest.mark.slurm


def test_kill_9_mid_search_then_resume_reattaches_and_decides_the_same(
    slurm_cluster: object, tmp_path: Path
) -> None:
    # training lingers after its last checkpoint, so only the controller's cancel ends it,
    # however slow the machine; only checkpoint 500 reaches the target
    args: dict[str, Any] = dict(every_s=1.5, infer_args="--sleep-s 2", linger_s=120,
                                curve=ONLY_FIFTH)
    reference = search_dir(tmp_path)
    done = cli("run", *byo_overrides(reference, **args), "--plain")
    assert done.returncode == 0, done.stderr

    directory = search_dir(tmp_path)
    overrides = byo_overrides(directory, **args)
    proc = start("run", *overrides, "--plain", log=tmp_path / "first.log")
    # kill while training runs and an evaluation is in flight
    wait_for(directory, lambda evs: len(evaluations(evs)) >= 2 and any(
        e["event"] == "submitted" and "-s00000300-" in e["key"] for e in evs), timeout=120)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = events(directory)
    train_id = next(e["job_id"] for e in before if e["event"] == "submitted"
                    and e["key"] == "train-t001-a0")

    again = cli("run", *overrides, "--plain")
    assert again.returncode == 0, again.stdout + again.stderr
    evs = events(directory)
    assert any(e["event"] == "resumed" for e in evs)
    assert submissions(evs)[("train", 1, None)] == 1
    assert all(n == 1 for n in submissions(evs).values())  # nothing submitted twice
    assert all(n == 1 for n in evaluations(evs).values())  # nothing evaluated twice
    trains = [r for r in sacct_jobs(directory.name) if "-train-" in r[1]]
    assert [r[0] for r in trains] == [train_id]  # re-attached to the same job id
    assert trains[0][2] == "CANCELLED"
    assert decision(directory) == decision(reference)
