"""Paths with spaces, quotes and `$(...)` work and execute nothing; secrets stay out of
every file the controller writes; nothing it writes is world-writable."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from tests.support.cli import ROOT, cli
from tests.support.journal import summary

pytestmark = pytest.mark.e2e

BYO = ROOT / "tests" / "fixtures" / "byo"
SECRET = "hf_SECRETtoken1234567890"


def test_hostile_search_dir_and_arguments(tmp_path: Path) -> None:
    directory = tmp_path / "my runs" / "it's $(touch pwned) `touch pwned2` ; touch pwned3"
    curve = "40,55,81"
    train = f"{sys.executable} {BYO / 'fake_train.py'} {{output_dir}} --checkpoints 3 " \
            "--every-s 0.5"
    infer = f"{sys.executable} {BYO / 'fake_infer.py'} {{checkpoint}} --curve {curve} " \
            "--note '$(touch pwned4); `touch pwned5` \\\" x'"
    # Hydra's override grammar wants a quoted value for these characters, as a user would type
    done = cli("run", "executor=local", f'search.dir="{directory}"', "search.target=80",
               f"train.command='{train}'", f"infer.command=\"{infer}\"", "--plain",
               env={"HF_TOKEN": SECRET, "WANDB_API_KEY": SECRET}, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary(directory)["status"] == "target_reached"
    assert (directory / "best" / "trainer_state.json").exists()
    out = Path(summary(directory)["evaluations"][0]["result"]).read_text()
    assert "note: $(touch pwned4); `touch pwned5`" in out  # passed through, inert
    for name in ("pwned", "pwned2", "pwned3", "pwned4", "pwned5"):
        assert not list(tmp_path.rglob(name)), name
        assert not (ROOT / name).exists(), name
    for path in directory.rglob("*"):
        mode = path.lstat().st_mode
        assert not mode & stat.S_IWOTH, f"{path} is world-writable"
        if path.is_file() and path.suffix in (".jsonl", ".json", ".md", ".sh", ".out", ".err"):
            assert SECRET not in path.read_text(errors="replace"), path
    assert SECRET not in done.stdout + done.stderr
    assert os.environ.get("HF_TOKEN") != SECRET  # the test itself did not leak it either
