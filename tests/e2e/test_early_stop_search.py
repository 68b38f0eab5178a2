"""search.early_stop=asha on the local executor with the users' fake scripts: a real search
whose later trials fall short at the first rung and are stopped there, and say why."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import PY, cli
from tests.support.journal import events, summary
from tests.support.searches import BYO

pytestmark = pytest.mark.e2e

RISING = "40,55,62,70,72,74"


def test_asha_stops_the_trials_below_the_top_third_at_a_rung(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    train = f"{PY} {BYO / 'fake_train.py'} {{output_dir}} --checkpoints 6 --every-s 0.5"
    # trial n scores the grid's offset above the curve: 3, 2, 1, 0 points, one at a time,
    # so each trial meets all the earlier ones at rung 100 (rungs 100, 300, 900)
    infer = f"{PY} {BYO / 'fake_infer.py'} {{checkpoint}} --curve {RISING} " \
            "--offset {train.weight_decay}"
    done = cli("run", "executor=local", f"search.dir={directory}", "search.target=99",
               f"train.command='{train}'", f"infer.command='{infer}'", "search.patience=99",
               "search.space={weight_decay: [3.0, 2.0, 1.0, 0.0]}", "search.max_trials=4",
               "search.max_concurrent_trials=1", "search.early_stop=asha",
               "search.early_stop_grace_steps=100", "search.early_stop_reduction_factor=3",
               "executor.poll_interval_s=0.3", "executor.max_poll_interval_s=1",
               "executor.fs_interval_s=0.2", "search.drain_timeout_s=20", "--plain",
               timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr  # 99 % is out of reach
    ended = {e["trial"]: e for e in events(directory) if e["event"] == "trial_ended"}
    # trials 1 and 2 are judged against fewer than early_stop_min_trials=2 others: they go on;
    # trial 3 (41 %) and 4 (40 %) are below the best third of 3 and 4 trials at rung 100
    assert {t: e["how"] for t, e in ended.items()} == {
        1: "complete", 2: "complete", 3: "pruned", 4: "pruned"}
    assert (ended[3]["step"], ended[4]["step"]) == (100, 100)
    assert ended[3]["reason"] == (
        "at rung 100 (step 100) its accuracy 41.0000 was not in the top 1/3 of the 3 trials "
        "that reached it (the best 1 continue, down to 43.0000)")
    assert "of the 4 trials that reached it" in ended[4]["reason"]
    data = summary(directory)
    assert [t["ended"] for t in data["trials"]] == ["complete", "complete", "pruned", "pruned"]
    assert data["trials"][2]["ended_reason"] == ended[3]["reason"]
    assert data["best"]["trial"] == 1
    # a pruned trial's training is stopped at the rung: it wrote fewer than its 6 checkpoints
    evaluated = {(e["trial"], e["step"]) for e in data["evaluations"]}
    assert max(s for t, s in evaluated if t == 4) < 600
    assert "at rung 100" in (directory / "report.md").read_text()
    assert f"trial 3 ended: pruned: {ended[3]['reason']}" in done.stdout  # the view says why
    status = cli("status", str(directory)).stdout
    assert f"  ended: {ended[3]['reason']}" in status
    assert ("  rung 100: trial 1 43.0000, trial 2 42.0000, trial 3 41.0000 (stopped), "
            "trial 4 40.0000 (stopped)\n  rung 300: trial 1 65.0000, trial 2 64.0000\n") in status
