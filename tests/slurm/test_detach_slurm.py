"""`run --detach` on the real cluster: the controller as a SLURM job that completes the
search, resumes after scancel + --detach, comes back by itself after its time limit, and is
cancelled from outside; `ls`, `watch` and `status` follow it; its children ask SLURM for
their own resources, not the controller allocation's."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from orchestrator import exit_codes
from tests.support.cli import cli, start
from tests.support.journal import evaluations, events, submissions, summary, wait_for
from tests.support.searches import byo_overrides, search_dir
from tests.support.slurm import counting_path, sacct_jobs

pytestmark = pytest.mark.slurm

NEVER = "40,45,50,55,60,62,64,66,68,70,72,74"  # never reaches 80: runs until cancelled
LAST = "40,45,50,55,60,62,64,66,68,70,72,81"  # reaches 80 at the last checkpoint only
LAST_OF_SIX = "40,45,50,55,60,81"  # the same with 6 checkpoints


def _detach(args: list[str]) -> str:
    done = cli("run", *args, "--detach", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "orchestrator watch" in done.stdout
    return done.stdout.split("SLURM job ")[1].split()[0]


def _job_state(job_id: str) -> str:
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-j", job_id, "-o", "State"],
                         capture_output=True, text=True, check=False).stdout.splitlines()
    return out[-1].split()[0] if out and out[-1].strip() else ""  # "CANCELLED by 0"


def _wait_job_ended(job_id: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = _job_state(job_id)
        if state and state not in ("PENDING", "RUNNING", "REQUEUED", "COMPLETING"):
            return state
        time.sleep(1)
    raise AssertionError(f"job {job_id} still {_job_state(job_id)}")


def _no_duplicates(directory: Path) -> None:
    evs = events(directory)
    assert all(n == 1 for n in submissions(evs).values()), submissions(evs)
    assert all(n == 1 for n in evaluations(evs).values())


def _requested(job_id: str) -> dict[str, tuple[str, str]]:
    """sacct's (ReqCPUS, ReqMem) of the job and of each of its steps, by JobID."""
    out = subprocess.run(["sacct", "-n", "-P", "-j", job_id, "-o", "JobID,ReqCPUS,ReqMem"],
                         capture_output=True, text=True, check=False).stdout
    return {r.split("|")[0]: (r.split("|")[1], r.split("|")[2]) for r in out.splitlines()}


