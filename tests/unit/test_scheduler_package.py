"""The scheduler package (orchestrator/scheduler/): the only code that imports submitit,
backends chosen by name, and a dry-run built by the same executor builder a submission uses."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.config.settings import JobResources
from orchestrator.errors import SchedulerUnavailable
from orchestrator.model.transitions import JobKind
from orchestrator.scheduler import BACKENDS, make_scheduler
from orchestrator.scheduler.commands import Commands
from orchestrator.scheduler.interface import JobRequest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "orchestrator" / "scheduler"


def _imported(path: Path) -> set[str]:
    """Every module named by an import statement of `path`, anywhere in it (lazy too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_only_the_scheduler_package_imports_submitit() -> None:
    outside = [path for top in ("orchestrator", "jobs") for path in (ROOT / top).rglob("*.py")
               if PACKAGE not in path.parents]
    assert len(outside) > 10  # the scan sees the code
    offenders = [str(path.relative_to(ROOT)) for path in outside
                 if any(name == "submitit" or name.startswith("submitit.")
                        for name in _imported(path))]
    assert offenders == [], f"submitit imported outside orchestrator/scheduler/: {offenders}"


def test_importing_the_package_imports_no_backend() -> None:
    code = ("import sys, orchestrator.scheduler\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'submitit'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


def test_each_executor_name_has_its_backend() -> None:
    for cluster in BACKENDS:
        backend = make_scheduler(cluster, interactive=False)
        assert type(backend).__module__ == f"orchestrator.scheduler.{cluster}"
    with pytest.raises(ValueError, match="unknown executor 'pbs'"):
        make_scheduler("pbs")


def test_the_dry_run_is_the_submitted_script(tmp_path: Path) -> None:
    """render() and submit() share one executor builder: the rendered script carries every
    sbatch option of the parameters a submission sets, and creates no folder."""
    backend = make_scheduler("slurm", interactive=False)
    request = JobRequest(key="train-t001-a0", kind=JobKind.TRAIN, name="s-train-t001-a0",
                         folder=tmp_path / "jobs" / "train-t001-a0",
                         resources=JobResources(partition="gpu", timeout_min=7),
                         target="jobs.train:run")
    script = backend.render(request)
    assert not request.folder.exists()
    assert "#SBATCH --job-name=s-train-t001-a0" in script
    assert "#SBATCH --partition=gpu" in script and "#SBATCH --time=7" in script


def test_commands_count_calls_and_say_unavailable_when_nothing_answers(
        tmp_path: Path) -> None:
    commands = Commands()
    script = tmp_path / "sacct"
    script.write_text("#!/bin/sh\necho 'sacct: error: Unable to contact slurm controller' >&2\n"
                      "exit 1\n")
    script.chmod(0o755)
    with pytest.raises(SchedulerUnavailable, match="Unable to contact"):
        commands.run([str(script)])
    assert commands.run(["true"]).returncode == 0
    with pytest.raises(SchedulerUnavailable, match="no_such_program_here"):
        commands.run(["no_such_program_here"])
    assert commands.calls == {str(script): 1, "true": 1, "no_such_program_here": 1}
