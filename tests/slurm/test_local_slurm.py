"""Tests of scripts/local-slurm against the real single-node cluster it brings up."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.slurm import LOCAL_SLURM, SlurmCluster, run

pytestmark = pytest.mark.slurm

DAEMONS = {
    "munged": "/run/munge/munged.pid",
    "mariadbd": "/run/mysqld/mysqld.pid",
    "slurmdbd": "/run/slurmdbd.pid",
    "slurmctld": "/run/slurmctld.pid",
    "slurmd": "/run/slurmd.pid",
}


def daemon_pids() -> dict[str, int | None]:
    """pid of each daemon from its pidfile, None unless /proc/PID/comm confirms it."""
    pids: dict[str, int | None] = {}
    for name, pidfile in DAEMONS.items():
        pid = None
        try:
            candidate = int(Path(pidfile).read_text().strip())
            if Path(f"/proc/{candidate}/comm").read_text().strip() == name:
                pid = candidate
        except (OSError, ValueError):
            pass
        pids[name] = pid
    return pids


def test_status_exits_0_after_up(slurm_cluster: SlurmCluster) -> None:
    proc = run([str(LOCAL_SLURM), "status"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for name in DAEMONS:
        assert f"{name}" in proc.stdout
    assert "not running" not in proc.stdout, proc.stdout
    assert "cluster usable" in proc.stdout
    assert slurm_cluster.node in proc.stdout  # sinfo's NODELIST


def test_partitions(slurm_cluster: SlurmCluster) -> None:
    assert slurm_cluster.default_partition == "debug"
    assert slurm_cluster.partitions[:2] == ("debug", "long")


@pytest.mark.skipif(os.geteuid() != 0, reason="`up` needs root")
def test_second_up_is_fast_and_restarts_nothing(slurm_cluster: SlurmCluster) -> None:
    before = daemon_pids()
    assert all(before.values()), f"a daemon is not running: {before}"
    t0 = time.monotonic()
    proc = run([str(LOCAL_SLURM), "up"])
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert elapsed < 5, f"second up took {elapsed:.1f}s:\n{proc.stdout}"
    assert daemon_pids() == before
    assert " started (pid" not in proc.stdout, proc.stdout
    assert "restarting" not in proc.stdout, proc.stdout


def test_sbatch_wrap_completes_in_sacct(slurm_cluster: SlurmCluster) -> None:
    job_id = slurm_cluster.sbatch(["--job-name=local-slurm-test", "--wrap", "true"])
    assert slurm_cluster.wait_for_state(job_id) == "COMPLETED"
    row = slurm_cluster.sacct(job_id, "State,Partition,ExitCode")
    assert row == ["COMPLETED", slurm_cluster.default_partition, "0:0"]


def test_long_partition_accepts_job(slurm_cluster: SlurmCluster) -> None:
    assert "long" in slurm_cluster.partitions
    job_id = slurm_cluster.sbatch(["-p", "long", "--job-name=local-slurm-test", "--wrap", "true"])
    assert slurm_cluster.wait_for_state(job_id) == "COMPLETED"
    assert slurm_cluster.sacct(job_id, "Partition") == ["long"]


def test_scancel_gives_cancelled(slurm_cluster: SlurmCluster) -> None:
    job_id = slurm_cluster.sbatch(["--job-name=local-slurm-test", "--wrap", "sleep 300"])
    try:
        deadline = time.monotonic() + 30
        while slurm_cluster.squeue_state(job_id) != "RUNNING":
            assert time.monotonic() < deadline, f"job {job_id} never started"
            time.sleep(0.1)
        proc = run(["scancel", job_id])
        assert proc.returncode == 0, proc.stderr
        assert slurm_cluster.wait_for_state(job_id, timeout=30) == "CANCELLED"
        # the full string carries the uid of whoever cancelled it: "CANCELLED by 0"
        assert (slurm_cluster.sacct(job_id) or [""])[0].startswith("CANCELLED")
    finally:
        run(["scancel", job_id])


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the script as another user")
def test_up_as_non_root_exits_3_with_one_line_reason() -> None:
    # a world-readable copy: the checkout itself may not be readable by `nobody`
    tmp = Path(tempfile.mkdtemp(prefix="local-slurm-"))
    try:
        tmp.chmod(0o755)
        script = tmp / "local-slurm"
        shutil.copy2(LOCAL_SLURM, script)
        script.chmod(0o755)
        proc = run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(script), "up"],
            timeout=30,
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "root" in lines[0], proc.stderr


# the accounts `up` creates (scripts/local-slurm): root's default, a second one root may use,
# and one that exists but is not root's
DEFAULT_ACCOUNT, SECOND_ACCOUNT, FORBIDDEN_ACCOUNT = "research", "teaching", "restricted"


@pytest.mark.skipif(os.geteuid() != 0, reason="the accounts are root's")
def test_accounts_are_enforced(slurm_cluster: SlurmCluster) -> None:
    plain = slurm_cluster.sbatch(["--job-name=local-slurm-test", "--wrap", "true"])
    second = slurm_cluster.sbatch(["--job-name=local-slurm-test", f"--account={SECOND_ACCOUNT}",
                                   "--wrap", "true"])
    for job_id, account in ((plain, DEFAULT_ACCOUNT), (second, SECOND_ACCOUNT)):
        assert slurm_cluster.wait_for_state(job_id) == "COMPLETED"
        assert slurm_cluster.sacct(job_id, "Account") == [account]
    for account in (FORBIDDEN_ACCOUNT, "nosuchaccount"):
        proc = run(["sbatch", "--output=/dev/null", f"--account={account}", "--wrap", "true"])
        assert proc.returncode != 0 and "Invalid account" in proc.stderr, proc.stderr
    proc = run(["sacctmgr", "-n", "-P", "show", "account", FORBIDDEN_ACCOUNT, "format=account"])
    assert proc.stdout.split() == [FORBIDDEN_ACCOUNT]  # it exists: root may just not use it
    proc = run(["sbatch", "--output=/dev/null", "--qos=nosuchqos", "--wrap", "true"])
    assert proc.returncode != 0 and "Invalid qos" in proc.stderr, proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="`up` needs root")
def test_up_on_a_cluster_running_an_older_config_brings_enforcement_back(
        slurm_cluster: SlurmCluster) -> None:
    """A machine where the cluster is up with the config of before accounts were enforced."""
    conf = Path("/etc/slurm/slurm.conf")
    text = conf.read_text()
    assert "\nAccountingStorageEnforce=associations,limits,qos\n" in text
    try:
        conf.write_text(text.replace("AccountingStorageEnforce=associations,limits,qos\n", ""))
        assert run(["scontrol", "reconfigure"]).returncode == 0
        run(["sacctmgr", "-i", "delete", "user", "root", f"account={SECOND_ACCOUNT}"])
        proc = run([str(LOCAL_SLURM), "up"], timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "restarting slurmctld" in proc.stdout, proc.stdout
        assert f"added user root to account {SECOND_ACCOUNT}" in proc.stdout, proc.stdout
    finally:
        if conf.read_text() != text:  # `up` failed: put the config back for the next tests
            conf.write_text(text)
            run([str(LOCAL_SLURM), "up"], timeout=300)
    config = run(["scontrol", "show", "config"]).stdout
    assert any(line.split("=")[0].strip() == "AccountingStorageEnforce"
               and "associations" in line for line in config.splitlines()), config
    job_id = slurm_cluster.sbatch(["--job-name=local-slurm-test", f"--account={SECOND_ACCOUNT}",
                                   "--wrap", "true"])
    assert slurm_cluster.wait_for_state(job_id) == "COMPLETED"
    proc = run(["sbatch", "--output=/dev/null", f"--account={FORBIDDEN_ACCOUNT}", "--wrap",
                "true"])
    assert proc.returncode != 0 and "Invalid account" in proc.stderr, proc.stderr
