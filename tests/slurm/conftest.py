"""Fixtures for tests that need the real local SLURM cluster (``scripts/local-slurm``).

Use the session-scoped ``slurm_cluster`` fixture in any test that talks to SLURM::

    pytestmark = pytest.mark.slurm

    def test_something(slurm_cluster):
        job_id = slurm_cluster.sbatch(["--wrap", "true"])
        assert slurm_cluster.wait_for_state(job_id) == "COMPLETED"

The cluster is left running after the session (bringing it up again costs ~1 s when it is
already up, and other sessions may be using it); stop it with ``scripts/local-slurm down``.

``tiny_search`` is the tiny BERT's search to its target on SLURM, run once for the session
and read by two files (test_executor_python_slurm.py, test_placement_slurm.py), so the suite
trains it once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import controller_venv
from tests.support.cli import ROOT
from tests.support.searches import JOBS_PYTHON_ENV, TINY_TO_TARGET, TinySearch, search_dir
from tests.support.slurm import LOCAL_SLURM, SlurmCluster, describe_cluster, run

# `scripts/local-slurm up` exits 3 when this machine cannot host the cluster (not root, not
# Debian/apt); anything else non-zero is a real failure.
EXIT_UNSUPPORTED = 3
UP_TIMEOUT_S = 900  # a fresh install (apt-get update + 30 packages) takes ~15-20 s on a good mirror


# a controller interpreter that is already there (set by scripts/slurm-release)
CONTROLLER_PYTHON_ENV = "ORCHESTRATOR_TEST_CONTROLLER_PYTHON"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


@pytest.fixture(scope="session")
def slurm_cluster() -> SlurmCluster:
    """Make sure the local SLURM cluster is up (``scripts/local-slurm up``, once per session).

    - Cluster comes up: returns a :class:`tests.support.slurm.SlurmCluster` (node name,
      partitions, helpers).
    - The script exits 3 (not root / not Debian): if a cluster is nevertheless usable
      (``scripts/local-slurm status`` exits 0, e.g. root started it and we run as a normal
      user) it is used; otherwise the test is skipped with the script's reason - or FAILS
      when ``CI=true``, so CI can never go green by skipping every SLURM test.
    - Any other failure (apt, a daemon that does not start, a timeout) fails the test with
      the script's output.
    """
    proc = run([str(LOCAL_SLURM), "up"], timeout=UP_TIMEOUT_S)
    if proc.returncode == EXIT_UNSUPPORTED:
        reason = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "unsupported"
        if run([str(LOCAL_SLURM), "status"]).returncode != 0:
            message = f"local SLURM cluster unavailable: {reason}"
            if _in_ci():
                pytest.fail(f"{message} (CI=true: SLURM tests must run, not skip)")
            pytest.skip(message)
    elif proc.returncode != 0:
        pytest.fail(
            f"scripts/local-slurm up failed (exit {proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return describe_cluster()


@pytest.fixture(scope="session")
def controller_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a fresh venv holding the controller and its declared dependencies
    only, no torch (tests/support/controller_venv.py: linked from this session's, ~1 s), or
    the one ``ORCHESTRATOR_TEST_CONTROLLER_PYTHON`` names: scripts/slurm-release's
    /opt/orchestrator-venv is exactly that venv (the controller's dependencies, no torch; the
    checkout comes from PYTHONPATH)."""
    given = os.environ.get(CONTROLLER_PYTHON_ENV)
    if given:
        assert Path(given).is_file(), f"{CONTROLLER_PYTHON_ENV}={given}: no such interpreter"
        return Path(given)
    return controller_venv.build(tmp_path_factory.mktemp("controller-venv") / "venv", ROOT)


@pytest.fixture(scope="session")
def tiny_search(slurm_cluster: SlurmCluster, controller_python: Path,
                tmp_path_factory: pytest.TempPathFactory) -> TinySearch:
    """Run once for the session: test_executor_python_slurm.py checks it, and
    test_placement_slurm.py compares the same search with a worker job to it."""
    # this session's interpreter (the repo's .venv, with torch), or the one scripts/slurm-release
    # names: its pytest runs on Debian 13's Python 3.13, which has no torch
    jobs_python = os.environ.get(JOBS_PYTHON_ENV) or sys.executable
    # the jobs import orchestrator (submitit unpickles its entry point) from this checkout
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    directory = search_dir(tmp_path_factory.mktemp("tiny"))
    done = subprocess.run(
        [str(controller_python), "-m", "orchestrator", "run", "executor=slurm",
         *TINY_TO_TARGET, f"search.dir={directory}", f"executor.python={jobs_python}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False,
        stdin=subprocess.DEVNULL)
    return TinySearch(directory, done, controller_python, jobs_python)
