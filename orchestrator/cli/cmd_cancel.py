"""`orchestrator cancel DIR`, the command's side (the protocol: engine.cancel_request)."""

from __future__ import annotations

import time
from pathlib import Path

from orchestrator import exit_codes
from orchestrator.engine.cancel_request import write_request
from orchestrator.errors import SearchDirError


def cancel(search_dir: Path, wait_s: float, poll_s: float = 1.0) -> tuple[str, int]:
    """`orchestrator cancel`: the text to print and the exit code (CANCELLED once it is
    done; an ended search keeps its own; RUNNING when a live controller has not finished
    within `wait_s`)."""
    from orchestrator.engine import app

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
    from orchestrator.journal.jsonl import read_events
    from orchestrator.model.state import SearchState

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
