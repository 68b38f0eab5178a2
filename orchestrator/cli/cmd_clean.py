"""`orchestrator clean DIR --keep ...`: free the disk of a search that has ended.

Theory of operation: clean refuses a search that a controller may still run (the search
folder's lock is held, or from another host its journal's heartbeat is recent) and one that
has not ended (a resume would still want its checkpoints): one line, exit 2. Otherwise it
takes the lock, so no controller starts meanwhile, and deletes through the same protocol as
a running search's retention (`deletion.Retention`): journaled intent, marker first, the
folder, journaled deletion; a killed clean is finished by the next clean or run. It only
ever deletes `trials/NNN/checkpoint-<step>` folders: the journal, results, reports and
`best/` stay. `--keep best` deletes every checkpoint once `best/` holds the copy of the
best one (without a `best/`, the best checkpoint is kept); `--keep N` keeps each trial's N
best; `--keep-optimizer all` keeps the training state of what is kept.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.common import layout
from orchestrator.config.settings import SearchSettings
from orchestrator.decide import retention
from orchestrator.decide.stop_rule import Rule
from orchestrator.engine.deletion import Retention
from orchestrator.errors import SearchDirError
from orchestrator.journal import search_folder, state_snapshot
from orchestrator.journal.jsonl import Journal
from orchestrator.journal.lock import SearchLock
from orchestrator.model.events import Event
from orchestrator.model.ledger import ALL, human
from orchestrator.model.state import SearchState

HELP = "delete an ended search's checkpoints (best/ stays)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path)
    parser.add_argument("--keep", default="best",
                        help="best (default: every checkpoint; best/ holds the copy), N (each "
                        "trial's N best), or all (only finish a killed deletion)")
    parser.add_argument("--keep-optimizer", choices=("latest", "all"), default="latest",
                        help="all: what is kept keeps its optimizer and RNG state")


def run(args: argparse.Namespace) -> int:
    print(clean(args.dir, args.keep, args.keep_optimizer), end="")
    return 0


def parse_keep(keep: str) -> int | str:
    if keep in ("best", "all"):
        return keep
    if keep.isdigit() and int(keep) >= 1:
        return int(keep)
    raise SearchDirError(f"--keep {keep}: give best, all, or a number >= 1 (the best "
                         "checkpoints kept per trial)")


def clean(search_dir: Path, keep: str, keep_optimizer: str) -> str:
    """Clean an ended search; returns what it freed. SearchDirError (exit 2) on a running
    or unfinished search."""
    wanted = parse_keep(keep)
    state, rule, last_t, _ = search_folder.replay(search_dir)
    found = search_folder.controller(search_dir, last_t)
    if found.alive:
        raise SearchDirError(f"{search_dir} is running ({found.line}); clean it once it ended")
    if state.finished is None:
        raise SearchDirError(f"{search_dir} has not ended (interrupted): resume it with the "
                             "same run command, or let it end, then clean")
    with SearchLock(search_dir):
        journal = Journal(layout.journal_path(search_dir))
        try:
            return _clean(search_dir, journal, rule, wanted, keep_optimizer)
        finally:
            journal.close()


def _clean(search_dir: Path, journal: Journal, rule: Rule, keep: int | str,
           keep_optimizer: str) -> str:
    state = state_snapshot.fold(search_dir).state  # the journal's, opened under the lock
    before = state.disk.freed

    def record(event: Event) -> Event:
        event = journal.append(event)
        state.apply(event)
        return event

    search = SearchSettings(dir=str(search_dir), keep=1 if keep == "best" else keep,
                            keep_optimizer=keep_optimizer)
    cleaner = Retention(search, state, record, rule)
    cleaner.tick()  # measures what is not yet, finishes a killed deletion, applies keep
    if keep == "best" and (layout.best_dir(search_dir) / layout.BEST_INFO).is_file():
        cleaner.delete(_all_checkpoints(state))  # best/ holds the copy of the best one
    freed = state.disk.freed - before
    return (f"freed {human(freed)}; checkpoints left: {human(state.disk.bytes)} "
            f"(best/ untouched)\n")


def _all_checkpoints(state: SearchState) -> list[retention.Removal]:
    return [retention.Removal(t.trial, step, path, ALL)
            for t in state.trials.values() for step, path in sorted(t.checkpoints.items())
            if not state.disk.gone((t.trial, step)) and (t.trial, step) not in state.disk.refused
            and not retention.in_flight(state, t, step)]
