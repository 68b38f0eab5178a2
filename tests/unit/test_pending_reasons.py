"""Why a pending SLURM job waits: sacct's Reason where slurmdbd has one, else squeue's, from
one batched squeue call per poll for the pending jobs sacct left unexplained."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from orchestrator.errors import SchedulerUnavailable
from orchestrator.model.transitions import JobState
from orchestrator.scheduler import JobRef
from orchestrator.scheduler.slurm import SlurmScheduler
from orchestrator.scheduler.slurm_parse import merge_reasons, parse_squeue_reasons

FIXTURES = Path(__file__).parent.parent / "fixtures"
SACCT_REASONS = (FIXTURES / "sacct_reasons.txt").read_text()
SQUEUE_REASONS = (FIXTURES / "squeue_reasons.txt").read_text()


def test_recorded_squeue_reasons_are_read_and_none_is_no_reason() -> None:
    assert parse_squeue_reasons(SQUEUE_REASONS) == {
        "63": "Priority", "67": "Resources", "69": "Dependency",
        "70": "QOSMaxCpuPerUserLimit"}
    # padding (-O style), blank lines and lines without a "|" are no rows
    assert parse_squeue_reasons("  71 | Resources  \n\nslurm_load_jobs error\n") == {
        "71": "Resources"}


@pytest.mark.parametrize(("sacct", "squeue", "merged"), [
    ({"1": ""}, {"1": "Resources"}, {"1": "Resources"}),  # 22.05: sacct says None
    ({"1": "BeginTime"}, {"1": "Priority"}, {"1": "BeginTime"}),  # sacct's word stands
    ({"1": ""}, {}, {}),  # squeue failed or forgot it: no reason, no guess
    ({"1": ""}, {"1": "Resources", "2": "Priority"}, {"1": "Resources"}),  # only sacct's
], ids=["squeue-fills", "sacct-kept", "none", "only-pending"])
def test_squeue_fills_only_the_reasons_sacct_left_empty(
        sacct: dict[str, str], squeue: dict[str, str], merged: dict[str, str]) -> None:
    assert merge_reasons(sacct, squeue) == merged


class _Commands:
    """Canned answers to sacct and squeue, with what was asked."""

    def __init__(self, sacct: str, squeue: str | Exception, squeue_rc: int = 0,
                 stderr: str = "") -> None:
        self.sacct, self.squeue, self.squeue_rc, self.stderr = sacct, squeue, squeue_rc, stderr
        self.calls: Counter[str] = Counter()
        self.argv: list[list[str]] = []
        self.envs: list[Mapping[str, str] | None] = []

    def output(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        self.calls[argv[0]] += 1
        self.argv.append(list(argv))
        return self.sacct

    def run(self, argv: Sequence[str], stdin: str | None = None,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        self.calls[argv[0]] += 1
        self.argv.append(list(argv))
        self.envs.append(env)
        if isinstance(self.squeue, Exception):
            raise self.squeue
        return subprocess.CompletedProcess(list(argv), self.squeue_rc, self.squeue, self.stderr)


def _poll(commands: _Commands, tmp_path: Path, ids: Sequence[str] = ("61", "62", "63", "64")
          ) -> tuple[dict[str, JobState], dict[str, str]]:
    backend = SlurmScheduler(interactive=False)
    backend.commands = commands  # type: ignore[assignment]
    polled = backend.poll([JobRef(i, tmp_path) for i in ids])
    return dict(polled), polled.reasons


def test_one_squeue_call_for_the_unexplained_pending_jobs_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQUEUE_FORMAT", "%T")
    monkeypatch.setenv("SQUEUE_FORMAT2", "JobID,State")
    commands = _Commands(SACCT_REASONS, SQUEUE_REASONS)
    states, reasons = _poll(commands, tmp_path)
    assert commands.calls == {"sacct": 1, "squeue": 1}
    # 61 (Resources) and 62 (JobHeldUser) have sacct's reason; 64 runs: only 63 is asked
    assert commands.argv[1] == ["squeue", "--noheader", "--jobs=63", "--format=%i|%r"]
    env = commands.envs[0]
    assert env is not None and "SQUEUE_FORMAT" not in env and "SQUEUE_FORMAT2" not in env
    assert env.get("PATH")  # the rest of the environment is passed on
    assert states["63"] is JobState.PENDING and states["64"] is JobState.RUNNING
    assert reasons == {"61": "Resources", "62": "JobHeldUser", "63": "Priority"}


def test_no_squeue_call_when_nothing_pends_without_a_reason(tmp_path: Path) -> None:
    commands = _Commands(SACCT_REASONS, SQUEUE_REASONS)
    _, reasons = _poll(commands, tmp_path, ids=("61", "62", "64", "65"))
    assert commands.calls == {"sacct": 1}
    assert reasons == {"61": "Resources", "62": "JobHeldUser"}


@pytest.mark.parametrize(("answer", "rc", "stderr", "warned"), [
    ("", 1, "squeue: error: Invalid user: nobody", True),
    (SchedulerUnavailable("squeue: Socket timed out on send/recv operation"), 1, "", True),
    ("", 1, "slurm_load_jobs error: Invalid job id specified", False),  # all gone since
], ids=["error", "unavailable", "gone"])
def test_a_failed_squeue_is_a_warning_and_the_states_stand(
        answer: str | Exception, rc: int, stderr: str, warned: bool, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    commands = _Commands(SACCT_REASONS, answer, rc, stderr)
    states, reasons = _poll(commands, tmp_path)
    assert commands.calls == {"sacct": 1, "squeue": 1}
    assert states == {"61": JobState.PENDING, "62": JobState.PENDING,
                      "63": JobState.PENDING, "64": JobState.RUNNING}
    assert reasons == {"61": "Resources", "62": "JobHeldUser"}
    err = capsys.readouterr().err
    assert ("warning: squeue failed" in err) == warned, err


def test_squeue_is_asked_again_only_for_new_jobs_or_after_the_refresh(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Held or queued jobs that wait for hours cost no squeue call per poll (the bench's
    scheduler-query budget): a job new to squeue is asked about at once, the rest at most
    every REASONS_REFRESH_S, their last reasons shown in between."""
    from orchestrator.scheduler import slurm

    clock = [1000.0]
    monkeypatch.setattr("orchestrator.scheduler.slurm.time.monotonic", lambda: clock[0])
    commands = _Commands(SACCT_REASONS, SQUEUE_REASONS)
    backend = SlurmScheduler(interactive=False)
    backend.commands = commands  # type: ignore[assignment]
    refs = [JobRef(i, tmp_path) for i in ("61", "62", "63", "64")]
    asked = []
    for seconds in (0, 30, 60, slurm.REASONS_REFRESH_S - 1, slurm.REASONS_REFRESH_S + 1):
        clock[0] = 1000.0 + seconds
        polled = backend.poll(refs)
        asked.append(commands.calls["squeue"])
        assert polled.reasons["63"] == "Priority"  # the last answer stands in between
    assert asked == [1, 1, 1, 1, 2]
