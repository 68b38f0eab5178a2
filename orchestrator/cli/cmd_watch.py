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

import argparse
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from orchestrator import exit_codes
from orchestrator.common import layout
from orchestrator.errors import SearchDirError
from orchestrator.journal import search_folder, state_snapshot
from orchestrator.journal.jsonl import BATCH_BYTES
from orchestrator.model.events import Event, decode
from orchestrator.model.state import SearchState

DETACHED_GONE_AFTER_S = 900.0
HELP = ("follow a running search's live view from any terminal (journal and files alone; no "
        "scheduler call); exits with the search's exit status when it ends")
EXIT_STATUSES = (exit_codes.TARGET_REACHED, exit_codes.NOT_REACHED, exit_codes.USAGE,
                 exit_codes.FAILED, exit_codes.INTERRUPTED, exit_codes.CANCELLED,
                 exit_codes.KEYBOARD_INTERRUPT)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path)
    parser.add_argument("--plain", action="store_true",
                        help="one line per event even on a terminal")
    parser.add_argument("--interval", type=float, default=1.0,
                        help="seconds between reads of the journal (default 1)")


def run(args: argparse.Namespace) -> int:
    from orchestrator.view.live import make_view

    view = make_view(args.plain)
    try:
        code, line = watch(args.dir, view, interval_s=args.interval)
    finally:
        view.close()
    print(line)
    return code


class JournalTail:
    """The journal's events, read incrementally from a byte offset, a batch of lines at a
    time: a long journal with no snapshot is folded without being held."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.line = path, 0, 0

    def new_events(self) -> list[Event]:
        return list(self.stream())

    def stream(self) -> Iterator[Event]:
        """The events of the complete lines written since the last read (a torn or
        unfinished last line waits); iterate it to its end before the next read."""
        try:
            handle = open(self.path, "rb")
        except FileNotFoundError:
            return
        with handle:
            handle.seek(self.offset)
            carry = b""
            while chunk := handle.read(BATCH_BYTES):
                data = carry + chunk
                cut = data.rfind(b"\n") + 1
                complete, carry = data[:cut], data[cut:]
                self.offset += len(complete)
                for raw in complete.split(b"\n")[:-1]:  # the split's empty tail dropped
                    self.line += 1
                    if raw.strip():
                        yield decode(json.loads(raw), f"{self.path}:{self.line}")


def watch(search_dir: Path, view: object, interval_s: float = 1.0,
          gone_after_s: float = 15.0, start_wait_s: float = 120.0,
          alive: Callable[[Path, float], bool] | None = None) -> tuple[int, str]:
    """Follow the search until it ends; the exit code and a closing line."""
    path = layout.journal_path(search_dir)
    _wait_for_journal(path, start_wait_s, interval_s)
    tail, state = _start(search_dir)
    alive = alive or controller_alive
    if search_folder.detached(search_dir):
        # a detached SLURM controller requeued before its time limit waits in the queue
        gone_after_s = max(gone_after_s, DETACHED_GONE_AFTER_S)
    last_alive = time.monotonic()
    while True:
        for event in tail.stream():
            state.apply(event)
            view.event(event, state)  # type: ignore[attr-defined]
        view.refresh(state)  # type: ignore[attr-defined]
        done = search_folder.ended(search_dir) if state.finished is not None else None
        if done is not None:
            return exit_codes.of_status(done), f"search ended: {done}"
        if alive(search_dir, search_folder.journal_mtime(search_dir)):
            last_alive = time.monotonic()
        elif time.monotonic() - last_alive >= gone_after_s:
            return exit_codes.INTERRUPTED, ("no controller runs this search; run the same "
                                            "command again to resume it")
        time.sleep(interval_s)


def _start(search_dir: Path) -> tuple[JournalTail, SearchState]:
    """Where to start following: the top of the journal, each event told as it was; or, for
    a long journal, the controller's state snapshot (journal.state_snapshot), so that the
    first frame comes in a second and the events before it are not told one by one."""
    tail = JournalTail(layout.journal_path(search_dir))
    start = state_snapshot.load(search_dir)
    if start is None or start.lines <= state_snapshot.SNAPSHOT_EVERY:
        return tail, SearchState()
    tail.offset, tail.line = start.offset, start.lines
    return tail, start.state


def _wait_for_journal(path: Path, wait_s: float, interval_s: float) -> None:
    """A detached controller may not have opened its journal yet."""
    deadline = time.monotonic() + wait_s
    while not path.exists():
        starting = (layout.controller_log_path(path.parent).exists()
                    or search_folder.detached(path.parent))
        if not starting or time.monotonic() >= deadline:
            raise SearchDirError(
                f"{path} does not exist; is {path.parent} a search.dir? Give the folder that "
                "`orchestrator run ... search.dir=...` wrote, or run the search first")
        time.sleep(interval_s)


def controller_alive(search_dir: Path, last_event_t: float) -> bool:
    """`status`'s test (journal.search_folder.liveness), from the files alone."""
    return search_folder.controller(search_dir, last_event_t).alive
