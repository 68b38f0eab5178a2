"""Fixtures for tests that need the real local SLURM cluster (``scripts/local-slurm``).

Use the session-scoped ``slurm_cluster`` fixture in any test that talks to SLURM::

    pytestmark = pytest.mark.slurm

    def test_something(slurm_cluster):
        job_id = slurm_cluster.sbatch(["--wrap", "true"])
        assert slurm_cluster.wait_for_state(job_id) == "COMPLETED"

The cluster is left running after the session (bringing it up again costs ~1 s when it is
already up, and other sessions may be using it); stop it with ``scripts/local-slurm down``.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Container, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCAL_SLURM = REPO_ROOT / "scripts" / "local-slurm"

# `scripts/local-slurm up` exits 3 when this machine cannot host the cluster (not root, not
# Debian/apt); anything else non-zero is a real failure.
EXIT_UNSUPPORTED = 3
UP_TIMEOUT_S = 900  # a fresh install (apt-get update + 30 packages) takes ~15-20 s on a good mirror

# Job states after which a job will not change any more (sacct prints "CANCELLED by 0", so
# states are compared on their first word).
FINAL_STATES = frozenset(
    {
        "BOOT_FAIL",
        "CANCELLED",
        "COMPLETED",
        "DEADLINE",
        "FAILED",
        "NODE_FAIL",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "TIMEOUT",
    }
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _run(args: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)


@dataclass(frozen=True)
class SlurmCluster:
    """The running local cluster, as seen by ``sinfo`` after ``scripts/local-slurm up``.

    Attributes:
        node: the single node's name (``hostname -s``).
        default_partition: the partition jobs go to without ``-p`` (``debug``).
        partitions: every partition, default first (``("debug", "long")``).
        script: path of ``scripts/local-slurm``.
    """

    node: str
    default_partition: str
    partitions: tuple[str, ...]
    script: Path

    def sbatch(self, args: Sequence[str], output: str = "/dev/null") -> str:
        """Submit with ``sbatch --parsable`` and return the job id.

        ``output`` defaults to /dev/null so no ``slurm-<id>.out`` lands in the cwd.
        """
        proc = _run(["sbatch", "--parsable", f"--output={output}", *args])
        assert proc.returncode == 0, f"sbatch {list(args)} failed: {proc.stderr.strip()}"
        return proc.stdout.strip().split(";")[0]

    def sacct(self, job_id: str, fields: str = "State") -> list[str] | None:
        """The job allocation's sacct row split on ``|``, or None while sacct has no row yet.

        sacct lags slurmctld: a PENDING job can have no row for 3-5 s; never read "no row"
        as "lost".
        """
        proc = _run(["sacct", "-n", "-X", "-P", "-j", job_id, "-o", fields])
        if proc.returncode != 0 or not proc.stdout.strip():
            return None
        return proc.stdout.strip().splitlines()[0].split("|")

    def wait_for_state(
        self, job_id: str, states: Container[str] = FINAL_STATES, timeout: float = 60
    ) -> str:
        """Poll sacct until the job's state is in ``states`` and its row is complete; return
        the state's first word (``CANCELLED by 0`` gives ``CANCELLED``). Fails on timeout.

        "Complete" means Partition is filled in: for a job that ends within seconds, sacct
        first shows a placeholder row (JobName ``allocation``, empty Partition) that already
        has the final state, and the real record replaces it 1.5-5 s later.
        """
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            row = self.sacct(job_id, "State,Partition")
            state = row[0].split()[0] if row and row[0] else None
            if state is not None and state in states and row is not None and row[1]:
                return state
            time.sleep(0.2)
        pytest.fail(f"job {job_id} not in {states!r} after {timeout}s (last state: {state})")

    def squeue_state(self, job_id: str) -> str | None:
        """The job's state from squeue (cheap and current; empty once the job has left)."""
        proc = _run(["squeue", "-h", "-j", job_id, "-o", "%T"])
        out = proc.stdout.strip()
        return out or None


def _describe_cluster() -> SlurmCluster:
    parts = _run(["sinfo", "-h", "-o", "%P"]).stdout.split()
    default = next((p.rstrip("*") for p in parts if p.endswith("*")), parts[0] if parts else "")
    partitions = (default, *(p.rstrip("*") for p in parts if p.rstrip("*") != default))
    nodes = _run(["sinfo", "-h", "-N", "-o", "%N"]).stdout.split()
    return SlurmCluster(
        node=nodes[0] if nodes else "",
        default_partition=default,
        partitions=partitions,
        script=LOCAL_SLURM,
    )


@pytest.fixture(scope="session")
def slurm_cluster() -> SlurmCluster:
    """Make sure the local SLURM cluster is up (``scripts/local-slurm up``, once per session).

    - Cluster comes up: returns a :class:`SlurmCluster` (node name, partitions, helpers).
    - The script exits 3 (not root / not Debian): if a cluster is nevertheless usable
      (``scripts/local-slurm status`` exits 0, e.g. root started it and we run as a normal
      user) it is used; otherwise the test is skipped with the script's reason - or FAILS
      when ``CI=true``, so CI can never go green by skipping every SLURM test.
    - Any other failure (apt, a daemon that does not start, a timeout) fails the test with
      the script's output.
    """
    proc = _run([str(LOCAL_SLURM), "up"], timeout=UP_TIMEOUT_S)
    if proc.returncode == EXIT_UNSUPPORTED:
        reason = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "unsupported"
        if _run([str(LOCAL_SLURM), "status"]).returncode != 0:
            message = f"local SLURM cluster unavailable: {reason}"
            if _in_ci():
                pytest.fail(f"{message} (CI=true: SLURM tests must run, not skip)")
            pytest.skip(message)
    elif proc.returncode != 0:
        pytest.fail(
            f"scripts/local-slurm up failed (exit {proc.returncode}):\n"
            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return _describe_cluster()
