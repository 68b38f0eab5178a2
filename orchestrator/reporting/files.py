"""Every report file at once: outcome's (summary.json, metric.png, report.md) and report.html,
all rendered from one `summary.Summary` built once per write.

The controller and `orchestrator report` write through here, so the files are always written
at the same moments: after evaluations landed (at most every engine.cadence.report_every_s),
at the end, and on demand. report.html costs
the controller a second or two (two figures), so while the search runs it is rewritten at
most every HTML_EVERY_S; the end and `orchestrator report` always write it. The rest
(metric.png draws a line per trial) is skipped while refreshing would take more than
1 / REFRESH_DUTY of the controller's time: at 1,000 trials a refresh costs seconds, and
every tick sees an evaluation land (issue 25). A skipped refresh happens at a later tick.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from pathlib import Path

from orchestrator.decide.stop_rule import Rule
from orchestrator.model.state import SearchState
from orchestrator.reporting import outcome
from orchestrator.reporting.report_html import write_html
from orchestrator.reporting.summary import Summary, build

HTML_EVERY_S = 30.0
REFRESH_DUTY = 10  # a refresh that took d seconds is not repeated for (REFRESH_DUTY - 1) * d
_html_written: dict[Path, float] = {}  # search folder -> when (monotonic) this process last did
_refresh_after: dict[Path, float] = {}  # search folder -> the earliest next refresh (clock)


def write_outcome(state: SearchState, rule: Rule, search_dir: Path,
                  x: str | None = None) -> Summary:
    data = outcome.write_outcome(state, rule, search_dir, build(state, rule))
    write_html(state, rule, search_dir, x, data)  # last: the slowest, and the others come first
    return data


def refresh_outcome(state: SearchState, rule: Rule, search_dir: Path,
                    clock: Callable[[], float] = time.monotonic,
                    timer: Callable[[], float] = time.perf_counter) -> bool:
    """While the search runs (an evaluation landed): a convenience only, so a full disk or a
    lost permission must not stop the search (see outcome.refresh_outcome). False when it
    was skipped as too soon after the last one (by its cost): the caller asks again later."""
    now = clock()
    if now < _refresh_after.get(search_dir, -math.inf):
        return False
    started = timer()  # the refresh's own cost, for the duty cycle (a test's clock is not it)
    with contextlib.suppress(OSError):
        data = outcome.write_outcome(state, rule, search_dir, build(state, rule))
        if now - _html_written.get(search_dir, -math.inf) >= HTML_EVERY_S:
            _html_written[search_dir] = now
            write_html(state, rule, search_dir, summary=data)
    _refresh_after[search_dir] = now + REFRESH_DUTY * (timer() - started)
    return True
