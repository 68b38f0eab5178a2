"""The live view's screen (rich): what matters stays on it however long the search runs.

Top to bottom: the target and the metric, the elapsed time and the best so far; the
evaluation backlog; the trials table (params, state, step/N, best, last value, why it
ended); the jobs, live ones pinned first (a long search's many ended inference jobs never
push the running training job off the screen), pending ones with the scheduler's reason;
the progress line of each training that runs; the newest event lines.
"""

from __future__ import annotations

import time
from typing import Any

from orchestrator.model import ledger as disk
from orchestrator.model import trials_table
from orchestrator.model.progress import Progress, duration
from orchestrator.model.state import JobRecord, SearchState

JOB_ROWS = 12  # rows of the jobs table: live jobs always, then the newest ended ones


def head_line(state: SearchState, now: float) -> str:
    if state.current is None:
        return "starting"
    search = state.settings()["search"]
    best = state.best_value()
    direction = "<=" if search["mode"] == "min" else ">="
    started = state.started.t if state.started is not None else now
    end = state.finished.t if state.finished is not None else now
    return (f"{search['metric']} {direction} {search['target']:g} on {search.get('split', 'test')}"
            f" | best so far: {'-' if best is None else f'{best:.4f}'}"
            f" | elapsed {duration(max(0.0, end - started))} | {state.status.value}")


def shown_jobs(state: SearchState, rows: int = JOB_ROWS) -> list[JobRecord]:
    """Every live job (pinned), then the newest ended ones while there is room."""
    live = [j for j in state.jobs.values() if j.live or (j.job_id is None and not j.abandoned)]
    ended = [j for j in state.jobs.values() if j not in live]
    room = max(0, rows - len(live))
    return live + (ended[-room:] if room else [])


def render(state: SearchState, progress: dict[int, Progress], recent: list[str],
           now: float | None = None) -> Any:
    from rich.console import Group
    from rich.markup import escape as e
    from rich.table import Table

    # every cell and line is escaped: error text such as `[rank0] ...` or `[/scratch/x]`
    # read as markup would vanish or raise MarkupError (and freeze the view)
    now = time.time() if now is None else now
    trials = Table(title="trials", expand=True)
    for column in trials_table.COLUMNS:
        trials.add_column(column, overflow="fold")
    table = trials_table.rows(state, progress) if state.current is not None else []
    for row in table:
        trials.add_row(*(e(cell) for cell in (
            str(row.trial), row.params, row.state, row.step, row.best, row.last, row.why or "-")))
    jobs = Table(title="jobs (live first)", expand=True)
    for column in ("job", "id", "state"):
        jobs.add_column(column)
    grace = trials_table.held_grace(state)
    for job in shown_jobs(state):
        jobs.add_row(e(job.key), e(job.job_id or "-"), e(trials_table.job_state_text(job, grace)))
    lines = [f"trial {row.trial}: {row.progress}" for row in table if row.progress]
    texts = [head_line(state, now), trials_table.backlog_text(state),
             disk.summary_text(state.disk)]
    return Group(*(e(t) for t in texts), trials, jobs, *(e(t) for t in (*lines, *recent)))
