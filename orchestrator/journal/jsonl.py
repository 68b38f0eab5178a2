"""The search's journal: an append-only JSON-lines file, the single source of truth.

Theory of operation: every fact the controller learns or decides (a submission with its job
id, a state change, a result, a decision) is appended here and fsync'ed BEFORE the
controller acts on it. Replaying the journal from the top therefore rebuilds exactly what
the controller knew when it stopped, however it stopped. A kill can tear only the last
line: replay drops a last line that does not parse and the next append first cuts it off,
so the file stays valid JSON lines. A bad line anywhere else is real corruption and is
reported, never skipped silently, and so is a line that parses but holds no event this
version knows (`events.decode`): a replay never skips what it cannot read.
"""

from __future__ import annotations

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


def read_events(path: Path) -> tuple[list[Event], int]:
    """All events, and the byte length of the valid prefix (a torn last line excluded)."""
    if not path.exists():
        return [], 0
    data = path.read_bytes()
    events: list[Event] = []
    valid = 0
    lines = data.split(b"\n")
    for number, raw in enumerate(lines, start=1):
        is_last = number == len(lines)
        if not raw.strip():
            valid += len(raw) + (0 if is_last else 1)
            continue
        try:
            obj = json.loads(raw)
            if not isinstance(obj, dict) or "event" not in obj:
                raise ValueError("not an event object")
        except ValueError as exc:
            if is_last or (number == len(lines) - 1 and not lines[-1].strip()):
                break  # a torn tail: the controller was killed mid-write
            raise JournalCorrupt(
                f"{path}:{number} is not a journal event ({exc}); repair that line, or move the "
                "whole search.dir aside (its checkpoints and results belong to this journal) "
                "to start afresh"
            ) from exc
        events.append(decode(obj, f"{path}:{number}"))
        valid += len(raw) + (0 if is_last else 1)
    return events, valid


def data_ends_with_newline(path: Path, length: int) -> bool:
    with open(path, "rb") as handle:
        handle.seek(length - 1)
        return handle.read(1) == b"\n"


class Journal:
    """Appends events durably. Open it only while holding the search directory's lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events, valid = read_events(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "ab")
        if self._file.tell() != valid:
            self._file.truncate(valid)  # cut a torn tail before appending after it
            self._file.seek(valid)
        if valid and not data_ends_with_newline(path, valid):
            self._file.write(b"\n")  # a complete last event that lost only its newline

    def append(self, event: Event | str, /, **fields: Any) -> Event:
        """Write `event` (or the event `build` makes of a name and fields: a name or field
        no event has raises before anything is written), stamped with the time, what looks
        like a secret in its text redacted (common.redact); return what was written."""
        typed = build(event, **fields) if isinstance(event, str) else event
        typed = replace(typed, t=round(time.time(), 3))
        encoded = encode(typed)
        scrubbed = redact.strings(encoded)
        if scrubbed != encoded:  # the event applied is the one written: a replay matches
            encoded, typed = scrubbed, decode(scrubbed, str(self.path))
        line = json.dumps(encoded, sort_keys=True, separators=(",", ":")) + "\n"
        self._file.write(line.encode("utf-8"))
        self._file.flush()
        os.fsync(self._file.fileno())
        self.events.append(typed)
        return typed

    def close(self) -> None:
        self._file.close()

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)
