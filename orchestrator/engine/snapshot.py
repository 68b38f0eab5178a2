"""search.snapshot at a run's start: freeze the code the search's jobs run, or check that a
resume's code is still the frozen one (common.snapshot holds the copy, hash and rewrite).

The first run copies and journals it (`CodeSnapshot`); a resume whose code hashes the same
changes nothing; one whose code differs says so in one line and keeps the snapshot, unless
--force-resume, which freezes the new code (a new folder, journaled; jobs still running from
the old one keep it). A journal from before snapshots, resumed with them on, is frozen then.
A detached controller (`run --detach`) runs from the snapshot too: the detaching process
chooses it by the same rules (`for_controller`, without moving what the jobs run), and the
controller, planning its own frozen code (common.snapshot), journals that same hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from orchestrator.common import snapshot
from orchestrator.config.settings import Settings
from orchestrator.errors import ConfigError
from orchestrator.model.events import CodeSnapshot, Event


def last(events: Sequence[Event]) -> CodeSnapshot | None:
    """The search's current snapshot, as its journal says."""
    found = [e for e in events if isinstance(e, CodeSnapshot)]
    return found[-1] if found else None


def short(code_hash: str) -> str:
    return code_hash[:snapshot.SHORT]


def prepare(settings: Settings, events: Sequence[Event],
            force: bool) -> tuple[CodeSnapshot | None, list[str]]:
    """The snapshot to journal (None: nothing new) and the lines to tell the user.
    ConfigError when the code is too large to freeze."""
    if settings.search.snapshot is not True:
        return None, []
    search_dir = Path(settings.search.dir)
    files = _plan(settings)
    now, before = snapshot.digest(files), last(events)
    if before is not None and now != before.hash and not force:
        _point_at(search_dir, before)
        return None, [_differs(before.hash, now)]
    if before is not None and now == before.hash and Path(before.dir).is_dir():
        _point_at(search_dir, before)
        return None, []
    code_hash, copy = snapshot.take(files, search_dir)
    if before is None:
        return CodeSnapshot(hash=code_hash, dir=str(copy)), []
    lines = [] if now == before.hash else [
        f"the code changed ({short(before.hash)} -> {short(now)}): --force-resume runs the new "
        f"code from {copy}"]
    return CodeSnapshot(hash=code_hash, dir=str(copy), previous=before.hash), lines


def for_controller(settings: Settings, before: CodeSnapshot | None, force: bool,
                   copy: bool = True) -> tuple[Path | None, list[str]]:
    """The snapshot a detached controller runs from (None: the code in place) and the lines
    to tell the user: the journal's (`before`) unless the code differs and `force`, else the
    code now, copied unless not `copy` (a dry run), and not made current: the controller
    does that when it journals it (a controller still running keeps its jobs' code)."""
    if settings.search.snapshot is not True:
        return None, []
    files = _plan(settings)
    now = snapshot.digest(files)
    if before is not None and Path(before.dir).is_dir() and (now == before.hash or not force):
        return Path(before.dir), [] if now == before.hash else [_differs(before.hash, now)]
    search_dir = Path(settings.search.dir)
    if not copy:
        return snapshot.folder(search_dir).resolve() / now[:snapshot.SHORT], []
    return snapshot.copy(files, search_dir)[1], []


def _plan(settings: Settings) -> dict[str, Path]:
    try:
        return snapshot.plan((settings.train.command, settings.infer.command),
                             Path(settings.search.dir))
    except snapshot.SnapshotTooLarge as exc:
        raise ConfigError([str(exc)]) from None


def _differs(before: str, now: str) -> str:
    return (f"warning: the code differs from the search's snapshot ({short(before)} -> "
            f"{short(now)}); its jobs keep running the snapshot; pass --force-resume to run "
            "the new code")


def _point_at(search_dir: Path, kept: CodeSnapshot) -> None:
    """Make `kept` the snapshot new jobs run (a refused force or a crash may have moved it)."""
    pointer = snapshot.folder(search_dir) / snapshot.CURRENT
    name = Path(kept.dir).name
    if Path(kept.dir).is_dir() and snapshot.current(search_dir) != Path(kept.dir).resolve():
        pointer.write_text(name + "\n", encoding="utf-8")
