"""Atomic file writes (a reader sees the old content or the new, never a torn file), with the
user's umask honoured; and the search folder, made private unless asked to be shared."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` through a temp file in the same folder and `os.replace`."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, file_mode())  # mkstemp makes 0600: give what open() would have
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def umask() -> int:
    """This process's umask, read without setting it (os.umask would, for a moment, for
    every thread: a file made meanwhile by another thread would get the wrong mode)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)  # no /proc: the moment's mode is the private one
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets from open(): 0666 less the umask."""
    return 0o666 & ~umask()


def make_search_dir(path: str | os.PathLike[str], shared: bool = False) -> None:
    """Create the search folder when it is missing: 0700 (the journal, reports and job
    scripts may hold what only its owner should read), or with `shared` (search.shared)
    what the umask allows, for a group that follows the search. An existing folder is left
    as it is: its mode is its owner's choice."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.mkdir(mode=0o777 if shared else 0o700)
    except FileExistsError:
        pass


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
