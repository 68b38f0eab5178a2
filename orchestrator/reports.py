"""Every report file at once: outcome's (summary.json, metric.png, report.md) and report.html.

The controller and `orchestrator report` write through here, so the files are always written
at the same moments: when an evaluation lands, at the end, and on demand.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from orchestrator import outcome
from orchestrator.report_html import write_html
from orchestrator.state import SearchState
from orchestrator.stop_rule import Rule


def write_outcome(state: SearchState, rule: Rule, search_dir: Path) -> dict[str, Any]:
    data = outcome.write_outcome(state, rule, search_dir)
    write_html(state, rule, search_dir)  # last: the slowest, and the others come first
    return data


def refresh_outcome(state: SearchState, rule: Rule, search_dir: Path) -> None:
    """While the search runs (an evaluation landed): a convenience only, so a full disk or a
    lost permission must not stop the search (see outcome.refresh_outcome)."""
    with contextlib.suppress(OSError):
        write_outcome(state, rule, search_dir)
