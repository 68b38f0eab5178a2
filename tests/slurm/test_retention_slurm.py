"""search.keep on the real cluster: kill -9 the controller in the middle of a deletion."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from orchestrator.common.checkpoints import is_complete
from tests.support.cli import PY, cli, start
from tests.support.journal import evaluations, events, submissions
from tests.support.retention import check_kept
from tests.support.searches import BYO, byo_overrides, search_dir

pytestmark = pytest.mark.slurm

FILES = 20_000 + 4  # shards, weights, optimizer, RNG state, trainer_state.json


def _mid_deletion(directory: Path, timeout: float = 300) -> dict[str, object]:
    """Poll the journal fast until a deletion is journaled as intended but not as done;
    that intent. Each checkpoint holds 20,000 files, so removing one takes a while."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        evs = events(directory)
        done = {(e["trial"], e["step"]) for e in evs if e["event"] == "deleted"}
        for e in evs:
            if e["event"] == "delete_intent" and e["what"] == "all" \
                    and (e["trial"], e["step"]) not in done:
                return e
        time.sleep(0.01)
    raise AssertionError(f"no deletion seen in flight in {directory}")


def test_kill_9_during_a_deletion_then_resume_finishes_it(slurm_cluster: object,
                                                         tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    overrides = byo_overrides(directory, checkpoints=6, every_s=0.5, target=99.0,
                              curve="40,55,62,70,72,74")
    train = (f"train.command='{PY} {BYO / 'fake_train.py'} {{output_dir}} --checkpoints 6 "
             f"--every-s 0.5 --extra-files 20000 --optimizer-bytes 100000'")
    overrides = [train if o.startswith("train.command=") else o for o in overrides]
    proc = start("run", *overrides, "--plain", log=tmp_path / "first.log")
    try:
        intent = _mid_deletion(directory)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    path = Path(str(intent["path"]))
    # killed before the first step (untouched: complete, every file there) or after it
    # (half-deleted: never complete, so no resume or scan takes it for a checkpoint)
    untouched = path.exists() and len(list(path.iterdir())) == FILES
    print(f"killed with {intent['path']} {'untouched' if untouched else 'half-deleted'}")
    assert untouched or not path.exists() or not is_complete(path)

    again = cli("run", *overrides, "--plain", timeout=600)
    assert again.returncode == 1, again.stdout + again.stderr  # 99 % is out of reach
    evs = events(directory)
    resumed = next(i for i, e in enumerate(evs) if e["event"] == "resumed")
    finished = [e for e in evs[resumed:] if e["event"] == "deleted"
                and (e["trial"], e["step"]) == (intent["trial"], intent["step"])]
    assert len(finished) == 1 and not path.exists()
    assert all(n == 1 for n in submissions(evs).values())  # nothing submitted twice
    assert all(n == 1 for n in evaluations(evs).values())  # nothing evaluated twice
    check_kept(directory)
