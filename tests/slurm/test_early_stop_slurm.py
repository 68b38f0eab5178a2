"""search.early_stop=asha on the real local cluster with the users' fake scripts: a trial
that falls short at the first rung is stopped there, its training job cancelled in SLURM
(sacct says CANCELLED), and the journal says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import cli
from tests.support.journal import events, summary
from tests.support.searches import byo_overrides, search_dir
from tests.support.slurm import sacct_jobs

pytestmark = pytest.mark.slurm


def test_asha_cuts_a_trial_at_its_rung_and_slurm_cancels_its_training(
        slurm_cluster: object, tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    # search.mode=min on the fake accuracy, so that one placeholder sets both how a trial
    # scores and how long it trains: trial 1 (weight_decay 0) scores 40 at rung 100 and ends
    # at once; trial 2 (weight_decay 30) scores 70, worse under min, and would train 30 s
    # past its last checkpoint: only the cut ends it
    overrides = byo_overrides(directory, checkpoints=2, every_s=0.5,
                              infer_args="--offset {train.weight_decay}", target=0.0)
    overrides = [o.replace("--linger-s 0", "--linger-s {train.weight_decay}") for o in overrides]
    overrides += ["search.mode=min", "search.space={weight_decay: [0.0, 30.0]}",
                  "search.max_trials=2", "search.max_concurrent_trials=1",
                  "search.early_stop=asha", "search.early_stop_grace_steps=100",
                  "search.early_stop_min_trials=1", "search.patience=99",
                  # one evaluation at a time: trial 2's rung-100 result is judged before its
                  # step-200 one lands (on 24.11 both landed in one tick: cut at 200)
                  "search.max_concurrent_evals=1"]
    done = cli("run", *overrides, "--plain", timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr  # 0 % is out of reach
    ended = {e["trial"]: e for e in events(directory) if e["event"] == "trial_ended"}
    assert {t: e["how"] for t, e in ended.items()} == {1: "complete", 2: "pruned"}
    assert ended[2]["step"] == 100
    assert ended[2]["reason"] == (
        "at rung 100 (step 100) its accuracy 70.0000 was not in the top 1/3 of the 2 trials "
        "that reached it (the best 1 continue, down to 40.0000)")
    data = summary(directory)
    assert data["trials"][1]["ended_reason"] == ended[2]["reason"]
    assert data["jobs"]["train-t002-a0"]["state"] == "CANCELLED"
    # on the real scheduler: trial 1's training completed, trial 2's was cancelled
    rows = sacct_jobs(directory.name)
    train = {name: state for _, name, state, _ in rows if "-train-" in name}
    assert sorted(train.values()) == ["CANCELLED", "COMPLETED"], rows
    assert train[next(n for n in train if "-train-t002-" in n)] == "CANCELLED", rows
