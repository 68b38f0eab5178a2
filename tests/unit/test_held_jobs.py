"""Held jobs (SLURM: requeuehold, an admin's hold): named in the view and `status`, released
after search.held_grace_s, replaced (a free retry) when the release does not free them; the
hold's start is the journal's, so a resumed controller keeps counting. The real cluster:
tests/slurm/test_held_and_lost.py."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from orchestrator.cli.cmd_status import status_text
from orchestrator.decide.holds import holds_due
from orchestrator.engine.controller import Controller
from orchestrator.journal import jsonl
from orchestrator.journal.jsonl import Journal, read_events
from orchestrator.model import events
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import JobKind, JobState
from orchestrator.model.trials_table import job_state_text
from orchestrator.scheduler import JobRef
from orchestrator.scheduler.interface import Polled
from orchestrator.scheduler.slurm import SlurmScheduler
from orchestrator.view.live import PlainView
from tests.support.fake_cluster import FakeScheduler, World, settings_for

T0 = 1_000_000.0  # the fake wall clock's start: each of the world's ticks is 10 s


class HoldingScheduler(FakeScheduler):
    """Holds a job when told; `release` frees it, unless the hold is an admin's."""

    def __init__(self, admin: bool = False) -> None:
        super().__init__()
        self.admin = admin
        self.held: dict[str, str] = {}  # job id -> the reason squeue gives
        self.released: list[str] = []

    def hold(self, reason: str = "JobHeldUser") -> None:
        job_id, _ = self.by_kind("train")[-1]
        self.states[job_id] = JobState.PENDING
        self.held[job_id] = reason

    def poll(self, jobs: Sequence[JobRef]) -> Mapping[str, JobState]:
        states = super().poll(jobs)
        return Polled(states, {j: why for j, why in self.held.items()
                               if states.get(j) is JobState.PENDING})

    def release(self, jobs: Sequence[JobRef]) -> None:
        for ref in jobs:
            self.released.append(ref.job_id)
            if not self.admin:
                del self.held[ref.job_id]
                self.states[ref.job_id] = JobState.RUNNING


def _search(tmp_path: Path, sched: HoldingScheduler, monkeypatch: pytest.MonkeyPatch,
            seen: dict[str, str], **search: Any) -> tuple[SearchState, list[events.Event], str]:
    world = World(sched, tmp_path)
    wall = lambda: T0 + 10.0 * world.ticks  # noqa: E731
    monkeypatch.setattr(jsonl, "time", SimpleNamespace(time=wall))  # the journal's `t`
    world.auto_results = {100: 0.5, 200: 0.9}

    def look() -> None:
        seen["status"] = status_text(tmp_path)

    world.script = {1: lambda: world.checkpoint(100), 3: sched.hold, 5: look,
                    12: lambda: world.checkpoint(200)}
    journal, out = Journal(tmp_path / "journal.jsonl"), io.StringIO()
    state = Controller(settings_for(tmp_path, held_grace_s=25, **search), journal, sched,
                       PlainView(out), clock=lambda: float(world.ticks), sleep=world.sleep,
                       wall=wall).run()
    journal.close()
    return state, read_events(tmp_path / "journal.jsonl")[0], out.getvalue()


