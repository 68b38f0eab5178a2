"""`orchestrator watch DIR`: the live view of a search, from any terminal.

Theory of operation: the journal is the one source of truth and the view is a fold of it,
so a watcher needs nothing else. It reads the journal's new complete lines each interval
(a torn last line waits for the next read), applies each event to its own `SearchState`
and shows it in the same view `run` uses (rich on a terminal, a line per event with
`--plain`). It makes no scheduler call and takes no lock, so any number of watchers, on any
host that sees the folder, change nothing. It ends when the search has ended and its
outcome is written, with the exit code `run` would have returned; or, when no controller
has run the search for `gone_after_s` (15 minutes for a controller detached as a SLURM job:
a requeued one waits in the queue), with INTERRUPTED (5), as `status` says it.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

from orchestrator import exit_codes
from orchestrator.cli.cmd_cancel import ended
from orchestrator.common import layout
from orchestrator.errors import SearchDirError
from orchestrator.journal.lock import is_controller, read_holder
from orchestrator.model.events import Event, decode
from orchestrator.model.state import SearchState

JOURNAL = "journal.jsonl"
DETACHED_GONE_AFTER_S = 900.0


class JournalTail:
    """The journal's events, read incrementally from a byte offset."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.line = path, 0, 0

    def new_events(self) -> list[Event]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        complete = data[:data.rfind(b"\n") + 1]  # a torn or unfinished last line waits
        self.offset += len(complete)
        found: list[Event] = []
        for raw in complete.split(b"\n"):
            self.line += 1
            if raw.strip():
                found.append(decode(json.loads(raw), f"{self.path}:{self.line}"))
        self.line -= 1  # the split's empty tail after the last newline
        return found


def watch(search_dir: Path, view: object, interval_s: float = 1.0,
          gone_after_s: float = 15.0, start_wait_s: float = 120.0,
          alive: Callable[[Path, float], bool] | None = None) -> tuple[int, str]:
    """Follow the search until it ends; the exit code and a closing line."""
    path = search_dir / JOURNAL
    _wait_for_journal(path, start_wait_s, interval_s)
    tail, state = JournalTail(path), SearchState()
    alive = alive or controller_alive
    if layout.controller_job_path(search_dir).exists():
        # a detached SLURM controller requeued before its time limit waits in the queue
        gone_after_s = max(gone_after_s, DETACHED_GONE_AFTER_S)
    last_alive = time.monotonic()
    while True:
        for event in tail.new_events():
            state.apply(event)
            view.event(event, state)  # type: ignore[attr-defined]
        view.refresh(state)  # type: ignore[attr-defined]
        done = ended(search_dir) if state.finished is not None else None
        if done is not None:
            return exit_codes.of_status(done), f"search ended: {done}"
        last_t = state_last_t(path)
        if alive(search_dir, last_t):
            last_alive = time.monotonic()
        elif time.monotonic() - last_alive >= gone_after_s:
            return exit_codes.INTERRUPTED, ("no controller runs this search; run the same "
                                            "command again to resume it")
        time.sleep(interval_s)


def _wait_for_journal(path: Path, wait_s: float, interval_s: float) -> None:
    """A detached controller may not have opened its journal yet."""
    deadline = time.monotonic() + wait_s
    while not path.exists():
        starting = any(p.exists() for p in (layout.controller_log_path(path.parent),
                                            layout.controller_job_path(path.parent)))
        if not starting or time.monotonic() >= deadline:
            raise SearchDirError(
                f"{path} does not exist; is {path.parent} a search.dir? Give the folder that "
                "`orchestrator run ... search.dir=...` wrote, or run the search first")
        time.sleep(interval_s)


def state_last_t(path: Path) -> float:
    """The time of the journal's last write (its mtime): a live controller heartbeats."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def controller_alive(search_dir: Path, last_event_t: float) -> bool:
    """`status`'s test (orchestrator.engine.app.liveness): the holder's pid on its own host, a
    recent journal from another host."""
    from orchestrator.engine.app import liveness

    alive, _ = liveness(read_holder(search_dir), last_event_t, time.time(),
                        socket.gethostname(), is_controller)
    return alive
