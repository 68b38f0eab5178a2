"""search.snapshot at a run's start: freeze the code the search's jobs run, or check that a
resume's code is still the frozen one (common.snapshot holds the copy, hash and rewrite).

The first run copies and journals it (`CodeSnapshot`); a resume whose code hashes the same
changes nothing; one whose code differs says so in one line and keeps the snapshot, unless
--force-resume, which freezes the new code (a new folder, journaled; jobs still running from
the old one keep it). A journal from before snapshots, resumed with them on, is frozen then.
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
    try:
        files = snapshot.plan((settings.train.command, settings.infer.command), search_dir)
    except snapshot.SnapshotTooLarge as exc:
        raise ConfigError([str(exc)]) from None
    now, before = snapshot.digest(files), last(events)
    if before is not None and now != before.hash and not force:
        _point_at(search_dir, before)
        return None, [f"warning: the code differs from the search's snapshot ({short(before.hash)}"
                      f" -> {short(now)}); its jobs keep running the snapshot; pass "
                      "--force-resume to run the new code"]
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


def _point_at(search_dir: Path, kept: CodeSnapshot) -> None:
    """Make `kept` the snapshot new jobs run (a refused force or a crash may have moved it)."""
    pointer = snapshot.folder(search_dir) / snapshot.CURRENT
    name = Path(kept.dir).name
    if Path(kept.dir).is_dir() and snapshot.current(search_dir) != Path(kept.dir).resolve():
        pointer.write_text(name + "\n", encoding="utf-8")