def test_a_held_job_is_named_then_released_after_the_grace(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sched, seen = HoldingScheduler(), dict[str, str]()
    state, evs, out = _search(tmp_path, sched, monkeypatch, seen)
    assert state.finished is not None and state.finished.status == "target_reached"
    train_id, _ = sched.by_kind("train")[0]
    assert sched.released == [train_id] and len(sched.by_kind("train")) == 1
    released = [e for e in evs if isinstance(e, events.JobReleased)]
    # seen held at tick 3, released at the first poll 25 s later: tick 6
    assert [(e.job_id, e.held_s, e.reason) for e in released] == [(train_id, 30.0, "JobHeldUser")]
    assert "is PENDING (waiting: JobHeldUser; held; released after 25 s held" in out
    assert f"job {train_id} (train-t001-a0) held 30 s (JobHeldUser): asking" in out
    assert "PENDING (JobHeldUser): held; released after 25 s held" in seen["status"]


def test_a_hold_the_release_does_not_lift_is_replaced_by_a_free_retry(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sched, seen = HoldingScheduler(admin=True), dict[str, str]()
    state, evs, out = _search(tmp_path, sched, monkeypatch, seen, train_retries=0)
    assert state.finished is not None and state.finished.status == "target_reached"
    (first, _), (retry, _) = sched.by_kind("train")
    assert sched.released == [first] and sched.cancelled[0] == first  # the retry: at the end
    assert retry != first
    old = state.jobs["train-t001-a0"]
    assert old.state is JobState.REPLACED and old.cause == "held" and old.cancel_requested
    assert state.trials[1].training != "failed"  # not counted: train_retries=0
    kinds = [e.event for e in evs if "train-t001-a0" in (getattr(e, "key", ""),
                                                          *getattr(e, "keys", []))]
    assert kinds[-4:] == ["job_released", "job_state", "cancel", "job_failed"]
    assert "REPLACED: held: held 40 s (JobHeldUser) and still held after" in out
    assert sorted(e.step for e in evs if isinstance(e, events.Evaluation)) == [100, 200]


def _held(t: float, reason: str, state: JobState = JobState.PENDING) -> events.JobStateChanged:
    return events.JobStateChanged(key="k", job_id="7", state=state, reason=reason, t=t)


def _state(*evs: events.Event) -> SearchState:
    intent = events.SubmitIntent(key="k", kind=JobKind.TRAIN, trial=1, step=None, attempt=0,
                                 folder="/x", name="n", overrides={}, t=1.0)
    return SearchState.replay([intent, events.Submitted(key="k", job_id="7", t=2.0), *evs])


@pytest.mark.parametrize(("later", "since", "released"), [
    ([_held(150, "job requeued in held state")], 100.0, None),  # another word, the same hold
    ([_held(150, "")], 100.0, None),  # no reason this poll (squeue failed): still counting
    ([_held(150, "Priority")], None, None),  # released by someone: waits for a node now
    ([_held(150, "", JobState.RUNNING)], None, None),
    ([events.JobReleased(key="k", job_id="7", held_s=60, reason="JobHeldUser", t=160)],
     100.0, 160.0),
], ids=["held-again", "reason-unknown", "released", "running", "release-asked"])
def test_the_hold_is_counted_from_the_first_poll_that_saw_it(
        later: list[events.Event], since: float | None, released: float | None) -> None:
    job = _state(_held(100, "JobHeldUser"), *later).jobs["k"]
    assert (job.held_since, job.released_t) == (since, released)


@pytest.mark.parametrize(("now", "grace", "release", "replace"), [
    (124.0, 25, [], []), (125.0, 25, ["k"], []), (1e9, 0, [], []),  # 0: waits for someone
], ids=["within-grace", "past-grace", "grace-off"])
def test_a_resumed_controller_keeps_counting_from_the_journal(
        now: float, grace: float, release: list[str], replace: list[str]) -> None:
    state = _state(events.Resumed(t=110), _held(100, "JobHeldUser"))
    due = holds_due(state, grace, now)
    assert ([j.key for j in due.release], [j.key for j in due.replace]) == (release, replace)
    state.apply(events.JobReleased(key="k", job_id="7", held_s=25, reason="JobHeldUser", t=now))
    assert [j.key for j in holds_due(state, 25, now + 1).replace] == ["k"]  # a poll later


def test_the_state_text_says_what_the_controller_does_about_a_hold() -> None:
    job = _state(_held(100, "JobHeldAdmin")).jobs["k"]
    assert job_state_text(job, 600) == ("PENDING (JobHeldAdmin): held; released after 600 s "
                                        "held (search.held_grace_s), replaced if that does "
                                        "not free it")
    assert job_state_text(job, 0).endswith("held until someone releases it "
                                           "(search.held_grace_s=0)")
    assert job_state_text(_state(_held(100, "Priority")).jobs["k"], 600) == "PENDING (Priority)"


class _Commands:
    """sacct keeps the hold's reason after the release; squeue knows better."""

    def __init__(self, squeue: str) -> None:
        self.squeue = squeue
        self.argv: list[list[str]] = []

    def output(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        self.argv.append(list(argv))
        return "JobID|State|Reason|JobName\n62|PENDING|JobHeldUser|j62\n" if \
            argv[0] == "sacct" else ""

    def run(self, argv: Sequence[str], stdin: str | None = None,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        self.argv.append(list(argv))
        return subprocess.CompletedProcess(list(argv), 0, self.squeue, "")


@pytest.mark.parametrize(("squeue", "reason"), [
    ("62|Priority\n", "Priority"),  # released: waits for its turn
    ("62|job requeued in held state\n", "job requeued in held state"),  # an admin's hold
    ("", "JobHeldUser"),  # squeue has nothing to say: sacct's word stands
], ids=["released", "still-held", "squeue-silent"])
def test_slurm_releases_and_then_asks_squeue_why_the_job_waits(
        squeue: str, reason: str, tmp_path: Path) -> None:
    commands = _Commands(squeue)
    backend = SlurmScheduler(interactive=False)
    backend.commands = commands  # type: ignore[assignment]
    ref = JobRef("62", tmp_path, "j62")
    assert backend.poll([ref]).reasons == {"62": "JobHeldUser"}  # sacct's word: no squeue
    assert [a[0] for a in commands.argv] == ["sacct"]
    backend.release([ref])
    assert commands.argv[-1] == ["scontrol", "release", "62"]
    assert backend.poll([ref]).reasons == {"62": reason}
    assert commands.argv[-1][:2] == ["squeue", "--noheader"]
