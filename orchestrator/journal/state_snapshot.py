"""A snapshot of the journal's fold, so that a reader of a long journal replays only its tail.

Theory of operation: the journal stays the truth; the snapshot (state.snapshot beside it) is
a cache of `SearchState.replay` over the journal's first `lines` lines (`offset` bytes),
with the journal's facts (model.journal_facts: the last event's time, the last code
snapshot, whether the search ended, notified, which cancel requests are spent), which
`status`, `watch`, `ls` and a resuming controller (`open_journal`: no event list held) need
besides the state. Only the controller writes it (engine.run: every SNAPSHOT_EVERY
events, at the end of a tick, and when it stops), after the events it covers were fsync'ed
to the journal: journal first. It is written to a temporary file and renamed over the old
one, so a reader sees a whole snapshot or the previous one. A reader (`fold`) trusts a
snapshot only when it matches the journal it reads: the same first line (another search in
the same folder), the same bytes just before `offset` (a journal cut back and rewritten),
a journal at least `offset` long, the same version of the fold's code (`SCHEMA`, a hash of
its sources), and a file of the reader's own (it is a pickle: loading one runs what it
says, so another user's is never loaded). Anything else, or any error reading it, and the
reader replays the whole journal: a snapshot can make a read faster, never different.
"""

from __future__ import annotations

import copy
import hashlib
import os
import pickle
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

from orchestrator.common import layout
from orchestrator.errors import JournalCorrupt
from orchestrator.journal.jsonl import Journal, Scan
from orchestrator.model import events as events_module
from orchestrator.model import journal_facts, ledger, memo, records, state, transitions
from orchestrator.model.events import CodeSnapshot, Event
from orchestrator.model.journal_facts import JournalFacts
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import IllegalMove

SNAPSHOT_EVERY = 10_000  # events between two snapshots: a tail that replays in well under 1 s
EDGE_BYTES = 256  # the journal's bytes before `offset` that must match
FORMAT = 2  # 2: the journal's facts (model.journal_facts) saved beside the state


def _schema() -> str:
    """A hash of the fold's sources: a snapshot pickled by other code is not loaded."""
    digest = hashlib.sha256()
    for module in (events_module, journal_facts, ledger, memo, records, state, transitions):
        digest.update(Path(str(module.__file__)).read_bytes())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()


SCHEMA = _schema()


class Folded(NamedTuple):
    """The journal folded: its state, its facts (model.journal_facts: the last event's
    time, the last code snapshot, ...), and how much of the journal that is (bytes, lines)."""

    state: SearchState
    facts: JournalFacts
    offset: int
    lines: int

    @property
    def last_t(self) -> float:
        return self.facts.last_t  # 0.0: no event

    @property
    def code(self) -> CodeSnapshot | None:
        return self.facts.code


def fold(search_dir: Path) -> Folded:
    """The journal of `search_dir` folded: the snapshot's state and the tail after it, or
    the whole journal when no snapshot matches it."""
    return _fold(search_dir, load(search_dir))


def _fold(search_dir: Path, start: Folded | None) -> Folded:
    journal = layout.journal_path(search_dir)
    if start is None:
        scan, facts = Scan(journal), JournalFacts()
        folded = SearchState.replay(facts.watch(scan))
    else:
        scan, facts = Scan(journal, start.offset, start.lines), copy.deepcopy(start.facts)
        folded = _replay_tail(start.state, facts.watch(scan), start.lines)
    return Folded(folded, facts, scan.valid, scan.lines)


def open_journal(search_dir: Path) -> tuple[Journal, SearchState]:
    """The controller's journal, opened (under the search's lock), and its state: from the
    snapshot and the tail when a snapshot matches, holding no event list either way."""
    folded = fold(search_dir)  # the journal read once: the journal opens after its end
    journal = Journal(layout.journal_path(search_dir), folded.facts, folded.offset,
                      folded.lines)
    return journal, folded.state


