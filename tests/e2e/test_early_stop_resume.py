"""search.early_stop=asha, the controller killed with SIGKILL at a rung decision and resumed
with the same command (local executor, the users' fake scripts): the resumed search stops
the same trials at the same steps, for the same reasons, as the uninterrupted one
(test_early_stop_search.py records it), stops no trial twice and evaluates no checkpoint
twice, since the rule is a function of the journal."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from orchestrator.common import layout
from tests.support.cli import PY, cli, kill_and_resume
from tests.support.journal import evaluations, events, submissions, summary
from tests.support.searches import BYO

pytestmark = pytest.mark.e2e

RISING = "40,55,62,70,72,74"
# the uninterrupted search's decisions (tests/e2e/test_early_stop_search.py)
ENDED = {1: ("complete", None), 2: ("complete", None), 3: ("pruned", 100), 4: ("pruned", 100)}
REASON_3 = ("at rung 100 (step 100) its accuracy 41.0000 was not in the top 1/3 of the 3 "
            "trials that reached it (the best 1 continue, down to 43.0000)")
REASON_4 = ("at rung 100 (step 100) its accuracy 40.0000 was not in the top 1/3 of the 4 "
            "trials that reached it (the best 1 continue, down to 43.0000)")


def _args(directory: Path) -> list[str]:
    train = f"{PY} {BYO / 'fake_train.py'} {{output_dir}} --checkpoints 6 --every-s 0.5"
    infer = f"{PY} {BYO / 'fake_infer.py'} {{checkpoint}} --curve {RISING} " \
            "--offset {train.weight_decay}"
    return ["run", "executor=local", f"search.dir={directory}", "search.target=99",
            f"train.command='{train}'", f"infer.command='{infer}'", "search.patience=99",
            "search.space={weight_decay: [3.0, 2.0, 1.0, 0.0]}", "search.max_trials=4",
            "search.max_concurrent_trials=1", "search.early_stop=asha",
            "search.early_stop_grace_steps=100", "search.early_stop_reduction_factor=3",
            "executor.poll_interval_s=0.3", "executor.max_poll_interval_s=1",
            "executor.fs_interval_s=0.2", "search.drain_timeout_s=20", "--plain"]


def _trial_3_evaluated(evs: list[dict[str, Any]]) -> bool:
    """Its rung-100 result is journaled; its cut may or may not be yet (the kill lands in
    the decision itself)."""
    return any(e["event"] == "evaluation" and e["trial"] == 3 for e in evs)


def _trial_3_cut(evs: list[dict[str, Any]]) -> bool:
    """The first rung decision that stops a trial is journaled."""
    return any(e["event"] == "trial_ended" and e["how"] == "pruned" for e in evs)


@pytest.mark.parametrize("ready", [_trial_3_evaluated, _trial_3_cut],
                         ids=["at-the-decision", "after-the-cut"])
def test_asha_resumed_after_sigkill_stops_the_same_trials_at_the_same_steps(
        tmp_path: Path, ready: Any) -> None:
    directory = tmp_path / "s"
    done = kill_and_resume(_args(directory), directory, tmp_path / "first.log", ready)
    assert done.returncode == 1, done.stdout + done.stderr  # 99 % is out of reach
    evs = events(directory)
    assert any(e["event"] == "resumed" for e in evs)  # the second run resumed the journal
    ended = [e for e in evs if e["event"] == "trial_ended"]
    assert Counter(e["trial"] for e in ended) == {1: 1, 2: 1, 3: 1, 4: 1}  # none twice
    by_trial = {e["trial"]: e for e in ended}
    assert {t: e["how"] for t, e in by_trial.items()} == {t: h for t, (h, _) in ENDED.items()}
    assert (by_trial[3]["step"], by_trial[4]["step"]) == (ENDED[3][1], ENDED[4][1])
    assert (by_trial[3]["reason"], by_trial[4]["reason"]) == (REASON_3, REASON_4)
    # no checkpoint evaluated twice: one result and one inference job per checkpoint
    assert set(evaluations(evs).values()) == {1}
    infer = Counter({k: n for k, n in submissions(evs).items() if k[0] == "infer"})
    assert set(infer.values()) == {1}
    # the pruned trials went no further than the rung: the same results as uninterrupted
    assert max(s for t, s in evaluations(evs) if t in (3, 4)) < 600
    data = summary(directory)
    assert [t["ended"] for t in data["trials"]] == ["complete", "complete", "pruned", "pruned"]
    assert data["best"]["trial"] == 1


def test_asha_resumed_from_the_journal_of_a_kill_between_a_result_and_its_cut(
        tmp_path: Path) -> None:
    """The gap a SIGKILL rarely hits, made certain: the finished search's journal is cut
    back to trial 3's rung-100 result (the last line a controller killed between that result
    and its cut would have written), and the world to what existed then (trial 4 had not
    started: its folder and the jobs submitted after the cut go). The rerun must make the
    cut itself, the same as uninterrupted, and evaluate nothing twice."""
    directory = tmp_path / "s"
    first = cli(*_args(directory), timeout=900)
    assert first.returncode == 1, first.stdout + first.stderr
    journal = directory / "journal.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if (e := json.loads(line))["event"]
               == "evaluation" and e["trial"] == 3)
    later = [json.loads(line) for line in lines[cut + 1:]]
    assert any(e["event"] == "trial_ended" and e["trial"] == 3 for e in later)  # the cut
    journal.write_text("".join(lines[:cut + 1]))
    for e in later:
        if e["event"] == "submit_intent":
            shutil.rmtree(e["folder"], ignore_errors=True)
    # trial 4's folder holds the first run's checkpoints and results: left there, the rerun's
    # trial 4 would resume after them and adopt a result of step 200 (a kill before trial 4
    # started leaves no such folder)
    trial_4 = layout.trial_dir(directory, 4)
    assert trial_4.is_dir(), trial_4
    shutil.rmtree(trial_4)
    assert not any(e["event"] == "trial_started" and e["trial"] == 4 for e in events(directory))

    done = cli(*_args(directory), timeout=900)
    assert done.returncode == 1, done.stdout + done.stderr
    evs = events(directory)
    resumed = next(i for i, e in enumerate(evs) if e["event"] == "resumed")
    assert any(e["event"] == "trial_ended" and e["trial"] == 3 for e in evs[resumed:])
    ended = {e["trial"]: e for e in evs if e["event"] == "trial_ended"}
    assert Counter(e["trial"] for e in evs if e["event"] == "trial_ended") == {
        1: 1, 2: 1, 3: 1, 4: 1}
    assert {t: (e["how"], e["step"]) for t, e in ended.items()} == ENDED
    assert (ended[3]["reason"], ended[4]["reason"]) == (REASON_3, REASON_4)
    assert set(evaluations(evs).values()) == {1}
    assert summary(directory)["best"]["trial"] == 1
