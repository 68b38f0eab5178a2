"""search.sampler=optuna: TPE through ask/tell, its study in search.dir, resumed after kill -9."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.support.cli import ROOT, kill_and_resume
from tests.support.journal import events, summary

pytestmark = pytest.mark.e2e
BYO = ROOT / "tests" / "fixtures" / "byo"


def test_optuna_search_continues_the_same_study_after_a_kill(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    directory = tmp_path / "tpe"
    train = f"{sys.executable} {BYO / 'fake_train.py'} {{output_dir}} --checkpoints 3 " \
            "--every-s 0.3"
    infer = f"{sys.executable} {BYO / 'fake_infer.py'} {{checkpoint}} --curve 40,50,60 " \
            "--offset {train.weight_decay}"
    args = ["run", "executor=local", f"search.dir={directory}", "search.target=99",
            f"train.command='{train}'", f"infer.command='{infer}'",
            "search.space={weight_decay: {low: 0.0, high: 30.0}}", "search.sampler=optuna",
            "search.max_trials=5", "search.max_concurrent_trials=2", "--plain"]
    done = kill_and_resume(args, directory, tmp_path / "first.log", lambda evs: sum(
        e["event"] == "trial_ended" for e in evs) >= 1)
    assert done.returncode == 1, done.stdout + done.stderr
    evs = events(directory)
    started = [e for e in evs if e["event"] == "trial_started"]
    assert len(started) == 5
    numbers = [e["sampler_trial"] for e in started]
    assert len(set(numbers)) == 5
    study = optuna.load_study(study_name="search", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(directory / "optuna-journal.log"))))
    told = {t.number: t.value for t in study.trials if t.state.name == "COMPLETE"}
    data = summary(directory)
    for trial, number in zip(data["trials"], numbers, strict=True):
        assert told[number] == pytest.approx(trial["best_value"])  # each result told once
        assert trial["best_value"] == pytest.approx(60 + trial["params"]["weight_decay"])
