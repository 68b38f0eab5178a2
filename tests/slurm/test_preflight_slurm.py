"""Before anything is submitted, slurmctld is asked (`sbatch --test-only`) whether it would
accept the jobs; on the local cluster, which enforces accounts as real clusters do:
root's default account is `research`, it may also use `teaching`, and `restricted` exists but
is not root's (scripts/local-slurm)."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from bench.cluster import daemons
from bench.cluster import faults as fk
from tests.support.cli import cli, start
from tests.support.journal import summary, wait_for
from tests.support.searches import byo_overrides, search_dir
from tests.support.slurm import counting_path

pytestmark = pytest.mark.slurm

SECOND_ACCOUNT = "teaching"
FORBIDDEN_ACCOUNT = "restricted"


def accounts(name_prefix: str) -> dict[str, str]:
    """Job name -> the account sacct has for it, for this search's jobs."""
    out = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", "now-3hours", "-o", "JobName%80,Account"],
        capture_output=True, text=True, check=True, timeout=60).stdout
    rows = [line.split("|") for line in out.splitlines() if line.strip()]
    return {r[0]: r[1] for r in rows if r[0].startswith(name_prefix)}


def test_every_refusal_at_once_and_nothing_submitted(slurm_cluster: object,
                                                     tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    env, log = counting_path(tmp_path)
    done = cli("run", *byo_overrides(directory), "executor.train.partition=nope",
               f"executor.account={FORBIDDEN_ACCOUNT}", "executor.infer.qos=nope",
               "--plain", env=env, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    err = done.stderr
    assert "executor.train.partition=nope: SLURM refuses it (Invalid partition" in err
    # the shared account is refused for both kinds of job: said once, under its own key
    assert err.count(f"executor.account={FORBIDDEN_ACCOUNT}: SLURM refuses it (Invalid "
                     "account") == 1, err
    assert "sacctmgr show assoc user=$USER" in err
    assert "executor.infer.qos=nope: SLURM refuses it (Invalid qos" in err
    assert "Traceback" not in err
    calls = [line.split()[1:] for line in log.read_text().splitlines()]
    assert calls and all(c[:2] == ["sbatch", "--test-only"] for c in calls), calls
    time.sleep(2)  # sacct lags slurmctld: a job would have a row by now
    assert accounts(directory.name) == {}
    assert not directory.exists(), "nothing was journaled: no folder for `ls` to list"


def test_a_refused_per_kind_account_is_named_with_its_kind(slurm_cluster: object,
                                                           tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    done = cli("run", *byo_overrides(directory), "executor.infer.account=nope", "--plain",
               timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "executor.infer.account=nope: SLURM refuses it" in done.stderr
    assert "executor.train" not in done.stderr


def test_the_second_account_is_used_by_every_job(slurm_cluster: object,
                                                 tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    done = cli("run", *byo_overrides(directory, checkpoints=6, every_s=0.5),
               f"executor.account={SECOND_ACCOUNT}", "--plain", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary(directory)["status"] == "target_reached"
    # sacct lags: wait until every job the search journaled has its row
    deadline = time.monotonic() + 30
    while True:
        seen = accounts(directory.name)
        kinds = {("-train-" in n, "-infer-" in n) for n in seen}
        if ((True, False) in kinds and (False, True) in kinds) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert seen and set(seen.values()) == {SECOND_ACCOUNT}, seen
    assert any("-infer-" in name for name in seen), seen


def test_a_resume_is_not_blocked_while_slurmctld_does_not_answer(slurm_cluster: object,
                                                                 tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    args = ["run", *byo_overrides(directory, checkpoints=8, every_s=3.0), "--plain"]
    first = start(*args, log=tmp_path / "first.log")
    try:
        wait_for(directory, lambda evs: any(e["event"] == "evaluation" for e in evs),
                 timeout=180)
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=60) == 130, (tmp_path / "first.log").read_text()
    finally:
        if first.poll() is None:
            first.kill()
    with daemons.cluster_restored():
        daemons.stop_daemon("slurmctld", signal.SIGTERM)
        rerun = start(*args, log=tmp_path / "rerun.log")
        try:
            fk.wait_for(lambda: "warning: cannot ask the scheduler"
                        in (tmp_path / "rerun.log").read_text(), 120, "the preflight warning")
            assert rerun.poll() is None, (tmp_path / "rerun.log").read_text()
        except BaseException:
            rerun.kill()
            raise
    try:
        code = rerun.wait(timeout=300)
    finally:
        if rerun.poll() is None:
            rerun.kill()
        fk.cancel_leftovers(directory)
    output = (tmp_path / "rerun.log").read_text()
    assert code == 0, output[-3000:]
    assert "SLURM refuses" not in output
    assert summary(directory)["status"] == "target_reached"
