"""`orchestrator ls [ROOT]`: one line per search found under ROOT, from files alone.

A search is a folder with a journal, or with a detached controller's files
(controller-job.json, controller.log: `starting` until its journal holds the search); the walk
does not descend into one (its trials and job folders hold no other search) nor into hidden
folders. Each line: the folder, the status, the controller (pid@host, the SLURM job of a
detached controller, or none), the best value so far, trials, jobs running and pending as last
journaled, and how long ago the journal was last written. No scheduler call, no lock.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from orchestrator.common import layout
from orchestrator.errors import OrchestratorError
from orchestrator.journal import search_folder
from orchestrator.model.transitions import JobState

HELP = ("one line per search under ROOT (default: here): status, controller, best, trials, "
        "jobs running/pending, last event")
HEADER = ("search", "status", "controller", "best", "trials", "running", "pending",
          "last event")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", type=Path, nargs="?", default=Path("."))
    parser.add_argument("--json", action="store_true", help="a JSON list instead of a table")


def run(args: argparse.Namespace) -> int:
    print(listing(args.root, args.json), end="")
    return 0


# a search folder's own files: a journal, or a detached controller that has not written it yet
MARKS = (layout.JOURNAL_FILE, layout.CONTROLLER_JOB_FILE, layout.CONTROLLER_LOG_FILE)


def searches(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        if any(mark in files for mark in MARKS):
            dirs[:] = []
            yield Path(folder)
        else:
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))


def controller_of(search_dir: Path, last_t: float, now: float) -> str:
    """Who runs the search, as the files tell: a live local pid, a controller on another
    host or in a detached SLURM job whose journal is recent, or none."""
    found = search_folder.controller(search_dir, last_t, now)
    holder = found.holder
    if not found.alive or holder is None:
        return "none"
    job = holder.get("slurm_job_id")
    return f"slurm job {job}" if job else f"{holder['pid']}@{holder.get('host', '?')}"


def row(search_dir: Path, root: Path, now: float) -> tuple[str, ...]:
    name = str(search_dir.relative_to(root)) if search_dir != root else "."
    try:
        folded = search_folder.read(search_dir)
    except (OrchestratorError, ValueError, OSError) as exc:
        return (name, f"unreadable: {exc}"[:60], "-", "-", "-", "-", "-", "-")
    state, last_t = folded.state, folded.last_t
    if state.started is None:
        start = search_folder.starting(search_dir, now)
        if start is None:
            return (name, "empty", "-", "-", "0", "0", "0", "-")
        return (name, "starting", start.who, "-", "0", "0", "0", "-")
    value = state.best_value()
    best = "-" if value is None else f"{value:.4f}"
    live = state.live_jobs()
    running = sum(1 for j in live if j.state is JobState.RUNNING)
    return (name, state.status.value, controller_of(search_dir, last_t, now), best,
            str(len(state.trials)), str(running), str(len(live) - running),
            _age(now - last_t))


def _age(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 120:
        return f"{s}s ago"
    if s < 7200:
        return f"{s // 60}m ago"
    return f"{s // 3600}h ago" if s < 172800 else f"{s // 86400}d ago"


def listing(root: Path, as_json: bool = False) -> str:
    now = time.time()
    rows = [row(d, root, now) for d in searches(root)]
    if as_json:
        return json.dumps([dict(zip(HEADER, r, strict=True)) for r in rows], indent=2) + "\n"
    if not rows:
        return f"no search under {root}\n"
    table = [HEADER, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]
    return "".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n"
                   for r in table)

