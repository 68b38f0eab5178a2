"""Values derived from a fold, computed once per version of it (`SearchState.memo`).

A tick asks the same questions of the state several times (the live jobs, the active
trials, the unfinished work), and most ticks of a quiet search apply no event at all, so
each answer is kept until the fold's version moves. A memo is never pickled with the state
(journal.state_snapshot): what it holds may have been computed by code outside the fold,
which the snapshot's schema hash does not cover, and a reader with other settings must
compute its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class Memo:
    def __init__(self) -> None:
        self._values: dict[str, tuple[int, Any]] = {}

    def get(self, version: int, name: str, compute: Callable[[], T]) -> T:
        """`compute()` as of `version`: computed again only once the version moved."""
        hit = self._values.get(name)
        if hit is None or hit[0] != version:
            hit = self._values[name] = (version, compute())
        value: T = hit[1]
        return value

    def __getstate__(self) -> dict[str, Any]:
        return {"_values": {}}  # a loaded snapshot starts with none (the module says why)
