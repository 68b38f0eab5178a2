"""A search's journal as the bench and the fault cases read it: every event as a dict, a torn
last line skipped (a killed controller may leave one). The controller's own reader is
orchestrator.journal.jsonl; this one stays a plain json reader so that it can read a journal
mid-write without taking the search's lock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def journal_events(search_dir: Path) -> list[dict[str, Any]]:
    path = search_dir / "journal.jsonl"
    out: list[dict[str, Any]] = []
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass  # a torn tail
    return out
