"""`orchestrator cancel DIR`: end a running search from outside, through a request file.

Theory of operation. The caller writes `layout.cancel_request_path` (atomically: a fresh
request id, who asked, when) and then makes sure some controller carries it out:
- a live controller checks for the file once a tick (one stat), journals `cancel_requested`
  (journal first), then ends the search as `cancelled`: its finish cancels every job,
  waits for them to end and writes the outcome, as any end does;
- with none alive, `cancel` takes the search's lock itself and runs the controller with
  the journal's own settings: its start re-attaches to the journal's jobs by id and job
  name (a rerun's recovery), and its first tick finds the request. Nothing here talks to
  a scheduler directly: the `Scheduler` interface does, through the controller.
Idempotent and safe under kill -9: the request file stays until a controller has ended the
search after journaling it, so whichever controller runs next (a rerun, or `cancel` again)
carries it out; an ended search is left as it is. A request journaled and followed by the
search's end is spent, so a search later reopened by a rerun is not cancelled again by it.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from orchestrator import exit_codes, layout
from orchestrator.errors import SearchDirError
from orchestrator.events import CancelRequested, Event, SearchEnded
from orchestrator.fsutil import atomic_write_json

REASON = "cancelled by `orchestrator cancel`"


def write_request(search_dir: Path) -> str:
    """Ask for the search's end; returns the request's id."""
    request = uuid.uuid4().hex[:12]
    atomic_write_json(layout.cancel_request_path(search_dir),
                      {"request": request, "by": f"pid {os.getpid()} on {socket.gethostname()}",
                       "t": time.time()})
    return request


def read_request(search_dir: Path) -> dict[str, Any] | None:
    import json

    try:
        data = json.loads(layout.cancel_request_path(search_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("request"), str) else None


def requested(search_dir: Path, journal: Sequence[Event],
              record: Callable[[Event], Event]) -> bool:
    """The controller's check, once a tick: is a cancel pending? A new request is journaled
    here (before the controller acts on it); one journaled and followed by the search's end
    is spent."""
    if not layout.cancel_request_path(search_dir).exists():
        return False  # the common case: one stat
    request = read_request(search_dir)
    if request is None:
        return False
    seen = [i for i, e in enumerate(journal)
            if isinstance(e, CancelRequested) and e.request == request["request"]]
    if seen:
        return not any(isinstance(e, SearchEnded) for e in journal[seen[-1]:])
    record(CancelRequested(request=request["request"], by=str(request.get("by", ""))))
    return True


def cancel(search_dir: Path, wait_s: float, poll_s: float = 1.0) -> tuple[str, int]:
    """`orchestrator cancel`: the text to print and the exit code (CANCELLED once it is
    done; an ended search keeps its own; RUNNING when a live controller has not finished
    within `wait_s`)."""
    from orchestrator import app

    _, state, _ = app._replay(search_dir)
    if state.finished is not None:
        return (f"the search already ended ({state.finished.status}); nothing to cancel\n",
                exit_codes.of_status(state.finished.status.value))
    write_request(search_dir)
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        done = ended(search_dir)
        if done is not None:
            return f"status: {done}\n", exit_codes.of_status(done)
        try:
            status = app.carry_out(search_dir)  # none alive: this process is the controller
            return f"status: {status}\n", exit_codes.of_status(status)
        except SearchDirError as exc:
            if "in use by" not in str(exc):
                raise
        if not told:
            print("a live controller runs the search: asked it to cancel; waiting for it "
                  "to end", flush=True)
            told = True
        if time.monotonic() >= deadline:
            return (f"the controller was asked to cancel and has not ended yet; follow it "
                    f"with `orchestrator watch {search_dir}`\n", exit_codes.RUNNING)
        time.sleep(poll_s)


def ended(search_dir: Path) -> str | None:
    """The search's final status once it has ended and its outcome (summary.json) is
    written; None before. Reads the journal without a lock."""
    from orchestrator.journal import read_events
    from orchestrator.state import SearchState

    events, _ = read_events(search_dir / "journal.jsonl")
    state = SearchState.replay(events)
    if state.finished is None:
        return None
    summary = search_dir / "summary.json"
    try:
        written = summary.stat().st_mtime >= state.finished.t - 1.0
    except OSError:
        return None
    return state.finished.status.value if written else None
