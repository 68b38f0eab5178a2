"""A batch of events is one journal write and one fsync, durable before any is acted on
(journal.jsonl's `append_all`, the controller's `record_all`: issue 25's group commit)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from orchestrator.engine.controller import Controller
from orchestrator.journal.jsonl import Journal, read_events
from orchestrator.model.events import Checkpoint, Event, JobStateChanged
from orchestrator.model.state import SearchState
from orchestrator.view.live import PlainView
from tests.support.fake_cluster import FakeScheduler, World, settings_for


def _count_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def counted(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counted)
    return calls


def _checkpoints(n: int) -> list[Event]:
    return [Checkpoint(trial=1, step=i, path=f"/x/checkpoint-{i}") for i in range(n)]


@pytest.mark.parametrize("n", [1, 5, 100])
def test_a_batch_is_one_write_and_one_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            n: int) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    fsyncs = _count_fsyncs(monkeypatch)
    written = journal.append_all(_checkpoints(n))
    assert len(fsyncs) == 1
    assert journal.lines == n and journal.offset == (tmp_path / "journal.jsonl").stat().st_size
    assert read_events(journal.path)[0] == written


def test_an_empty_batch_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = Journal(tmp_path / "journal.jsonl")
    fsyncs = _count_fsyncs(monkeypatch)
    assert journal.append_all([]) == [] and fsyncs == [] and journal.lines == 0


@pytest.mark.parametrize("cut", [1, 10, 57, -2])  # -1 (only the newline lost) is whole
def test_a_torn_batch_replays_to_the_events_before_it(tmp_path: Path, cut: int) -> None:
    """A kill mid-write leaves whole lines then one torn one: replay keeps the events before
    the torn line, and the next journal cuts it off before appending."""
    path = tmp_path / "journal.jsonl"
    journal = Journal(path)
    journal.append_all(_checkpoints(2))
    before = path.stat().st_size
    journal.append_all(_checkpoints(6)[2:])
    journal.close()
    lines = path.read_bytes()[before:].splitlines(keepends=True)
    keep = before + sum(len(x) for x in lines[:2]) + (cut % len(lines[2]))
    os.truncate(path, keep)
    replayed = [e.step for e in read_events(path)[0] if isinstance(e, Checkpoint)]
    assert replayed == [0, 1, 2, 3] and len(lines) == 4
    reopened = Journal(path)
    reopened.append_all(_checkpoints(1))
    reopened.close()
    assert [e.step for e in read_events(path)[0] if isinstance(e, Checkpoint)] == [0, 1, 2, 3, 0]


def _controller_run(tmp_path: Path) -> tuple[SearchState, list[Event]]:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    world.auto_results = {100: 0.6, 200: 0.85}
    world.script = {2: lambda: world.checkpoint(100), 4: lambda: world.checkpoint(200)}
    journal = Journal(tmp_path / "journal.jsonl")
    controller = Controller(settings_for(tmp_path), journal, sched, PlainView(),
                            clock=lambda: float(world.ticks), sleep=world.sleep)
    state = controller.run()
    journal.close()
    return state, read_events(journal.path)[0]


def test_the_fold_of_a_batched_journal_equals_the_unbatched_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state, recorded = _controller_run(tmp_path / "search")
    assert SearchState.replay(recorded) == state  # applied after the batch = replayed
    monkeypatch.setattr(time, "time", lambda: 1_000.0)  # the same stamps in both journals
    one_by_one, batched = Journal(tmp_path / "a.jsonl"), Journal(tmp_path / "b.jsonl")
    for event in recorded:
        one_by_one.append(event)
    for start in range(0, len(recorded), 7):
        batched.append_all(recorded[start:start + 7])
    assert read_events(one_by_one.path)[0] == read_events(batched.path)[0]
    assert SearchState.replay(read_events(batched.path)[0]) == SearchState.replay(
        read_events(one_by_one.path)[0])
    assert batched.facts == one_by_one.facts


def test_a_poll_journals_its_changes_with_one_fsync_before_applying_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sched = FakeScheduler()
    world = World(sched, tmp_path)
    journal = Journal(tmp_path / "journal.jsonl")
    controller = Controller(settings_for(tmp_path, max_trials=4, max_concurrent_trials=4),
                            journal, sched, PlainView(), clock=lambda: float(world.ticks),
                            sleep=world.sleep)
    controller.start()
    controller.tick()  # four trainings submitted; the fake scheduler runs them at once
    lines, live = journal.lines, controller.state.live_jobs()
    applied: list[int] = []  # how many lines were durable when each change was applied
    real_apply = controller.state.apply

    def apply(event: Event) -> None:
        applied.append(journal.lines)
        real_apply(event)

    monkeypatch.setattr(controller.state, "apply", apply)
    fsyncs = _count_fsyncs(monkeypatch)
    controller._poll()
    changes = [e for e in read_events(journal.path)[0][lines:] if isinstance(e, JobStateChanged)]
    assert len(live) == 4 and len(changes) == 4 and len(fsyncs) == 1
    assert applied == [lines + 4] * 4  # each applied once all four were durable
    journal.close()
