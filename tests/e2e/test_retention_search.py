"""search.keep on the local executor: concurrent trials, median early stopping, evaluations
in flight, a training retry resuming from the kept latest checkpoint, `orchestrator clean`."""

from __future__ import annotations

import contextlib
import os
import re
import signal
from pathlib import Path

import pytest

from orchestrator.common import layout
from tests.support.cli import PY, cli, start
from tests.support.journal import events, summary, wait_for
from tests.support.retention import check_kept
from tests.support.searches import BYO

pytestmark = pytest.mark.e2e

RISING = "40,55,62,70,72,74,71,76"


def local_byo(directory: Path, train_args: str, infer_args: str, *more: str) -> list[str]:
    train = f"{PY} {BYO / 'fake_train.py'} {{output_dir}} --every-s 0.4 {train_args}"
    infer = f"{PY} {BYO / 'fake_infer.py'} {{checkpoint}} {infer_args}"
    return ["run", "executor=local", f"search.dir={directory}", "search.target=99",
            f"train.command='{train}'", f"infer.command='{infer}'", "search.patience=99",
            "executor.poll_interval_s=0.3", "executor.max_poll_interval_s=1",
            "executor.fs_interval_s=0.2", "search.drain_timeout_s=20", "--plain", *more]


def test_concurrent_trials_with_median_stopping_keep_each_best(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    args = local_byo(
        directory, "--checkpoints 8 --optimizer-bytes 20000",
        # trial n scores n points higher: trial 1 is below the others' median at every step;
        # each evaluation reads the weights after a second, so a deletion under it fails it
        f"--curve {RISING} --offset {{trial}} --sleep-s 1 --read-at-end",
        "search.max_trials=3", "search.max_concurrent_trials=3",
        "search.max_concurrent_evals=4", "search.early_stop=median",
        "search.early_stop_min_trials=2")
    done = cli(*args, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr  # 99 % is out of reach
    data = check_kept(directory)
    assert any(t["ended"] == "pruned" for t in data["trials"]), data["trials"]
    assert all(e["value"] is not None for e in data["evaluations"]), data["evaluations"]
    assert data["best"]["trial"] == 3
    assert "(search.keep)" in done.stdout
    # every trial wrote 8 checkpoints (until stopped): most are gone, each trial keeps one
    evs = events(directory)
    assert sum(1 for e in evs if e["event"] == "deleted" and e["what"] == "all") >= 6
    status = cli("status", str(directory))
    assert re.search(r"disk: search folder .*; checkpoints on disk: .* freed", status.stdout)


def test_a_retried_training_resumes_from_the_kept_latest(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    # step 400 is the best so far when training fails after step 500 (evaluated meanwhile):
    # only "the latest while training may resume" keeps 500 for the retry to resume from
    args = local_byo(directory, "--checkpoints 8 --optimizer-bytes 20000 --fail-once-at 500 "
                     "--fail-delay-s 4", "--curve 40,55,62,75,72,74,71,76 --read-at-end",
                     "search.train_retries=1")
    done = cli(*args, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr
    evs = events(directory)
    retry = next(e for e in evs if e["event"] == "submit_intent" and e["kind"] == "train"
                 and e["attempt"] == 1)
    deleted_before = {e["step"] for e in evs if e["event"] == "deleted" and e["t"] < retry["t"]}
    logs = "\n".join(p.read_text() for p in layout.trial_dir(directory, 1).glob("train-a*.out"))
    assert "starting after step 500" in logs, logs
    assert 500 not in deleted_before and {100, 200, 300} <= deleted_before
    assert any(e["event"] == "evaluation" and e["step"] == 500 and e["t"] < retry["t"]
               for e in evs)
    check_kept(directory)
    assert summary(directory)["trials"][0]["ended"] == "complete"


def test_clean_an_ended_search_keeps_best_only(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    args = local_byo(directory, "--checkpoints 4", f"--curve {RISING}", "search.keep=all")
    assert cli(*args, timeout=600).returncode == 1
    trial = layout.trial_dir(directory, 1)
    assert len(list(trial.glob("checkpoint-*"))) == 4  # keep=all: nothing deleted
    done = cli("clean", str(directory))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("freed ") and "best/ untouched" in done.stdout
    assert list(trial.glob("checkpoint-*")) == []
    assert (layout.best_dir(directory) / "model.safetensors").is_file()
    assert summary(directory)["disk"]["final_bytes"] > 0  # summary.json is the ended record
    again = cli("clean", str(directory))
    assert again.returncode == 0 and again.stdout.startswith("freed 0 B")


def test_clean_refuses_a_running_then_an_interrupted_search(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    args = local_byo(directory, "--checkpoints 40 --every-s 1", f"--curve {RISING}")
    proc = start(*args, log=tmp_path / "run.log")
    try:
        wait_for(directory, lambda evs: any(e["event"] == "checkpoint" for e in evs))
        running = cli("clean", str(directory))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    for e in events(directory):  # the training job this test started: a process group
        if e["event"] == "submitted" and e["job_id"]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(e["job_id"]), signal.SIGKILL)
    assert running.returncode == 2 and running.stdout == ""
    assert len(running.stderr.splitlines()) == 1 and "is running" in running.stderr
    interrupted = cli("clean", str(directory))
    assert interrupted.returncode == 2 and "has not ended" in interrupted.stderr
    assert len(list(layout.trial_dir(directory, 1).glob("checkpoint-*"))) >= 1
