"""What `orchestrator run` refuses in a search folder before it submits anything: another
search's journal (other settings), and trial folders its journal never started. `run` checks
under the search's lock; `run --detach` checks before it starts the controller (which checks
again), since a detached controller could only say it in its log."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.common import layout
from orchestrator.common.redact import recorded
from orchestrator.config.settings import Settings
from orchestrator.decide.policy import changed_settings
from orchestrator.errors import ConfigError, SearchDirError
from orchestrator.journal import state_snapshot
from orchestrator.journal.jsonl import Journal
from orchestrator.model.state import SearchState


def check(state: SearchState, settings: Settings, force: bool) -> None:
    """Every refusal below, for the search in settings.search.dir whose journal folds to
    `state` (an empty state: no journal)."""
    check_same_search(state, settings, force)
    check_own_trials(state, Path(settings.search.dir))


# the settings that make two searches different searches; resources, intervals and limits
# may change between runs of the same search
IDENTITY = ("data", "model", "train", "infer", "search.target", "search.metric", "search.mode",
            "search.patience", "search.min_delta", "search.space", "search.sampler",
            "search.sampler_seed", "executor.name", "search.split")


def check_same_search(journal: Journal | SearchState, settings: Settings, force: bool) -> None:
    """ConfigError when the journal (or its fold) holds another search than `settings`."""
    state = journal if isinstance(journal, SearchState) else state_snapshot.fold(
        journal.path.parent).state
    if state.started is None or force:
        return
    # the latest settings: a search continued with --force-resume is that search now
    before, now = recorded(state.settings()), recorded(settings)
    changed = list(changed_settings(before, now, IDENTITY))
    if changed:
        raise ConfigError([
            f"{settings.search.dir} holds a search with different settings "
            f"({', '.join(changed)}); use another search.dir, or pass --force-resume to "
            "continue it with the new settings"
        ])
    limits = changed_settings(before, now)
    if state.finished is not None and limits:
        # a finished search only prints its outcome: say how to make the new limits count
        changes = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in limits.items())
        raise ConfigError([
            f"{settings.search.dir} holds a search that ended ({state.finished.status}) "
            f"with other settings ({changes}); pass --force-resume to continue it with the "
            "new ones, or use another search.dir"
        ])


def check_own_trials(state: SearchState, search_dir: Path) -> None:
    """SearchDirError when trials/ holds a trial folder, not empty, of a trial the journal
    never started. Only an earlier search leaves one (its journal deleted, or cut back by
    hand): the controller journals a trial before any job writes its folder. A new trial of
    that number would resume training from its checkpoints and take its results as its own
    (and its evaluator queues, evaluators/, the tasks done), so the whole folder goes aside."""
    folder = layout.trials_dir(search_dir)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return
    stray = [e.name for e in entries if (t := layout.trial_of_dir(e.name)) is not None
             and t not in state.trials and _holds_something(e)]
    if stray:
        named = ", ".join(stray[:5]) + (f" and {len(stray) - 5} more" if len(stray) > 5 else "")
        raise SearchDirError(
            f"{folder} holds folders of trials its journal never started ({named}): an "
            "earlier search's, whose checkpoints and results a new trial would take as its "
            f"own; move {search_dir} aside to start afresh, or use another search.dir")


def _holds_something(entry: os.DirEntry[str]) -> bool:
    """A folder with anything in it; one that cannot be read may (a file or a dangling link
    named like a trial holds nothing a trial would take)."""
    if not entry.is_dir():
        return False
    try:
        with os.scandir(entry.path) as inside:
            return any(inside)
    except OSError:
        return True
