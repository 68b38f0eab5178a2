"""Helpers to run the real CLI as a user would, in a subprocess, and read what it left."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# A short, deterministic tiny-BERT search: about 40 s of training on 2 cores.
TINY = [
    "data=synthetic", "model=tiny", "train.epochs=5", "train.save_steps=50",
    "train.eval_steps=50", "data.synthetic_train_size=3000", "data.synthetic_test_size=1000",
]


def cli(*args: str, timeout: float = 600, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args], cwd=ROOT, capture_output=True,
        text=True, timeout=timeout, env={**os.environ, **(env or {})}, check=False,
        stdin=subprocess.DEVNULL,  # never a terminal: the debug executor must not open pdb
    )


def start(*args: str, log: Path) -> subprocess.Popen[bytes]:
    handle = open(log, "ab")
    return subprocess.Popen([sys.executable, "-m", "orchestrator", *args], cwd=ROOT,
                            stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def events(search_dir: Path) -> list[dict[str, Any]]:
    path = search_dir / "journal.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass  # a torn tail while the controller writes
    return out


def wait_for(search_dir: Path, predicate: Any, timeout: float = 300) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        evs = events(search_dir)
        if predicate(evs):
            return evs
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting in {search_dir}: {events(search_dir)[-5:]}")


def summary(search_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((search_dir / "summary.json").read_text())
    return data


def submissions(evs: list[dict[str, Any]]) -> Counter[tuple[str, int, int | None]]:
    """How many jobs were submitted per piece of work (kind, trial, step)."""
    return Counter((e["kind"], e["trial"], e.get("step")) for e in evs
                   if e["event"] == "submit_intent")


def evaluations(evs: list[dict[str, Any]]) -> Counter[tuple[int, int]]:
    return Counter((e["trial"], e["step"]) for e in evs if e["event"] == "evaluation")


# Three tiny trials at once over a learning-rate grid, short enough for 2 cores.
CONCURRENT = [
    "data=synthetic", "model=tiny", "data.synthetic_train_size=2000",
    "data.synthetic_test_size=1000", "train.max_steps=200", "train.save_steps=100",
    "train.eval_steps=100", "search.space={learning_rate: [5e-4, 1e-3, 2e-3]}",
    "search.max_trials=3", "search.max_concurrent_trials=3", "search.max_concurrent_evals=3",
    "search.target=0.99",
]


def kill_and_resume(args: list[str], directory: Path, log: Path,
                    ready: Any) -> subprocess.CompletedProcess[str]:
    """Start the search, kill -9 the controller once `ready(events)` holds, run it again."""
    import signal

    proc = start(*args, log=log)
    try:
        wait_for(directory, ready, timeout=600)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    return cli(*args, timeout=900)


def check_concurrent_outcome(directory: Path) -> dict[str, Any]:
    """Three trials ran at once, each once, nothing evaluated twice, the table written."""
    evs = events(directory)
    assert all(n == 1 for n in submissions(evs).values()), submissions(evs)
    assert sorted(k for k in submissions(evs) if k[0] == "train") == [
        ("train", 1, None), ("train", 2, None), ("train", 3, None)]
    assert all(n == 1 for n in evaluations(evs).values())
    started = [e for e in evs if e["event"] == "trial_started"]
    assert [e["params"] for e in started] == [
        {"learning_rate": 5e-4}, {"learning_rate": 1e-3}, {"learning_rate": 2e-3}]
    # all three trained at the same time: each started before any trial ended
    first_end = min(e["t"] for e in evs if e["event"] == "trial_ended")
    assert all(e["t"] < first_end for e in started)
    data = summary(directory)
    assert [t["params"]["learning_rate"] for t in data["trials"]] == [5e-4, 1e-3, 2e-3]
    assert all(t["job_hours"] > 0 for t in data["trials"])
    report = (directory / "report.md").read_text()
    assert "learning_rate=0.0005" in report and "job-hours" in report
    return data
