"""Helpers for whole searches on the real cluster: users' own scripts, call counting, sacct."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BYO = ROOT / "tests" / "fixtures" / "byo"
PY = sys.executable

# target first met at checkpoint 5 (in percent, as the users' script prints it)
CURVE = "40,55,62,70,81,83,84,86,85,87,88,88"
# only checkpoint 5 reaches 80: the deciding step cannot depend on which of two
# concurrent evaluations returns first
ONLY_FIFTH = "40,55,62,70,81,76,74,72,71,70,69,68"


def search_dir(tmp_path: Path) -> Path:
    """A search.dir with a unique name: job names (and so sacct queries) derive from it."""
    return tmp_path / f"s{uuid.uuid4().hex[:10]}"


def byo_overrides(directory: Path, *, checkpoints: int = 12, every_s: float = 1.0,
                  infer_args: str = "", target: float = 80.0, linger_s: float = 0,
                  curve: str = CURVE) -> list[str]:
    train = f"{PY} {BYO / 'fake_train.py'} {{output_dir}} --checkpoints {checkpoints} " \
            f"--every-s {every_s} --linger-s {linger_s}"
    infer = f"{PY} {BYO / 'fake_infer.py'} {{checkpoint}} --curve {curve} {infer_args}"
    return [
        "executor=slurm", f"search.dir={directory}", f"search.target={target}",
        f"train.command='{train}'", f"infer.command='{infer}'",
        "executor.poll_interval_s=1", "executor.max_poll_interval_s=2",
        "executor.fs_interval_s=0.2", "search.drain_timeout_s=30",
    ]


def counting_path(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose PATH logs every sacct/squeue/scontrol/sbatch/scancel call."""
    bin_dir = tmp_path / "counting-bin"
    bin_dir.mkdir()
    log = tmp_path / "scheduler-calls.log"
    for name in ("sacct", "squeue", "scontrol", "sbatch", "scancel"):
        real = which(name)
        script = bin_dir / name
        script.write_text(
            "#!/bin/sh\n"
            f'echo "$(date +%s.%N) {name} $*" >> "{log}"\n'
            f'exec "{real}" "$@"\n'
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}
    return env, log


def which(name: str) -> str:
    for folder in os.environ["PATH"].split(os.pathsep):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise FileNotFoundError(name)


def sacct_jobs(name_prefix: str) -> list[tuple[str, str, str, str]]:
    """(job id, name, state, partition) of every job whose name starts with the prefix."""
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", "now-3hours", "-o", "JobID,JobName%80,State,Partition"],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = [tuple(line.split("|")) for line in out.splitlines() if line.strip()]
    return [(r[0], r[1], r[2].split()[0], r[3]) for r in rows if r[1].startswith(name_prefix)]
