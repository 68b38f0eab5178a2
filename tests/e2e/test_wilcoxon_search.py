"""search.early_stop=wilcoxon with the built-in tiny model: a trial with a learning rate too
small to learn is stopped at its first checkpoint, its per-example scores paired with the
first trial's best, and says why with the p-value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.cli import cli
from tests.support.journal import events, summary

pytestmark = pytest.mark.e2e

SEARCH = [
    "data=synthetic", "model=tiny", "data.synthetic_train_size=2000",
    "data.synthetic_test_size=500", "train.max_steps=100", "train.save_steps=50",
    "train.eval_steps=50", "search.space={learning_rate: [2e-3, 1e-9]}", "search.max_trials=2",
    "search.max_concurrent_trials=1", "search.target=0.99", "search.patience=99",
    "search.early_stop=wilcoxon", "search.early_stop_min_trials=1",
    # one evaluation at a time: trial 2's step-50 result is judged before its step-100 one
    # lands, so it is pruned at 50, never seen "complete" with both in one tick
    "search.max_concurrent_evals=1",
]


def test_wilcoxon_stops_a_trial_that_does_not_learn(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    done = cli("run", "executor=local", *SEARCH, f"search.dir={directory}", "--plain",
               timeout=900)
    assert done.returncode == 1, done.stdout + done.stderr  # 0.99 is out of reach
    ended = {e["trial"]: e for e in events(directory) if e["event"] == "trial_ended"}
    assert {t: e["how"] for t, e in ended.items()} == {1: "complete", 2: "pruned"}
    reason = ended[2]["reason"]
    match = re.fullmatch(r"at step 50 its per-example scores were worse than trial 1's best "
                         r"\(p=(\S+) < 0\.1, (\d+) examples\)", reason)
    assert match, reason
    assert float(match.group(1)) < 0.1 and int(match.group(2)) > 0
    assert list((directory / "trials" / "001" / "evals").glob("step-*.examples.json"))
    data = summary(directory)
    assert data["trials"][1]["ended_reason"] == reason
    assert f"trial 2 ended: pruned: {reason}" in done.stdout  # the view says why
    assert f"  ended: {reason}" in cli("status", str(directory)).stdout
    assert "per-example scores were worse" in (directory / "report.md").read_text()
