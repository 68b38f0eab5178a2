"""The exit statuses that need a whole (fast) search: 2 when the scheduler refuses the
search's very first submission (nothing ever ran), 3 when the search failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator import exit_codes
from tests.support import badkit as bk
from tests.support.cli import cli
from tests.support.journal import summary
from tests.support.slurm import fake_scheduler

pytestmark = pytest.mark.e2e

REFUSED = "sbatch: error: Batch job submission failed: Invalid account or account/partition " \
          "combination specified"


@pytest.mark.parametrize("test_only_passes", [True, False], ids=["at-submission", "at-admission"])
def test_a_refused_first_submission_is_a_usage_error(tmp_path: Path,
                                                     test_only_passes: bool) -> None:
    """sbatch refuses (a wrong account): exit 2 with sbatch's reason, nothing submitted.
    Usually `sbatch --test-only` (orchestrator/config/admission.py) already refuses it, naming the
    key; when it lets the job through, the refused first submission is still a usage error."""
    accept = 'if [ "$1" = --test-only ]; then exit 0; fi\n' if test_only_passes else ""
    env, _ = fake_scheduler(tmp_path, first=f'{accept}echo "{REFUSED}" >&2\n')
    directory = tmp_path / "s"
    done = cli("run", "executor=slurm", "search.target=0.8", f"search.dir={directory}",
               "executor.train.account=nope", "--plain", env=env, timeout=120)
    assert done.returncode == exit_codes.USAGE, done.stdout + done.stderr
    if test_only_passes:
        error = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
        assert len(error) == 1, done.stderr
        assert "Invalid account" in error[0] and "nothing was submitted" in error[0], error
    else:
        assert "executor.train.account=nope: SLURM refuses it (Invalid account" in done.stderr
        assert not directory.exists(), "nothing journaled: no folder left for ls to list"


def test_a_failed_search_exits_3(tmp_path: Path) -> None:
    """Every training job fails (no retries): the search failed, exit 3, not 1."""
    directory = tmp_path / "s"
    done = cli(*bk.search(directory, train=f"{bk.PY} -c 'import sys; sys.exit(7)'"),
               timeout=240)
    assert done.returncode == exit_codes.FAILED, done.stdout + done.stderr
    assert summary(directory)["status"] == "failed"