def _replay_tail(folded: SearchState, tail: Iterable[Event], before: int) -> SearchState:
    """`SearchState.replay` continued from a snapshot's state; an illegal move is reported
    as a full replay reports it (the journal's lines before the tail are events too, but
    for blank ones: the number is the line's, close enough to find it)."""
    for number, event in enumerate(tail, start=before + 1):
        try:
            folded.apply(event)
        except IllegalMove as exc:
            raise JournalCorrupt(
                f"the journal's event {number} ({event.event}): {exc}, which no controller "
                "journals; the journal was edited: repair it, or move the whole search.dir "
                "aside to start afresh") from exc
    return folded


def _edges(journal: Path, offset: int) -> tuple[bytes, bytes] | None:
    """The journal's first line and its EDGE_BYTES before `offset` (None: too short)."""
    with open(journal, "rb") as handle:
        head = handle.readline()
        handle.seek(max(0, offset - EDGE_BYTES))
        edge = handle.read(min(offset, EDGE_BYTES))
    return (head, edge) if len(edge) == min(offset, EDGE_BYTES) and offset > 0 else None


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(search_dir: Path, folded: Folded) -> None:
    """Write the snapshot of `folded`, the fold of the journal's first `folded.offset`
    bytes, already durable in the journal; atomically (a temporary file renamed)."""
    edges = _edges(layout.journal_path(search_dir), folded.offset)
    if edges is None:
        return
    record = {"format": FORMAT, "schema": SCHEMA, "head": _digest(edges[0]),
              "edge": _digest(edges[1]), "folded": folded}
    target = layout.state_snapshot_path(search_dir)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        pickle.dump(record, handle, protocol=pickle.HIGHEST_PROTOCOL)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)


def write_journaled(journal: Journal, folded: SearchState) -> None:
    """The controller's snapshot: `folded` is the fold of all that `journal` holds."""
    write(journal.path.parent, Folded(folded, journal.facts, journal.offset, journal.lines))


class Writing:
    """The controller's view, writing a snapshot once SNAPSHOT_EVERY events were journaled
    since the last one (at the end of a tick), and when the view closes (the controller
    stops). Only a state that is the fold of the whole journal is written: the controller
    shows an event (`event`) after applying it and refreshes at the end of a tick, so the
    state is known whole then; an event journaled and not applied (a crash between the
    two, a fact appended beside the fold) leaves the snapshot as it was."""

    def __init__(self, view: Any, journal: Journal) -> None:
        self.view, self.journal, self.written = view, journal, journal.lines
        self.state: SearchState | None = None
        self.whole_at = -1  # the journal's lines when the state was last known whole

    def event(self, record: Event, folded: SearchState) -> None:
        self.state, self.whole_at = folded, self.journal.lines
        self.view.event(record, folded)

    def refresh(self, folded: SearchState) -> None:
        self.state, self.whole_at = folded, self.journal.lines
        self.view.refresh(folded)
        if self.journal.lines - self.written >= SNAPSHOT_EVERY:
            self._write()

    def close(self) -> None:
        try:
            if self.journal.lines != self.written:
                self._write()
        finally:
            self.view.close()

    def _write(self) -> None:
        if self.state is None or self.whole_at != self.journal.lines:
            return
        try:
            write_journaled(self.journal, self.state)
        except OSError:
            pass  # a cache: the readers replay the journal, which is written already
        self.written = self.journal.lines


def load(search_dir: Path) -> Folded | None:
    """The snapshot when it matches the journal (the module's docstring), else None."""
    target = layout.state_snapshot_path(search_dir)
    try:
        if target.stat().st_uid != os.getuid():
            return None
        with open(target, "rb") as handle:
            record: Any = pickle.load(handle)  # the reader's own file (above)
        if not (isinstance(record, dict) and record.get("format") == FORMAT
                and record.get("schema") == SCHEMA):
            return None
        folded = record["folded"]
        edges = _edges(layout.journal_path(search_dir), folded.offset)
        if edges is None or (_digest(edges[0]), _digest(edges[1])) != (
                record["head"], record["edge"]):
            return None
        return folded if isinstance(folded, Folded) else None
    except Exception:  # any unreadable snapshot: the journal is replayed
        return None
