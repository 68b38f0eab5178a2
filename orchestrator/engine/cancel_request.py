"""`orchestrator cancel DIR`: end a running search from outside, through a request file.
(The controller's side; the command's is `cancel_command`.)

Theory of operation. The caller writes `layout.cancel_request_path` (atomically: a fresh
request id, who asked, when) and then makes sure some controller carries it out:
- a live controller checks for the file once a tick (one stat), journals `cancel_requested`
  (journal first), then ends the search as `cancelled`: its finish cancels every job,
  waits for them to end and writes the outcome, as any end does;
- with none alive (journal.lease: a live controller's lease refuses it from any host, so
  `cancel` only asks), `cancel` takes the search's lease itself and runs the controller with
  the journal's own settings: its start re-attaches to the journal's jobs by id and job
  name (a rerun's recovery), and its start finds the request before it settles a
  half-journaled submission, so that one never submitted is journaled abandoned, not
  submitted to be cancelled. Nothing here talks to a scheduler directly: the `Scheduler`
  interface does, through the controller.
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

from orchestrator.common import layout
from orchestrator.common.fsutil import atomic_write_json
from orchestrator.model.events import CancelRequested, Event
from orchestrator.model.journal_facts import JournalFacts

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


def requested(search_dir: Path, journal: JournalFacts | Sequence[Event],
              record: Callable[[Event], Event]) -> bool:
    """The controller's check, once a tick: is a cancel pending? A new request is journaled
    here (before the controller acts on it); one journaled and followed by the search's end
    is spent. `journal`: its facts (model.journal_facts), or its events."""
    if not layout.cancel_request_path(search_dir).exists():
        return False  # the common case: one stat
    request = read_request(search_dir)
    if request is None:
        return False
    facts = journal if isinstance(journal, JournalFacts) else JournalFacts.of(journal)
    spent = facts.cancels.get(request["request"])
    if spent is not None:
        return not spent
    record(CancelRequested(request=request["request"], by=str(request.get("by", ""))))
    return True
