"""What we write into sbatch and srun options: `--mem` in a unit sbatch accepts, and
--kill-on-bad-exit for a job of several tasks (tests/slurm/test_sbatch_options_slurm.py
checks both on the real sbatch)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator.cli.main import main
from orchestrator.config.settings import JobResources
from orchestrator.scheduler.sbatch_values import KILL_ON_BAD_EXIT, mem_option, srun_args


@pytest.mark.parametrize(("mem_gb", "option"), [
    (0, None), (1, "1GB"), (2.0, "2GB"), (1.5, "1536M"), (0.5, "512M"),
    (0.488281, "500M"),  # what `executor.train.mem=500M` says to write
    (500 / 1024, "500M"), (0.0001, "1M"), (2.0001, "2049M"),
])
def test_memory_is_asked_for_in_whole_units(mem_gb: float, option: str | None) -> None:
    assert mem_option(mem_gb) == option


ONE = JobResources()


@pytest.mark.parametrize(("resources", "args"), [
    (ONE, []),
    (replace(ONE, srun_args=("--cpu-bind=none",)), ["--cpu-bind=none"]),
    (replace(ONE, tasks_per_node=2), [KILL_ON_BAD_EXIT]),
    (replace(ONE, nodes=2), [KILL_ON_BAD_EXIT]),
    (replace(ONE, nodes=2, tasks_per_node=4, srun_args=("--cpu-bind=none",)),
     ["--cpu-bind=none", KILL_ON_BAD_EXIT]),
    # the user's own choice stands
    (replace(ONE, tasks_per_node=2, srun_args=("--kill-on-bad-exit=0",)),
     ["--kill-on-bad-exit=0"]),
    (replace(ONE, tasks_per_node=2, srun_args=("-K0",)), ["-K0"]),
])
def test_a_job_of_several_tasks_ends_when_one_rank_fails(resources: JobResources,
                                                         args: list[str]) -> None:
    assert srun_args(resources) == args


def test_the_dry_run_shows_both(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--dry-run", "executor=slurm", "search.target=0.8",
                 f"search.dir={tmp_path / 's'}", "executor.train.tasks_per_node=2",
                 "executor.train.mem_gb=1.5"]) == 0
    train = capsys.readouterr().out.split("# ----")[1]
    assert "#SBATCH --mem=1536M" in train
    assert "--kill-on-bad-exit=1" in next(ln for ln in train.splitlines()
                                          if ln.startswith("srun "))
