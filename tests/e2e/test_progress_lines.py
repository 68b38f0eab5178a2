"""Training progress from a real (local) training job's progress.json: the plain lines and
`orchestrator status` while it runs. The job is a user's script that writes the file the
way the built-in training job does (layout.progress_path, atomically)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.support.cli import PY, cli, start
from tests.support.journal import wait_for
from tests.support.searches import BYO

pytestmark = pytest.mark.e2e

TRAIN = '''
import json, os, subprocess, sys, time
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
for step in range(10, 90, 10):
    tmp = os.path.join(out, ".progress.tmp")
    with open(tmp, "w") as handle:
        json.dump({"step": step, "max_steps": 80, "epoch": step / 40, "steps_per_s": 8.0,
                   "examples_per_s": 512.0, "loss": 1.0 - step / 100,
                   "learning_rate": 2e-5, "t": time.time()}, handle)
    os.replace(tmp, os.path.join(out, "progress.json"))
    time.sleep(1.0)
subprocess.run([sys.executable, sys.argv[2], out, "--checkpoints", "2", "--every-s", "0.3"],
               check=True)
'''


def test_progress_lines_and_status_while_training_runs(tmp_path: Path) -> None:
    script = tmp_path / "train_with_progress.py"
    script.write_text(TRAIN)
    directory = tmp_path / "search"
    infer = f"{PY} {BYO / 'fake_infer.py'} {{checkpoint}} --curve 40,55"
    log = tmp_path / "run.log"
    proc = start("run", "executor=local", f"search.dir={directory}", "search.target=99",
                 f"train.command='{PY} {script} {{output_dir}} {BYO / 'fake_train.py'}'",
                 f"infer.command='{infer}'", "executor.poll_interval_s=0.5",
                 "executor.max_poll_interval_s=1", "executor.fs_interval_s=0.2", "--plain",
                 log=log)
    try:
        wait_for(directory, lambda es: any(e["event"] == "job_state"
                                           and e["state"] == "RUNNING" for e in es), 60)
        deadline = time.monotonic() + 30
        status = ""
        while time.monotonic() < deadline and "trial 1: step" not in status:
            status = cli("status", str(directory)).stdout
            time.sleep(0.5)
        assert proc.wait(timeout=120) == 1, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert re.search(r"trial 1: step \d0/80 \(\d+ %\), 8 it/s, ETA \d+ s, loss 0\.\d+",
                     status), status
    assert re.search(r"^1 .* training RUNNING +\d0/80", status, re.MULTILINE), status
    lines = re.findall(r"trial 1: step (\d+)/80 \(\d+ %\), 8 it/s", log.read_text())
    # the first at once, then at most one every 15 s: the 8 s of progress give one line
    assert len(lines) == 1, log.read_text()
