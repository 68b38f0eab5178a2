"""A search folder read from outside its controller: what the journal says, and whether a
controller is running the search. `run`'s resume check, `status`, `watch`, `ls`, `clean` and
`cancel` all ask here, so that they cannot disagree on either.

Theory of operation: the journal is read without the lock (a torn last line is left out), so
any number of readers on any host change nothing. Whether a controller is alive is the
lease's rule (journal.lease.judge): on the holder's own host its pid is asked; from another
host the lease (renewed every few seconds) or the journal (a heartbeat when nothing else
was journaled for HEARTBEAT_S) must be younger than STALE_AFTER_S. A second controller is
refused by the same rule, so `status` and `run` cannot disagree. (A controller detached as a
SLURM job that waits in the queue after a requeue holds no lease: `status` asks SLURM about
it, engine.detach.)
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from orchestrator.common import layout
from orchestrator.decide.stop_rule import Mode, Rule
from orchestrator.errors import OrchestratorError, SearchDirError
from orchestrator.journal import state_snapshot
from orchestrator.journal.lease import judge, pid_is
from orchestrator.journal.lock import detached_job_id, read_holder
from orchestrator.journal.state_snapshot import Folded
from orchestrator.model.events import CodeSnapshot
from orchestrator.model.state import SearchState

HEARTBEAT_S = 60.0  # the controller journals a heartbeat when nothing else was for this long
# a local detached controller's log this young, and no journal yet: it is still starting
STARTING_S = 60.0


class Replay(NamedTuple):
    """A search's journal, read: its state, its stop rule, its last event's time and its
    last code snapshot."""

    state: SearchState
    rule: Rule
    last_t: float
    code: CodeSnapshot | None


def read(search_dir: Path) -> Folded:
    """The journal folded, however few its events (an empty journal: none), from the state
    snapshot and the journal's tail when a snapshot matches (journal.state_snapshot)."""
    return state_snapshot.fold(search_dir)


def replay(search_dir: Path) -> Replay:
    """The search in `search_dir`. No search there is a usage error (exit 2), never an exit
    status a script could take for the search's own (1: ended without the target)."""
    path = layout.journal_path(search_dir)
    if not path.exists():
        raise SearchDirError(
            f"{path} does not exist; is {search_dir} a search.dir? Give the folder that "
            "`orchestrator run ... search.dir=...` wrote, or run the search first")
    folded = read(search_dir)
    state = folded.state
    if state.started is None:
        raise SearchDirError(f"{path} holds no search yet; run the search first")
    search = state.settings()["search"]
    # a journal from before search.fall_grace_steps meant 0
    rule = Rule(search["target"], Mode(search["mode"]), search["patience"], search["min_delta"],
                int(search.get("fall_grace_steps", 0)))
    return Replay(state, rule, folded.last_t, folded.code)


def ended(search_dir: Path) -> str | None:
    """The search's final status once it has ended and its outcome (summary.json) is
    written; None before."""
    state = read(search_dir).state
    if state.finished is None:
        return None
    try:
        written = layout.summary_path(search_dir).stat().st_mtime >= state.finished.t - 1.0
    except OSError:
        return None
    return state.finished.status.value if written else None


def journal_mtime(search_dir: Path) -> float:
    """The time of the journal's last write (0 when there is none): a live controller
    heartbeats, so this is as good as its last event's time, and cheaper to read."""
    try:
        return layout.journal_path(search_dir).stat().st_mtime
    except OSError:
        return 0.0


def detached(search_dir: Path) -> bool:
    """Was the search's controller detached as a SLURM job (`run --detach`)? It may wait in
    the queue, holding no lock, after a requeue."""
    return layout.controller_job_path(search_dir).exists()


@dataclass(frozen=True)
class Liveness:
    """Is a controller running the search, a line saying how that is known, and the holder
    of the lock as recorded (None when none was)."""

    alive: bool
    line: str
    holder: dict[str, Any] | None


liveness = judge  # the rule, from what the files say (journal.lease)


def controller(search_dir: Path, last_event_t: float, now: float | None = None) -> Liveness:
    """Whether a controller runs the search in `search_dir` (the rule: `liveness`)."""
    holder = read_holder(search_dir)
    alive, line = liveness(holder, last_event_t, time.time() if now is None else now,
                           socket.gethostname(), pid_is)
    return Liveness(alive, line, holder)


class Starting(NamedTuple):
    """A controller starting a search: a line for `status`, who for `ls`, and its SLURM
    job when it was detached as one (None otherwise)."""

    line: str
    who: str
    job: str | None = None


def starting(search_dir: Path, now: float | None = None) -> Starting | None:
    """How a controller is starting the search, while its journal holds none yet (`run
    --detach` returned; the controller composes, or its SLURM job waits in the queue); None
    when nothing is starting. Files only: whether the detached SLURM job is still queued is
    for the caller to ask."""
    now = time.time() if now is None else now
    if has_search(search_dir):
        return None
    holder = read_holder(search_dir)
    found = controller(search_dir, float(holder.get("since", 0.0)) if holder else 0.0, now)
    if found.alive and holder is not None:
        host = holder.get("host", "?")
        return Starting(f"controller starting (pid {holder['pid']} on {host})",
                        f"{holder['pid']}@{host}")
    job = detached_job_id(search_dir)
    if job is not None:
        return Starting(f"controller job {job} (run --detach)", f"slurm job {job}", job)
    try:
        young = now - layout.controller_log_path(search_dir).stat().st_mtime < STARTING_S
    except OSError:
        young = False
    return Starting("controller starting (run --detach; controller.log)", "starting") if (
        young) else None


def has_search(search_dir: Path) -> bool:
    """Does the journal hold a search (its first event)?"""
    try:
        return read(search_dir).state.started is not None
    except (OSError, ValueError, OrchestratorError):
        return False
