"""`run --detach` with search.snapshot (on by default for SLURM) on the real cluster: the
controller's job runs the code frozen at the detach, not the checkout. A throw-away copy of
the project (and of the user's scripts) is detached from, its controller job held in the
queue while the copy is broken, then released: the search still reaches its target, and the
journal's code hash is that of the folder the job was told to run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from orchestrator import exit_codes
from orchestrator.common import snapshot
from tests.support.cli import ROOT, cli
from tests.support.journal import events, summary
from tests.support.searches import BYO, byo_overrides, search_dir

pytestmark = pytest.mark.slurm

MARKER = "the edited checkout ran"
BROKEN = f"import sys\nsys.exit({MARKER!r})\n"


def _project_copy(where: Path) -> Path:
    """The project's code and config, and the user's scripts, as a checkout to edit."""
    for name in snapshot.PACKAGES:
        shutil.copytree(ROOT / name, where / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(BYO, where / "mine", ignore=shutil.ignore_patterns("__pycache__"))
    return where


def _break(project: Path) -> None:
    """What a user's edits could do to the checkout while the controller waits."""
    for name in ("orchestrator/__main__.py", "orchestrator/engine/detach.py",
                 "mine/fake_train.py", "mine/fake_infer.py"):
        (project / name).write_text(BROKEN)
    (project / "conf" / "config.yaml").write_text("defaults: [nothing_here]\n")


def test_a_detached_controller_runs_the_frozen_code(slurm_cluster: object,
                                                     tmp_path: Path) -> None:
    project = _project_copy(tmp_path / "checkout")
    directory = search_dir(tmp_path)
    args = [a.replace(str(BYO), str(project / "mine")) for a in byo_overrides(directory)]
    # held in the queue (its children are not: SBATCH_HOLD is unset before the controller)
    env = {"PYTHONPATH": str(project), "SBATCH_HOLD": "1"}
    done = cli("run", *args, "executor.controller.setup=[unset SBATCH_HOLD]", "--detach",
               cwd=project, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    job = done.stdout.split("SLURM job ")[1].split()[0]
    frozen = [p for p in snapshot.folder(directory).iterdir() if not p.name.startswith(".")]
    assert len(frozen) == 1 and snapshot.current(directory) is None  # copied, not yet journaled
    scripts = "".join(p.read_text() for p in (directory / "jobs" / "controller").glob("*.sh"))
    assert f"PYTHONPATH={frozen[0].resolve()}" in scripts
    _break(project)
    subprocess.run(["scontrol", "release", job], check=True)
    watched = cli("watch", str(directory), "--plain", timeout=600)
    logs = "".join(p.read_text(errors="replace")
                   for p in (directory / "jobs" / "controller").glob(f"{job}_*_log.*"))
    assert watched.returncode == exit_codes.TARGET_REACHED, watched.stdout + logs[-3000:]
    assert MARKER not in logs
    assert summary(directory)["status"] == "target_reached"
    code = [e for e in events(directory) if e["event"] == "code_snapshot"]
    assert len(code) == 1 and Path(code[0]["dir"]) == frozen[0].resolve()
    assert code[0]["hash"] == snapshot.digest(snapshot.plan([], directory, frozen[0]))
    assert f"code: snapshot {code[0]['hash'][:12]}" in cli("status", str(directory)).stdout
