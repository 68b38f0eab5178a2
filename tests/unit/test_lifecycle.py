from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.model.transitions import (
    TERMINAL,
    TRANSITIONS,
    IllegalTransition,
    JobState,
    as_seen_after_cancel,
    transition,
)
from orchestrator.scheduler import JobRef
from orchestrator.scheduler.slurm import SlurmScheduler
from orchestrator.scheduler.slurm_parse import (
    SLURM_STATES,
    SacctRow,
    map_slurm_state,
    parse_sacct,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"


TERMINAL_IN_ORDER = sorted(TERMINAL, key=lambda s: s.value)


def test_table_covers_every_state() -> None:
    assert set(TRANSITIONS) == set(JobState)


@pytest.mark.parametrize("state", TERMINAL_IN_ORDER)
def test_terminal_states_absorb(state: JobState) -> None:
    for observed in JobState:
        if observed is state or observed is JobState.UNKNOWN:
            assert transition("j", state, observed) is None
        else:
            with pytest.raises(IllegalTransition, match=f"job j: cannot move from {state.value}"):
                transition("j", state, observed)


@pytest.mark.parametrize(("state", "observed", "new"), [
    (JobState.SUBMITTED, JobState.PENDING, JobState.PENDING),
    (JobState.SUBMITTED, JobState.UNKNOWN, None),  # no sacct row yet: still submitted
    (JobState.PENDING, JobState.RUNNING, JobState.RUNNING),
    (JobState.RUNNING, JobState.UNKNOWN, None),  # sacct hiccup: keep what we know
    (JobState.RUNNING, JobState.RUNNING, None),
    (JobState.RUNNING, JobState.REQUEUED, JobState.REQUEUED),
    (JobState.REQUEUED, JobState.RUNNING, JobState.RUNNING),
    (JobState.RUNNING, JobState.SUCCEEDED, JobState.SUCCEEDED),
    (JobState.UNKNOWN, JobState.CANCELLED, JobState.CANCELLED),
    (JobState.PENDING, JobState.LOST, JobState.LOST),
])
def test_live_transitions(state: JobState, observed: JobState, new: JobState | None) -> None:
    assert transition("j", state, observed) is new


def test_nothing_goes_back_to_submitted() -> None:
    with pytest.raises(IllegalTransition):
        transition("j", JobState.RUNNING, JobState.SUBMITTED)


def test_recorded_sacct_output_maps_through_the_one_table() -> None:
    rows = parse_sacct((FIXTURES / "sacct_mixed.txt").read_text())
    assert rows["53"].name == "someone's|odd name"  # the name is last: a "|" in it is safe
    assert rows["43"].name == "s-1a2b3c-train-t001-a0"
    assert {job_id: row.state for job_id, row in rows.items()} == {
        "41": JobState.SUCCEEDED, "42": JobState.RUNNING, "43": JobState.CANCELLED,
        "44": JobState.FAILED, "45": JobState.TIMEOUT, "46": JobState.OUT_OF_MEMORY,
        "47": JobState.PENDING, "48": JobState.NODE_FAIL, "49": JobState.REQUEUED,
        "50": JobState.PREEMPTED, "51_3": JobState.SUCCEEDED, "52": JobState.FAILED,
        "53": JobState.UNKNOWN,
    }


@pytest.mark.parametrize(("raw", "state"), [
    ("CANCELLED by 1000", JobState.CANCELLED), ("", JobState.UNKNOWN),
    ("COMPLETED+", JobState.SUCCEEDED), ("weird", JobState.UNKNOWN),
])
def test_map_slurm_state(raw: str, state: JobState) -> None:
    assert map_slurm_state(raw) is state


def test_every_mapped_state_is_a_job_state() -> None:
    assert all(isinstance(v, JobState) for v in SLURM_STATES.values())


@pytest.mark.parametrize(("row", "state"), [
    (None, JobState.UNKNOWN),  # no row yet: sacct lags slurmctld
    (SacctRow(JobState.RUNNING, "s-1a2b3c-train-t001-a0"), JobState.RUNNING),
    (SacctRow(JobState.PENDING, "allocation"), JobState.PENDING),  # name not sent yet
    (SacctRow(JobState.SUCCEEDED, "allocation"), JobState.UNKNOWN),  # whose end? wait
    (SacctRow(JobState.RUNNING, "bench-job"), JobState.LOST),  # the id was given away
], ids=["no-row", "ours", "unnamed-pending", "unnamed-ended", "foreign"])
def test_a_row_counts_only_when_its_name_is_ours(row: SacctRow | None, state: JobState,
                                                 tmp_path: Path) -> None:
    backend = SlurmScheduler()
    ref = JobRef("77", tmp_path, "s-1a2b3c-train-t001-a0")
    assert backend._state_of(ref, row) is state
    assert ("another job ('bench-job')" in backend.failure(ref).reason) == (state is JobState.LOST)


@pytest.mark.parametrize(("observed", "cancel_requested", "meaning"), [
    (JobState.LOST, True, JobState.CANCELLED),  # a resumed controller killed it: cancelled
    (JobState.LOST, False, JobState.LOST),  # gone by itself: lost, retried
    (JobState.FAILED, True, JobState.FAILED),
    (JobState.SUCCEEDED, True, JobState.SUCCEEDED),  # it finished before the cancel landed
    (JobState.RUNNING, True, JobState.RUNNING),
    (JobState.UNKNOWN, True, JobState.UNKNOWN),
])
def test_a_job_gone_after_the_controllers_cancel_was_cancelled(
        observed: JobState, cancel_requested: bool, meaning: JobState) -> None:
    assert as_seen_after_cancel(observed, cancel_requested) is meaning

