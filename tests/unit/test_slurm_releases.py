"""One test per difference between SLURM 22.05 and 24.11 that the controller parses, on
outputs recorded from both releases (22.05.8: tests/fixtures/, 24.11.5:
tests/fixtures/slurm-24.11/, captured with scripts/slurm-release); the list is in
orchestrator/scheduler/slurm_parse.py's docstring."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.model.transitions import JobState
from orchestrator.scheduler.commands import busy, submit_limit, unreachable
from orchestrator.scheduler.slurm_parse import (
    SACCT_FORMAT,
    merge_reasons,
    parse_requeue_states,
    parse_sacct,
    parse_squeue_reasons,
    refusal_reason,
    refused_option,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"
R2411 = FIXTURES / "slurm-24.11"


def test_24_11_sacct_says_none_for_every_pending_job_and_squeue_names_the_reason() -> None:
    rows = parse_sacct((R2411 / "sacct_reasons.txt").read_text())
    assert {k: r.state for k, r in rows.items()} == {
        "5": JobState.SUCCEEDED, "6": JobState.FAILED, "7": JobState.CANCELLED,
        "8": JobState.PENDING, "9": JobState.PENDING, "10": JobState.PENDING}
    assert rows["10"].name == "cap|odd name"
    pending = {k: r.reason for k, r in rows.items() if r.state is JobState.PENDING}
    assert pending == {"8": "", "9": "", "10": ""}  # 22.05 said JobHeldUser, BeginTime
    squeue = parse_squeue_reasons((R2411 / "squeue_reasons.txt").read_text())
    assert merge_reasons(pending, squeue) == {
        "8": "JobHeldUser", "9": "job requeued in held state", "10": "BeginTime"}


def test_22_05_sacct_still_gives_its_own_reason_first() -> None:
    rows = parse_sacct((FIXTURES / "sacct_reasons.txt").read_text())
    assert rows["62"].reason == "JobHeldUser"


@pytest.mark.parametrize("field", ["Reserved", "Planned"])
def test_sacct_format_names_neither_release_only_field(field: str) -> None:
    # 24.11: 'sacct: error: Invalid field requested: "Reserved"' (22.05 refuses "Planned")
    assert "Reserved" in (R2411 / "sacct_reserved_field.txt").read_text()
    assert field not in SACCT_FORMAT.split(",")


def _test_only() -> list[tuple[str, str]]:
    lines = (R2411 / "test_only.txt").read_text().splitlines()
    return [(args, out) for args, _, out in (ln.partition("\t") for ln in lines)]


@pytest.mark.parametrize(("args", "stderr"), _test_only())
def test_24_11_test_only_refusals_name_the_same_option_as_22_05(args: str,
                                                                 stderr: str) -> None:
    expected = {"--account": "account", "-p": "partition", "-c": None, "--qos": "qos"}
    reason = refusal_reason(stderr)
    assert reason and "allocation failure" not in reason
    assert refused_option(reason) == expected[args.split("=")[0].split()[0]]


def test_24_11_submit_limit_is_read_as_on_22_05() -> None:
    stderr = (R2411 / "submit_limit.txt").read_text()
    assert submit_limit(stderr) == "sbatch: error: QOSMaxSubmitJobPerUserLimit"
    assert not unreachable(stderr)


@pytest.mark.parametrize("stderr", [
    "squeue: error: Rate limit exceeded, please retry momentarily",
    "sbatch: error: Batch job submission failed: Rate limit exceeded, please retry later",
])
def test_24_11_rate_limit_errors_are_a_busy_daemon_not_a_failure(stderr: str) -> None:
    # libslurm 24.11.5's texts for ESLURM_RATE_LIMITED; the commands retry silently first
    assert unreachable(stderr) and busy(stderr)


def test_24_11_rate_limit_retries_are_only_a_verbose_notice() -> None:
    notice = (R2411 / "squeue_vv_rate_limited.txt").read_text()
    assert "RPC rate limited 1 time(s)" in notice
    assert busy(notice)  # were it ever printed on a failure, it would back off, not fail


@pytest.mark.parametrize(("row", "state"), [
    ("71|COMPLETING", JobState.UNKNOWN),  # 24.11: a preempted run still ending: not decided
    ("71|PENDING", JobState.PENDING),  # queued again (REQUEUE)
    ("71|RUNNING", JobState.RUNNING),  # and running again
    ("71|PREEMPTED", JobState.PREEMPTED),
])
def test_24_11_a_preempted_job_completing_in_squeue_is_not_yet_decided(row: str,
                                                                       state: JobState) -> None:
    assert parse_requeue_states(row + "\n71.batch|CANCELLED\n") == {"71": state}


def test_24_11_sbatch_reset_by_a_stopping_slurmctld_is_a_daemon_that_did_not_answer() -> None:
    # 24.11.5's sbatch while slurmctld stopped under it (SIGTERM): a retry, not a failure
    stderr = "sbatch: error: Batch job submission failed: Connection reset by peer"
    assert unreachable(stderr) and not busy(stderr) and not submit_limit(stderr)
