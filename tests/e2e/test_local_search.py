"""Whole searches on the local executor: the tiny BERT on synthetic data, real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import cli, start
from tests.support.journal import evaluations, events, submissions, summary, wait_for

pytestmark = pytest.mark.e2e

# the README's demo, evaluations in strict step order so that the decision is reproducible
DEMO = ["executor=local", "data=synthetic", "model=tiny", "search.target=0.80",
        "search.max_concurrent_evals=1", "train.epochs=20"]


@pytest.fixture(scope="module")
def target_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    directory = tmp_path_factory.mktemp("target") / "search"
    done = cli("run", *DEMO, f"search.dir={directory}", "--plain")
    return directory, done


def test_target_reached_before_the_last_step(target_run: tuple[Path, Any]) -> None:
    directory, done = target_run
    assert done.returncode == 0, done.stdout + done.stderr
    data = summary(directory)
    assert data["status"] == "target_reached"
    assert data["target"] == 0.8 and data["metric"] == "accuracy" and data["mode"] == "max"
    trial = data["trials"][0]
    assert trial["max_steps"] == 2260
    assert data["best"]["step"] < trial["max_steps"]
    assert trial["last_checkpoint_step"] < trial["max_steps"]
    assert data["best"]["value"] >= 0.80
    # evaluations: in step order, each with its job id
    steps = [e["step"] for e in data["evaluations"]]
    assert steps == sorted(steps) and all(e["job_id"] for e in data["evaluations"])


def test_training_was_cancelled_and_best_promoted(target_run: tuple[Path, Any]) -> None:
    directory, _ = target_run
    data = summary(directory)
    assert data["trials"][0]["train_job_states"] == ["CANCELLED"]
    assert data["trials"][0]["training"] == "cancelled"
    best = json.loads((directory / "best" / "best.json").read_text())
    assert (best["trial"], best["step"]) == (data["best"]["trial"], data["best"]["step"])
    assert (directory / "best" / "model.safetensors").exists()
    assert (directory / "best" / "tokenizer.json").exists()
    assert not list(directory.glob(".best-*"))  # no staging copy left behind


def test_outcome_files(target_run: tuple[Path, Any]) -> None:
    directory, done = target_run
    report = (directory / "report.md").read_text()
    assert "**target_reached**" in report and "metric.png" in report
    assert (directory / "metric.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "status: target_reached" in done.stdout
    assert "search ended: target_reached" in done.stdout  # plain one-line-per-event output


def test_running_the_same_command_again_prints_the_outcome(target_run: tuple[Path, Any]) -> None:
    directory, _ = target_run
    before = submissions(events(directory))
    again = cli("run", *DEMO, f"search.dir={directory}", "--plain")
    assert again.returncode == 0
    assert "status: target_reached" in again.stdout
    assert submissions(events(directory)) == before


def test_status_reads_the_journal_only(target_run: tuple[Path, Any], tmp_path: Path) -> None:
    directory, _ = target_run
    calls = tmp_path / "calls.log"
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    for name in ("sacct", "squeue", "scontrol", "sbatch", "scancel"):
        script = fake_bin / name
        script.write_text(f'#!/bin/sh\necho {name} >> "{calls}"\nexit 1\n')
        script.chmod(0o755)
    done = cli("status", str(directory), env={"PATH": f"{fake_bin}:{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    assert "status: target_reached" in done.stdout
    assert not calls.exists()
    as_json = json.loads(cli("status", str(directory), "--json").stdout)
    assert as_json["status"] == "target_reached"


# The demo with 1,000 noisy train examples overfits early: its accuracy falls at step 250
# (0.614, 0.630, 0.674, 0.678, 0.664 on 500 test examples), five short evaluations where the
# demo falls at step 600 after six on 2,000; 2,000 steps keep the training running (so
# cancelled) long after the evaluations that lag it.
OVERFITS = ["data.synthetic_train_size=1000", "data.synthetic_test_size=500",
            "train.save_steps=50", "train.eval_steps=50", "train.max_steps=2000"]


def test_metric_fell(tmp_path: Path) -> None:
    directory = tmp_path / "fell"
    done = cli("run", *DEMO, *OVERFITS, "search.target=0.95", f"search.dir={directory}",
               "--plain")
    assert done.returncode == 1, done.stdout + done.stderr
    data = summary(directory)
    assert data["status"] == "metric_fell"
    values = [e["value"] for e in data["evaluations"]]
    assert values[-1] < values[-2]  # the fall that stopped it
    assert data["best"]["value"] == max(values)
    assert data["trials"][0]["train_job_states"] == ["CANCELLED"]


def test_kill_9_and_resume_on_the_local_executor(target_run: tuple[Path, Any],
                                                 tmp_path: Path) -> None:
    reference, _ = target_run
    directory = tmp_path / "killed"
    proc = start("run", *DEMO, f"search.dir={directory}", "--plain", log=tmp_path / "first.log")
    wait_for(directory, lambda evs: len(evaluations(evs)) >= 1 and any(
        e["event"] == "checkpoint" and e["step"] >= 200 for e in evs), timeout=300)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # a second controller may start at once: the kernel released the dead one's lock
    again = cli("run", *DEMO, f"search.dir={directory}", "--plain")
    assert again.returncode == 0, again.stdout + again.stderr
    evs = events(directory)
    assert any(e["event"] == "resumed" for e in evs)
    assert submissions(evs)[("train", 1, None)] == 1  # the training job was not resubmitted
    assert all(n == 1 for n in submissions(evs).values())
    assert all(n == 1 for n in evaluations(evs).values())  # no checkpoint evaluated twice
    ended = [(e["how"], e.get("step")) for e in evs if e["event"] == "trial_ended"]
    reference_ended = [(e["how"], e.get("step")) for e in events(reference)
                       if e["event"] == "trial_ended"]
    assert ended == reference_ended
    assert summary(directory)["status"] == summary(reference)["status"]


def test_a_second_controller_is_refused_naming_the_holder(tmp_path: Path) -> None:
    directory = tmp_path / "busy"
    proc = start("run", *DEMO, f"search.dir={directory}", "--plain", log=tmp_path / "first.log")
    try:
        wait_for(directory, lambda evs: any(e["event"] == "submitted" for e in evs), timeout=60)
        second = cli("run", *DEMO, f"search.dir={directory}", "--plain")
        assert second.returncode == 2
        assert f"pid {proc.pid} on host" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        proc.send_signal(signal.SIGINT)  # the user's Ctrl-C
        proc.wait(timeout=60)
    # interrupted, not finished: the same command resumes it later
    assert not (directory / "summary.json").exists()
    for job in (directory / "jobs").iterdir():  # leave no training behind
        for pid_file in job.glob("*_submitted.pkl"):
            pid = int(pid_file.name.split("_")[0])
            subprocess.run(["kill", "-INT", str(pid)], check=False, capture_output=True)


def test_debug_executor_runs_in_process(tmp_path: Path) -> None:
    directory = tmp_path / "debug"
    done = cli("run", "executor=debug", "data=synthetic", "model=tiny", "train.max_steps=300",
               "search.target=0.70", f"search.dir={directory}", "--plain")
    assert done.returncode == 0, done.stdout + done.stderr
    data = summary(directory)
    assert data["status"] == "target_reached"
    assert all(job["job_id"].startswith("DEBUG_") for job in data["jobs"].values())


def test_debug_executor_does_not_hang_when_a_job_raises(tmp_path: Path) -> None:
    directory = tmp_path / "debug-fail"
    model = tmp_path / "model"  # passes the checks before submission; the job cannot load it
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "no-such-architecture"}')
    done = cli("run", "executor=debug", f"model.name_or_path={model}",
               "search.target=0.70", f"search.dir={directory}", "search.train_retries=0",
               "--plain", timeout=300)
    assert done.returncode == 3, done.stdout + done.stderr  # the search failed
    data = summary(directory)
    assert data["status"] == "failed"
    assert "FAILED" in data["trials"][0]["training_reason"]

