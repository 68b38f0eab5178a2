"""Reading the running trials' progress files for people: cheaply, and never failing.

Only trials whose training job is RUNNING are looked at (a pending or requeued job's file is
an old attempt's), a file is read again only when its modification time changed, and any
problem reading it is "no progress known" (orchestrator.model.progress says why that is safe).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from orchestrator.common import layout
from orchestrator.model import trials_table
from orchestrator.model.progress import Progress, parse
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import JobKind, JobState


def training_runs(state: SearchState, trial: int) -> bool:
    record = state.trials[trial]
    attempts = state.attempts(JobKind.TRAIN, trial)
    return (record.ended is None and record.training.value == "running" and bool(attempts)
            and attempts[-1].state is JobState.RUNNING)


class ProgressReader:
    def __init__(self) -> None:
        self._seen: dict[int, tuple[int, Progress | None]] = {}  # trial -> (mtime_ns, parsed)

    def read(self, state: SearchState) -> dict[int, Progress]:
        """Trial -> its progress, for every trial whose training runs and says how far."""
        found: dict[int, Progress] = {}
        for number, trial in state.trials.items():
            if not training_runs(state, number):
                self._seen.pop(number, None)
                continue
            seen = self._read(number, layout.progress_path(trial.output_dir))
            if seen is not None:
                found[number] = seen
        return found

    def _read(self, trial: int, path: Path) -> Progress | None:
        try:
            mtime = os.stat(path).st_mtime_ns
            cached = self._seen.get(trial)
            if cached is not None and cached[0] == mtime:
                return cached[1]
            parsed = parse(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return None
        self._seen[trial] = (mtime, parsed)
        return parsed


def status_lines(state: SearchState) -> list[str]:
    """`orchestrator status`'s trials table, backlog and progress lines."""
    table = trials_table.rows(state, ProgressReader().read(state))
    return [trials_table.backlog_text(state), *trials_table.as_text(table),
            *(f"trial {row.trial}: {row.progress}" for row in table if row.progress)]


def status_json(state: SearchState) -> dict[str, Any]:
    """The same for `orchestrator status --json`: keys beside summary.json's."""
    table = trials_table.rows(state, ProgressReader().read(state))
    return {"trials_table": trials_table.as_json(table),
            "backlog": asdict(trials_table.backlog(state)),
            "pending_reasons": {j.key: j.reason for j in state.live_jobs() if j.reason},
            "submissions_wait": (None if state.submissions_wait is None
                                 else trials_table.waiting_text(state.submissions_wait))}
