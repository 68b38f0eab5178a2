"""Retention's deletions, carried out: journal the intent, unmark, delete, journal the end.

Theory of operation. `Retention.tick` runs after each round of observing: it measures each
newly complete checkpoint once (`checkpoint_sized`, the disk figures' source), finishes the
deletions a killed controller journaled but did not see through, then carries out the ones
`retention.removals` wants now. One deletion:
1. its path is checked: it must be the checkpoint folder `layout` names for that trial and
   step, and the folders above it must resolve inside search.dir (a symlinked trial folder
   pointing elsewhere is refused once, journaled as `delete_refused`, and kept);
2. `delete_intent` is journaled, with the bytes it frees;
3. the completeness marker goes first, then `trainer_state.json` (a user's script's
   checkpoints count as complete by it), so a half-deleted checkpoint never looks complete
   to the training job choosing where to resume, nor to anything else. The controller
   itself never looks at a journaled checkpoint again (the observer skips known steps);
4. the folder is removed without following a symlink: a checkpoint that is itself a link
   loses the link only, and links inside it are unlinked, never entered;
5. `deleted` is journaled.
Each step is idempotent (a missing file is already deleted), so a kill -9 anywhere is safe:
the next controller finds the intent in the journal and does it again from step 3.
`training_state` deletions (search.keep_optimizer=latest) remove only the files resuming
needs (optimizer, scheduler, RNG state; `outcome.TRAINING_STATE`) and keep the marker.
`best/` is never a candidate: only `trials/NNN/checkpoint-<step>` folders are.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from orchestrator.common import layout
from orchestrator.config.settings import SearchSettings
from orchestrator.decide import retention
from orchestrator.decide.retention import Removal
from orchestrator.decide.stop_rule import Rule
from orchestrator.model.events import CheckpointSized, Deleted, DeleteIntent, DeleteRefused, Event
from orchestrator.model.ledger import ALL
from orchestrator.model.state import SearchState
from orchestrator.reporting.outcome import TRAINING_STATE as RESUME_FILES

Record = Callable[[Event], Event]  # the controller's record: journal, then apply
RecordAll = Callable[[list[Event]], list[Event]]  # the same for a batch: one write, one fsync


def size_of(path: Path) -> int:
    """Bytes under `path` (apparent sizes), never following a symlink; 0 if it is gone."""
    try:
        if path.is_symlink() or not path.is_dir():
            return path.lstat().st_size
    except OSError:
        return 0
    total = 0
    for root, _, files in os.walk(path, followlinks=False):
        for name in files:
            try:
                total += (Path(root) / name).lstat().st_size
            except OSError:
                pass  # deleted meanwhile
    return total


def resume_files(checkpoint: Path) -> Iterator[Path]:
    """The files and folders of a checkpoint that only resuming training needs."""
    for pattern in RESUME_FILES:
        yield from checkpoint.glob(pattern)


def refusal(search_dir: Path, removal: Removal) -> str:
    """Why `removal` must not be carried out ('' when it may): its path is not the
    checkpoint layout names, or a folder above it resolves outside search.dir."""
    expected = layout.checkpoint_dir(layout.trial_dir(search_dir, removal.trial), removal.step)
    path = Path(removal.path)
    if os.path.normpath(path.absolute()) != os.path.normpath(expected.absolute()):
        return f"{path} is not {expected}, the checkpoint's place in search.dir"
    root = os.path.realpath(search_dir)
    parent = os.path.realpath(path.parent)
    if os.path.commonpath([root, parent]) != root:
        return f"{path.parent} resolves to {parent}, outside search.dir ({root})"
    if removal.what != ALL and path.is_symlink():
        return f"{path} is a symlink: its files are not search.dir's to slim"
    return ""


def carry_out(removal: Removal) -> None:
    """Steps 3 and 4 of the protocol; safe to repeat after a kill at any point."""
    path = Path(removal.path)
    if path.is_symlink():
        path.unlink(missing_ok=True)
        return
    if not path.is_dir():
        return  # already deleted
    if removal.what == ALL:
        (path / layout.COMPLETE_MARKER).unlink(missing_ok=True)
        (path / "trainer_state.json").unlink(missing_ok=True)
        shutil.rmtree(path, ignore_errors=True)
        if path.exists() and not path.is_symlink():
            shutil.rmtree(path)  # raise what stopped it (permissions): never a silent keep
        return
    for item in resume_files(path):
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item)
        else:
            item.unlink(missing_ok=True)


class Retention:
    """search.keep, applied each tick (see the module's docstring)."""

    def __init__(self, search: SearchSettings, state: SearchState, record: Record,
                 rule: Rule, record_all: RecordAll | None = None) -> None:
        self.search = search
        self.search_dir = Path(search.dir)
        self.state = state
        self.record = record
        self.record_all = record_all or (lambda batch: [record(event) for event in batch])
        self.rule = rule
        self._removals: tuple[int, list[Removal]] = (-1, [])  # as of the state's version

    def tick(self) -> None:
        self.size_new()
        for removal in retention.pending(self.state):
            self._finish(removal)
        # a function of the state and of these settings: asked again only once the state
        # changed, which a quiet tick of a huge search does not (kept here, not in the
        # state's memo: `clean --keep` asks the same state with other settings)
        if self._removals[0] != self.state.version:
            self._removals = (self.state.version,
                              retention.removals(self.state, self.search, self.rule))
        self.delete(list(self._removals[1]))

    def delete(self, removals: list[Removal]) -> None:
        for removal in removals:
            self._delete(removal)

    def size_new(self) -> None:
        """Journal the size of each checkpoint not sized yet, in one write (one fsync)."""
        trials = self.state.trials
        self.record_all([CheckpointSized(trial=trial, step=step,
                                         bytes=size_of(Path(trials[trial].checkpoints[step])))
                         for trial, step in self.state.unsized()])

    def _delete(self, removal: Removal) -> None:
        why = refusal(self.search_dir, removal)
        if why:
            self.record(DeleteRefused(trial=removal.trial, step=removal.step,
                                      path=removal.path, reason=why))
            return
        path = Path(removal.path)
        freed = (size_of(path) if removal.what == ALL
                 else sum(size_of(p) for p in resume_files(path)))
        self.record(DeleteIntent(trial=removal.trial, step=removal.step, path=removal.path,
                                 what=removal.what, bytes=freed))
        self._finish(removal)

    def _finish(self, removal: Removal) -> None:
        intent = self.state.disk.pending[(removal.trial, removal.step)]
        carry_out(removal)
        self.record(Deleted(trial=removal.trial, step=removal.step, path=removal.path,
                            what=removal.what, bytes=intent.bytes))