def test_a_detached_search_completes_with_the_controller_as_a_slurm_job(
        slurm_cluster: object, tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    # the controller's allocation (1 CPU, 2 GB) differs from its children's (training:
    # 2 CPUs, 1 GB; inference: 1 CPU, no memory asked): they must not inherit it
    args = [*byo_overrides(directory, every_s=1.5), "executor.controller.mem_gb=2",
            "executor.train.mem_gb=1"]
    job = _detach(args)
    # at once: the controller job waits in the queue or starts; never "not a search"
    early = cli("status", str(directory))
    assert early.returncode == exit_codes.RUNNING, early.stdout + early.stderr
    assert early.stdout.startswith(("status: starting", "status: running")), early.stdout
    assert f"slurm job {job}" in cli("ls", str(tmp_path)).stdout
    wait_for(directory, lambda evs: any(e["event"] == "submitted" for e in evs), timeout=120)
    assert cli("status", str(directory)).returncode == exit_codes.RUNNING
    second = cli("run", *args, "--plain", timeout=120)  # a second controller is refused
    assert second.returncode != 0 and f"SLURM job {job} (run --detach)" in second.stderr
    assert f"orchestrator watch {directory}" in second.stderr, second.stderr
    counting, calls = counting_path(tmp_path)  # every scheduler command watch might run
    watched = cli("watch", str(directory), "--plain", env=counting, timeout=600)
    assert watched.returncode == exit_codes.TARGET_REACHED, watched.stdout + watched.stderr
    assert "search ended: target_reached" in watched.stdout
    assert not calls.exists() or not calls.read_text().strip()  # files only: zero calls
    assert _wait_job_ended(job) == "COMPLETED"
    ours = sacct_jobs(directory.name)
    controller = [r for r in ours if r[1].endswith("-controller")]
    assert [r[0] for r in controller] == [job]
    holder = (directory / "controller.json").read_text()
    assert f'"slurm_job_id": "{job}"' in holder  # the controller ran inside that job
    _no_duplicates(directory)
    listed = cli("ls", str(tmp_path))
    assert listed.returncode == 0 and "target_reached" in listed.stdout
    assert cli("status", str(directory)).returncode == exit_codes.TARGET_REACHED
    train = next(r[0] for r in ours if "-train-" in r[1])
    infer = next(r[0] for r in ours if "-infer-" in r[1])
    assert _requested(train)[train] == ("2", "1G"), _requested(train)
    cpus, mem = _requested(infer)[infer]
    assert cpus == "1" and mem != "2G", _requested(infer)
    steps = {k: v for k, v in _requested(infer).items() if k.endswith(".0")}
    assert steps and all(c == "1" and m != "2G" for c, m in steps.values()), steps


def test_scancel_the_controller_then_detach_again_completes_without_duplicates(
        slurm_cluster: object, tmp_path: Path) -> None:
    directory = search_dir(tmp_path)
    # six checkpoints 3 s apart, the target met at the last, so the checkpoints after the
    # second evaluation are left to the second controller (twelve took 36 s)
    args = byo_overrides(directory, checkpoints=6, every_s=3, curve=LAST_OF_SIX)
    first = _detach(args)
    wait_for(directory, lambda evs: len(evaluations(evs)) >= 2, timeout=240)
    subprocess.run(["scancel", first], check=True)
    _wait_job_ended(first)
    time.sleep(2)
    assert cli("status", str(directory)).returncode == exit_codes.INTERRUPTED
    second = _detach(args)
    assert second != first
    again = _detach(args)  # a third --detach while it runs submits nothing
    assert again == second
    watched = cli("watch", str(directory), "--plain", timeout=600)
    assert watched.returncode == exit_codes.TARGET_REACHED, watched.stdout
    assert any(e["event"] == "resumed" for e in events(directory))
    _no_duplicates(directory)
    controllers = [r[0] for r in sacct_jobs(directory.name) if r[1].endswith("-controller")]
    assert sorted(controllers) == sorted([first, second])


@pytest.mark.reliability
def test_a_controller_job_with_a_2_minute_limit_comes_back_by_itself(
        slurm_cluster: object, tmp_path: Path) -> None:
    """Reliability tier (109 s in CI: the limit is waited out). CI keeps the scancel of the
    controller job then --detach again (above) and the requeued controller's lease and
    orphan rules (tests/unit/test_lease.py, test_orphans.py)."""
    directory = search_dir(tmp_path)
    # 90 s of training (6 checkpoints 15 s apart, 80 reached at the last): longer than the
    # controller's first run, which its signal (60 s before the limit, up to 60 s earlier:
    # SLURM's resolution) ends within 60 s, so the search needs the requeued controller
    args = [*byo_overrides(directory, checkpoints=6, every_s=15, curve=LAST_OF_SIX),
            "executor.controller.timeout_min=2", "executor.controller.signal_delay_s=60"]
    job = _detach(args)
    wait_for(directory, lambda evs: any(e["event"] == "submitted" for e in evs), timeout=120)
    watch = start("watch", str(directory), "--plain", log=tmp_path / "watch.log")
    codes = []  # status while it runs: 4 throughout, the requeued job waiting included
    while watch.poll() is None:
        codes.append(cli("status", str(directory)).returncode)
        time.sleep(3)
    assert watch.returncode == exit_codes.TARGET_REACHED, (tmp_path / "watch.log").read_text()
    # running until the search ends, then its end: `watch` can lag the end by a few polls
    end = exit_codes.TARGET_REACHED
    ended = codes.index(end) if end in codes else len(codes)
    assert set(codes[:ended]) == {exit_codes.RUNNING}, codes
    # after the end, RUNNING again only while a controller holds the ended search: the time
    # limit's signal can reach the job during its finish, and the requeued controller then
    # replays the ended search and finishes again (status says 4 while a controller finishes)
    assert set(codes[ended:]) <= {end, exit_codes.RUNNING}, codes
    assert summary(directory)["status"] == "target_reached"
    assert sum(e["event"] == "resumed" for e in events(directory)) >= 1
    _no_duplicates(directory)
    log = (directory / "jobs" / "controller" / f"{job}_0_log.err").read_text()
    assert "due to job requeue" in log.lower(), log[-2000:]  # the same job id, requeued
    assert _wait_job_ended(job) == "COMPLETED"
    assert cli("status", str(directory)).returncode == end  # the controller gone: the end


@pytest.mark.parametrize("alive", [True, False], ids=["live controller", "none alive"])
def test_cancel_a_detached_search(slurm_cluster: object, tmp_path: Path, alive: bool) -> None:
    directory = search_dir(tmp_path)
    job = _detach(byo_overrides(directory, every_s=3, curve=NEVER))
    wait_for(directory, lambda evs: len(evaluations(evs)) >= 1, timeout=240)
    if not alive:
        subprocess.run(["scancel", job], check=True)
        _wait_job_ended(job)
    done = cli("cancel", str(directory), timeout=300)
    assert done.returncode == exit_codes.CANCELLED, done.stdout + done.stderr
    assert summary(directory)["status"] == "cancelled"
    assert _wait_job_ended(job) == ("COMPLETED" if alive else "CANCELLED")
    train = [r for r in sacct_jobs(directory.name) if "-train-" in r[1]]
    assert train and all(_wait_job_ended(r[0]) == "CANCELLED" for r in train)
    assert cli("cancel", str(directory)).returncode == exit_codes.CANCELLED  # idempotent
