"""Scheduler commands for the tests: the local cluster (``scripts/local-slurm``), sacct and
squeue views of one search's jobs, and PATH wrappers that log every scheduler call (to the
real command, or to nothing at all).

The bench's and the fault tests' helpers (bench.cluster: slurmtools, faults) serve scripts/
as well, so they live outside tests/; this module builds on them rather than repeating them.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Container, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.cluster.slurmtools import FINAL_STATES, SCHED_COMMANDS, make_counter, sacct_since

ROOT = Path(__file__).resolve().parents[2]
LOCAL_SLURM = ROOT / "scripts" / "local-slurm"


def run(args: Sequence[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """One command, its output captured; never raises on a non-zero exit."""
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
        proc = run(["sbatch", "--parsable", f"--output={output}", *args])
        assert proc.returncode == 0, f"sbatch {list(args)} failed: {proc.stderr.strip()}"
        return proc.stdout.strip().split(";")[0]

    def sacct(self, job_id: str, fields: str = "State") -> list[str] | None:
        """The job allocation's sacct row split on ``|``, or None while sacct has no row yet.

        sacct lags slurmctld: a PENDING job can have no row for 3-5 s; never read "no row"
        as "lost".
        """
        return sacct_row(job_id, fields)

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
        proc = run(["squeue", "-h", "-j", job_id, "-o", "%T"])
        out = proc.stdout.strip()
        return out or None


def describe_cluster() -> SlurmCluster:
    """The running cluster's node and partitions, from sinfo."""
    parts = run(["sinfo", "-h", "-o", "%P"]).stdout.split()
    default = next((p.rstrip("*") for p in parts if p.endswith("*")), parts[0] if parts else "")
    partitions = (default, *(p.rstrip("*") for p in parts if p.rstrip("*") != default))
    # the default partition's node: the namespaced nodes n1..n3 sort before it in `sinfo -N`
    nodes = run(["sinfo", "-h", "-N", "-p", default, "-o", "%N"]).stdout.split()
    return SlurmCluster(
        node=nodes[0] if nodes else "",
        default_partition=default,
        partitions=partitions,
        script=LOCAL_SLURM,
    )


def sacct_row(job_id: str, fields: str = "State") -> list[str] | None:
    """The job allocation's sacct row split on ``|``, or None while sacct has no row."""
    proc = run(["sacct", "-n", "-X", "-P", "-j", job_id, "-o", fields])
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    return proc.stdout.strip().splitlines()[0].split("|")


def job_state(job_id: str) -> str:
    """The first word of the job's sacct state ("" while sacct has no row)."""
    row = sacct_row(job_id)
    return row[0].split()[0] if row and row[0].split() else ""


def sacct_jobs(name_prefix: str) -> list[tuple[str, str, str, str]]:
    """(job id, name, state, partition) of every job of the last 3 hours whose name starts
    with the prefix."""
    return [(r.job_id, r.name, r.state, r.partition)
            for r in sacct_since(time.time() - 3 * 3600) if r.name.startswith(name_prefix)]


def counting_path(folder: Path) -> tuple[dict[str, str], Path]:
    """An environment whose PATH logs every sacct/squeue/scontrol/sbatch/scancel call (one
    `<unix time> <command> <args>` line each, in the log returned) and runs the real one."""
    counter = make_counter(folder / "counting")
    return {"PATH": f"{counter.bin_dir}{os.pathsep}{os.environ['PATH']}"}, counter.log


def fake_scheduler(folder: Path, first: str = "") -> tuple[dict[str, str], Path]:
    """A PATH where sbatch/scancel/sacct/squeue/scontrol only log that they were called
    (`<command> <args>`) and fail; `first`: shell lines each of them runs before that."""
    bin_dir = folder / "fake-scheduler"
    bin_dir.mkdir(parents=True, exist_ok=True)
    log = folder / "scheduler-calls.log"
    for name in SCHED_COMMANDS:
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\n{first}echo "{name} $*" >> "{log}"\nexit 1\n')
        script.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}, log
