"""The search's journal: an append-only JSON-lines file, the single source of truth.

Theory of operation: every fact the controller learns or decides (a submission with its job
id, a state change, a result, a decision) is appended here and fsync'ed BEFORE the
controller acts on it; facts learned at once (one poll's job states) are one write of whole
lines and one fsync (`append_all`), all durable before any is acted on. Replaying the
journal from the top therefore rebuilds exactly what the controller knew when it stopped,
however it stopped. A kill can tear only the last line (of a batch: the events before it
are kept, as if the kill had come between appends): replay drops a last line that does not
parse and the next append first cuts it off, so the file stays valid JSON lines. A bad line
anywhere else is real corruption and is reported, never skipped silently, and so is a line
that parses but holds no event this version knows (`events.decode`): a replay never skips
what it cannot read.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from orchestrator.common import redact
from orchestrator.errors import JournalCorrupt
from orchestrator.model.events import Event, build, decode, encode
from orchestrator.model.journal_facts import JournalFacts

BATCH_BYTES = 1 << 20  # lines are parsed a batch at a time: one json call, bounded memory


def read_events(path: Path) -> tuple[list[Event], int]:
    """All events, and the byte length of the valid prefix (a torn last line excluded)."""
    scan = Scan(path)
    return list(scan), scan.valid


class Scan:
    """A journal's events in order, read from byte `offset` (the start of line `line` + 1)
    a batch of lines at a time, so that a long journal is folded without holding it. After
    the iteration, `valid` is the byte length of the valid prefix and `lines` the number of
    lines in it."""

    def __init__(self, path: Path, offset: int = 0, line: int = 0) -> None:
        self.path, self.valid, self.lines = path, offset, line

    def __iter__(self) -> Iterator[Event]:
        if not self.path.exists():
            return
        where = str(self.path)
        for batch, final in self._batches():
            for raw, obj in zip(batch, self._parsed(batch, final), strict=False):
                self.lines += 1
                if obj is not None:
                    yield decode(obj, f"{where}:{self.lines}")
                self.valid += len(raw)

    def _batches(self) -> Iterator[tuple[list[bytes], bool]]:
        """The lines (each with its newline, but a last one without), BATCH_BYTES at a
        time, up to the length the file had when opened: a controller appending meanwhile
        cannot turn a torn last line into one in the middle; and whether it is the last."""
        with open(self.path, "rb") as handle:
            left = os.fstat(handle.fileno()).st_size - self.valid
            handle.seek(self.valid)
            carry = b""
            while True:
                chunk = handle.read(min(BATCH_BYTES, left)) if left > 0 else b""
                left -= len(chunk)
                final = left <= 0 or not chunk
                data = carry + chunk
                cut = len(data) if final else data.rfind(b"\n") + 1
                data, carry = data[:cut], data[cut:]
                pieces = data.split(b"\n")
                batch = [piece + b"\n" for piece in pieces[:-1]]
                if pieces[-1]:
                    batch.append(pieces[-1])
                yield batch, final
                if final:
                    return

    def _parsed(self, batch: list[bytes], final: bool) -> list[dict[str, Any] | None]:
        """The batch's objects (None for a blank line); shorter than the batch when its
        last line is torn. One json call for the batch, line by line when that fails."""
        body = [raw for raw in batch if raw.strip()]
        try:
            objs = json.loads(b"[" + b",".join(body) + b"]")
        except ValueError:
            objs = None
        if objs is not None and len(objs) == len(body) and all(
                type(o) is dict and "event" in o for o in objs):
            found = iter(objs)
            return [next(found) if raw.strip() else None for raw in batch]
        return self._one_by_one(batch, final)

    def _one_by_one(self, batch: list[bytes], final: bool) -> list[dict[str, Any] | None]:
        out: list[dict[str, Any] | None] = []
        for index, raw in enumerate(batch):
            number = self.lines + 1 + index
            if not raw.strip():
                out.append(None)
                continue
            try:
                obj = json.loads(raw)
                if not isinstance(obj, dict) or "event" not in obj:
                    raise ValueError("not an event object")
            except ValueError as exc:
                if final and not any(r.strip() for r in batch[index + 1:]):
                    break  # a torn tail: the controller was killed mid-write
                raise JournalCorrupt(
                    f"{self.path}:{number} is not a journal event ({exc}); repair that line, "
                    "or move the whole search.dir aside (its checkpoints and results belong "
                    "to this journal) to start afresh"
                ) from exc
            out.append(obj)
        return out


def data_ends_with_newline(path: Path, length: int) -> bool:
    with open(path, "rb") as handle:
        handle.seek(length - 1)
        return handle.read(1) == b"\n"


class Journal:
    """Appends events durably. Open it only while holding the search directory's lock.
    It holds no events, only their `facts` (model.journal_facts): with `facts` of its first
    `offset` bytes (`lines` lines, a state snapshot's), it reads only the rest."""

    def __init__(self, path: Path, facts: JournalFacts | None = None, offset: int = 0,
                 lines: int = 0) -> None:
        self.path = path
        self.facts = copy.deepcopy(facts) if facts is not None else JournalFacts()
        scan = Scan(path, offset, lines) if facts is not None else Scan(path)
        for _ in self.facts.watch(scan):
            pass
        # how much of the file the events are (a state snapshot records what it covers)
        valid, self.lines = scan.valid, scan.lines
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "ab")
        if self._file.tell() != valid:
            self._file.truncate(valid)  # cut a torn tail before appending after it
            self._file.seek(valid)
        if valid and not data_ends_with_newline(path, valid):
            self._file.write(b"\n")  # a complete last event that lost only its newline
            valid += 1
        self.offset = valid

    def append(self, event: Event | str, /, **fields: Any) -> Event:
        """Write `event` (or the event `build` makes of a name and fields: a name or field
        no event has raises before anything is written), stamped with the time, what looks
        like a secret in its text redacted (common.redact); return what was written."""
        typed = build(event, **fields) if isinstance(event, str) else event
        return self.append_all([typed])[0]

    def append_all(self, batch: list[Event]) -> list[Event]:
        """Write `batch` as ONE write of whole lines and ONE fsync (a group commit: a poll
        that saw a hundred jobs change waits for one fsync, not a hundred); return what was
        written, each event as `append` would. A kill mid-write tears at most the batch's
        last line written: replay keeps the events before it, as after any torn append."""
        if not batch:
            return []
        now = round(time.time(), 3)
        written, lines = [], []
        for event in batch:
            typed = replace(event, t=now)
            encoded = encode(typed)
            scrubbed = redact.strings(encoded)
            if scrubbed != encoded:  # the event applied is the one written: a replay matches
                encoded, typed = scrubbed, decode(scrubbed, str(self.path))
            lines.append(json.dumps(encoded, sort_keys=True, separators=(",", ":")) + "\n")
            written.append(typed)
        data = "".join(lines).encode("utf-8")
        self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())
        self.offset, self.lines = self.offset + len(data), self.lines + len(batch)
        for typed in written:
            self.facts.apply(typed)
        return written

    def close(self) -> None:
        self._file.close()

    @property
    def events(self) -> list[Event]:
        """Every event, read back from the file (for tests and small journals: the
        controller asks `facts`)."""
        return list(Scan(self.path, 0, 0))

    def __iter__(self) -> Iterator[Event]:
        return iter(Scan(self.path, 0, 0))
