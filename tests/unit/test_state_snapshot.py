"""The state snapshot (journal.state_snapshot): a snapshot and the journal's tail fold to
exactly what a full replay does, at every cut; a snapshot that does not match its journal
is ignored; only the controller writes one; and status, watch and ls stay read-only and
never call the scheduler."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.phases.long_journal import events as journal_events
from orchestrator import scheduler
from orchestrator.cli import cmd_ls, cmd_status, cmd_watch
from orchestrator.common import layout
from orchestrator.journal import jsonl, state_snapshot
from orchestrator.journal.jsonl import Journal, read_events
from orchestrator.journal.state_snapshot import Folded, fold, load, write_journaled
from orchestrator.model.events import Event, build, decode, encode
from orchestrator.model.journal_facts import JournalFacts
from orchestrator.model.state import SearchState

TOTAL = 260  # 2 trials of 5 checkpoints (the controller's event shapes), then heartbeats


def _lines(search_dir: Path) -> list[str]:
    found = [json.dumps(encode(e), sort_keys=True, separators=(",", ":")) + "\n"
             for e in journal_events(search_dir, TOTAL, trials=2)]
    code = build("code_snapshot", hash="ab" * 20, dir="/snap/ab", t=1.0)
    found.insert(1, json.dumps(encode(code), sort_keys=True, separators=(",", ":")) + "\n")
    return found


def _full(search_dir: Path) -> Folded:
    events, valid = read_events(layout.journal_path(search_dir))
    return Folded(SearchState.replay(events), JournalFacts.of(events), valid, len(events))


def _snapshot_at(search_dir: Path, lines: list[str], cut: int) -> None:
    """The journal's first `cut` lines snapshotted as the controller does, then the rest."""
    path = layout.journal_path(search_dir)
    path.write_text("".join(lines[:cut]))
    journal = Journal(path)
    write_journaled(journal, SearchState.replay(journal.events))
    journal.close()
    with open(path, "a") as handle:
        handle.write("".join(lines[cut:]))


@pytest.mark.parametrize("cut", [1, 2, 3, 7, 20, 41, 80, 81, 150, TOTAL - 1, TOTAL + 1])
def test_snapshot_and_tail_fold_as_a_full_replay(tmp_path: Path, cut: int) -> None:
    lines = _lines(tmp_path)
    _snapshot_at(tmp_path, lines, cut)
    assert load(tmp_path) is not None and load(tmp_path).lines == cut  # type: ignore[union-attr]
    assert fold(tmp_path) == _full(tmp_path)


def _corrupt(search_dir: Path) -> None:
    layout.state_snapshot_path(search_dir).write_bytes(b"not a pickle")


def _other_search(search_dir: Path) -> None:  # the folder reused: another first event
    path = layout.journal_path(search_dir)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0].replace('"t":', '"t":1') + "".join(lines[1:]))


def _shorter(search_dir: Path) -> None:  # the journal cut back below the snapshot's offset
    path = layout.journal_path(search_dir)
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:30]))


def _rewritten(search_dir: Path) -> None:  # as long, but other events before the offset
    path = layout.journal_path(search_dir)
    lines = path.read_text().splitlines(keepends=True)
    lines[99] = lines[99].replace('"event":"heartbeat"', '"event":"resumed"  ')
    path.write_text("".join(lines))


def _other_code(search_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_snapshot, "SCHEMA", "another version of the fold")


def _not_mine(search_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "getuid", lambda: os.stat(search_dir).st_uid + 1)


STALE = {"corrupt": _corrupt, "other search": _other_search, "shorter journal": _shorter,
         "rewritten before the offset": _rewritten}


@pytest.mark.parametrize("how", [*STALE, "other code", "another user's"])
def test_a_snapshot_that_does_not_match_is_ignored(tmp_path: Path, how: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _snapshot_at(tmp_path, _lines(tmp_path), 100)
    if how in STALE:
        STALE[how](tmp_path)
    else:
        (_other_code if how == "other code" else _not_mine)(tmp_path, monkeypatch)
    assert load(tmp_path) is None
    assert fold(tmp_path) == _full(tmp_path)


class _Shown:
    def __init__(self) -> None:
        self.closed = False

    def event(self, record: Event, state: SearchState) -> None:
        pass

    def refresh(self, state: SearchState) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _record(journal: Journal, state: SearchState, view: state_snapshot.Writing,
            event: Event) -> None:
    """The controller's `record`: journal first, then apply, then show."""
    written = journal.append(event)
    state.apply(written)
    view.event(written, state)


def test_the_controller_writes_one_every_n_events_and_when_it_stops(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(state_snapshot, "SNAPSHOT_EVERY", 5)
    lines = _lines(tmp_path)
    layout.journal_path(tmp_path).write_text("".join(lines[:40]))
    journal = Journal(layout.journal_path(tmp_path))
    state, shown = SearchState.replay(journal.events), _Shown()
    view = state_snapshot.Writing(shown, journal)
    for _ in range(4):
        _record(journal, state, view, build("heartbeat"))
    view.refresh(state)
    assert load(tmp_path) is None  # 4 events: not yet
    _record(journal, state, view, build("heartbeat"))
    view.refresh(state)
    assert load(tmp_path) == _full(tmp_path)
    _record(journal, state, view, build("heartbeat"))
    view.close()
    journal.close()
    assert shown.closed and load(tmp_path) == _full(tmp_path)


def test_an_event_journaled_and_not_applied_is_never_snapshotted(tmp_path: Path) -> None:
    lines = _lines(tmp_path)
    layout.journal_path(tmp_path).write_text("".join(lines[:40]))
    journal = Journal(layout.journal_path(tmp_path))
    state = SearchState.replay(journal.events)
    view = state_snapshot.Writing(_Shown(), journal)
    _record(journal, state, view, build("heartbeat"))
    journal.append(build("resumed"))  # a crash between the journal and the fold
    view.close()
    journal.close()
    assert load(tmp_path) is None


def test_status_watch_and_ls_read_only_and_never_call_the_scheduler(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    search_dir = tmp_path / "search"
    search_dir.mkdir()
    lines = _lines(search_dir)
    _snapshot_at(search_dir, lines, 120)

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a reader called the scheduler")

    monkeypatch.setattr(scheduler, "make_scheduler", refused)
    monkeypatch.setattr(subprocess, "run", refused)
    monkeypatch.setattr(subprocess, "Popen", refused)
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in search_dir.iterdir()}

    class FirstFrame(Exception):
        pass

    class View(_Shown):
        def refresh(self, state: SearchState) -> None:
            raise FirstFrame

    assert "status:" in cmd_status.status_text(search_dir)
    assert "search" in cmd_ls.listing(tmp_path)
    with pytest.raises(FirstFrame):
        cmd_watch.watch(search_dir, View(), alive=lambda _d, _t: True)
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in search_dir.iterdir()} == before


@pytest.mark.parametrize("batch", [7, 64, 300, 1 << 20])
@pytest.mark.parametrize("tail", ["", '{"event":"heartbeat","t":', '{"event":"heart\n', "\n  \n"])
def test_a_journal_read_in_batches_reads_as_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                batch: int, tail: str) -> None:
    lines = _lines(tmp_path)[:60]
    path = layout.journal_path(tmp_path)
    path.write_text("".join(lines) + tail)
    monkeypatch.setattr(jsonl, "BATCH_BYTES", batch)
    events, valid = read_events(path)
    assert events == [decode(json.loads(line), "") for line in lines]
    assert valid == len("".join(lines) + (tail if not tail.strip() else ""))
