"""Counting the file-system metadata calls a process makes under one folder (issue 25).

On Lustre or GPFS every `stat`, `listdir`/`scandir` and `open` of a path is a call to the
metadata server, which site admins count and throttle. `MetadataCounter(root)` counts them
while it is active: `open`, `os.listdir` and `os.scandir` through an audit hook (it sees them
wherever they come from: builtins, pathlib, C code that raises the audit event), and
`os.stat`/`os.lstat` (what `Path.stat`, `Path.exists`, `os.path.isdir` and friends call) by
wrapping them, since Python raises no audit event for a stat. An audit hook cannot be
removed, so one hook per process is installed once and consults the active counter.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

_EVENTS = {"open": "open", "os.listdir": "listdir", "os.scandir": "scandir"}
_active: list[MetadataCounter] = []
_hooked = False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    kind = _EVENTS.get(event)
    if kind is not None and _active and args:
        _active[-1].saw(kind, args[0])


class MetadataCounter:
    """Counts stat/listdir/scandir/open calls on paths under `root`, by kind, while entered."""

    def __init__(self, root: Path) -> None:
        self.root = os.path.abspath(root)
        self.counts: Counter[str] = Counter()
        self._saved: tuple[Any, Any] | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def saw(self, kind: str, path: object) -> None:
        if isinstance(path, int) or path is None:
            return  # a file descriptor: its open was already counted
        try:
            text = os.fsdecode(path)  # type: ignore[arg-type]
        except TypeError:
            return
        absolute = text if text.startswith("/") else os.path.abspath(text)
        if absolute == self.root or absolute.startswith(self.root + os.sep):
            self.counts[kind] += 1

    def __enter__(self) -> MetadataCounter:
        global _hooked
        if not _hooked:
            sys.addaudithook(_hook)
            _hooked = True
        real_stat, real_lstat = os.stat, os.lstat

        def stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
            self.saw("stat", path)
            return real_stat(path, *args, **kwargs)

        def lstat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
            self.saw("stat", path)
            return real_lstat(path, *args, **kwargs)

        self._saved = (real_stat, real_lstat)
        os.stat, os.lstat = stat, lstat
        _active.append(self)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        _active.remove(self)
        if self._saved is not None:
            os.stat, os.lstat = self._saved
            self._saved = None
