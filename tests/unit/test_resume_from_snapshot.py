"""A controller resumed from the state snapshot and the journal's tail decides exactly as one
resumed by a full replay: the same state, the same journal facts, the same events journaled
by its start and first tick; at several kill points and snapshot points. A snapshot that no
longer matches its journal (cut back and rewritten), or of an older format, is ignored."""

from __future__ import annotations

import copy
import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import pytest

from orchestrator.common import layout
from orchestrator.engine.controller import Controller
from orchestrator.journal import state_snapshot
from orchestrator.journal.jsonl import Journal
from orchestrator.model.events import Event
from orchestrator.model.journal_facts import JournalFacts
from orchestrator.model.state import SearchState
from tests.support.fake_cluster import FakeScheduler, World, settings_for

WALL = 2_000_000_000.0  # the resumed controllers' wall clock: both see the same time
SEARCH = {"target": 0.95, "max_trials": 2}


class _Quiet:
    def event(self, record: Event, state: SearchState) -> None:
        pass

    def refresh(self, state: SearchState) -> None:
        pass


def _original(tmp_path: Path) -> tuple[Path, list[bytes], FakeScheduler]:
    """A search run to its end: its folder (kept aside), its journal's lines, its world."""
    search_dir, sched = tmp_path / "s", FakeScheduler()
    world = World(sched, search_dir)
    world.auto_results = {100: 0.6, 200: 0.7, 300: 0.65, 400: 0.62}
    world.script = {2: lambda: world.checkpoint(100, 200), 4: lambda: world.checkpoint(300, 400),
                    6: world.end_training}
    journal = Journal(layout.journal_path(search_dir))
    Controller(settings_for(search_dir, **SEARCH), journal, sched, _Quiet(),
               clock=lambda: float(world.ticks), sleep=world.sleep).run()
    journal.close()
    lines = layout.journal_path(search_dir).read_bytes().splitlines(keepends=True)
    shutil.copytree(search_dir, tmp_path / "aside")
    return search_dir, lines, sched


def _prepare(tmp_path: Path, lines: list[bytes], killed: int, snapshot: int | None) -> Path:
    """The search folder as a controller killed after `killed` lines left it, with the
    snapshot of the first `snapshot` lines (None: no snapshot)."""
    search_dir = tmp_path / "s"
    shutil.rmtree(search_dir)
    shutil.copytree(tmp_path / "aside", search_dir)
    path = layout.journal_path(search_dir)
    layout.state_snapshot_path(search_dir).unlink(missing_ok=True)
    if snapshot is not None:
        path.write_bytes(b"".join(lines[:snapshot]))
        journal = Journal(path)
        state_snapshot.write_journaled(journal, SearchState.replay(journal.events))
        journal.close()
    path.write_bytes(b"".join(lines[:killed]))
    return search_dir


def _resume(search_dir: Path, sched: FakeScheduler,
            killed: int) -> tuple[SearchState, JournalFacts, list[dict[str, Any]]]:
    """Resume as engine.run does; the state and facts it starts from, and what its start and
    first tick journal (without their times)."""
    journal, state = state_snapshot.open_journal(search_dir)
    start = copy.deepcopy(state), copy.deepcopy(journal.facts)
    controller = Controller(settings_for(search_dir, **SEARCH), journal, copy.deepcopy(sched),
                            _Quiet(), clock=lambda: 0.0, sleep=lambda _: None,
                            wall=lambda: WALL, state=state)
    controller.start()
    controller.tick()
    journal.close()
    new = layout.journal_path(search_dir).read_bytes().splitlines()[killed:]
    decided = [{k: v for k, v in json.loads(line).items() if k != "t"} for line in new]
    return *start, decided


@pytest.mark.parametrize("killed_at", [0.3, 0.6, 1.0])
def test_a_resume_from_the_snapshot_decides_as_a_full_replay(tmp_path: Path,
                                                             killed_at: float) -> None:
    _, lines, sched = _original(tmp_path)
    killed = max(2, int(len(lines) * killed_at))
    replayed = _resume(_prepare(tmp_path, lines, killed, None), sched, killed)
    assert replayed[2], "the resumed controller decided nothing: the test would prove nothing"
    for snapshot in sorted({1, killed // 3, killed // 2, killed - 1, killed}):
        search_dir = _prepare(tmp_path, lines, killed, snapshot)
        assert state_snapshot.load(search_dir) is not None
        assert _resume(search_dir, sched, killed) == replayed, snapshot


def test_a_stale_snapshot_is_ignored_and_the_journal_replayed(tmp_path: Path) -> None:
    _, lines, sched = _original(tmp_path)
    killed = len(lines) // 2
    replayed = _resume(_prepare(tmp_path, lines, killed, None), sched, killed)
    # the snapshot of a longer journal, then the journal cut back and rewritten otherwise
    search_dir = _prepare(tmp_path, lines, killed, killed + 5)
    assert state_snapshot.load(search_dir) is None
    assert _resume(search_dir, sched, killed) == replayed
    # the journal rewritten before the snapshot's offset (a heartbeat inserted): the same
    # length or longer, other bytes
    heartbeat = json.dumps({"event": "heartbeat", "t": 1.0}).encode() + b"\n"
    rewritten = [*lines[:killed // 2 - 1], heartbeat, *lines[killed // 2 - 1:]]
    replayed_rewritten = _resume(_prepare(tmp_path, rewritten, killed + 1, None), sched,
                                 killed + 1)
    search_dir = _prepare(tmp_path, lines, killed, killed // 2)
    layout.journal_path(search_dir).write_bytes(b"".join(rewritten[:killed + 1]))
    assert state_snapshot.load(search_dir) is None
    assert _resume(search_dir, sched, killed + 1) == replayed_rewritten
    # a snapshot of the previous format (no journal facts) is not loaded
    search_dir = _prepare(tmp_path, lines, killed, killed // 2)
    target = layout.state_snapshot_path(search_dir)
    record = pickle.loads(target.read_bytes())
    target.write_bytes(pickle.dumps({**record, "format": state_snapshot.FORMAT - 1}))
    assert state_snapshot.load(search_dir) is None
    assert _resume(search_dir, sched, killed) == replayed
