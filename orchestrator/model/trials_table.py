"""The trials table and the evaluation backlog: what the live view, `orchestrator status`
and report.html show of each trial, derived from the state (and the progress files' words).

Pure: the progress comes in already read (`live.ProgressReader`); the renderers here make
text and JSON, the live view makes its rich table from the same rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from orchestrator.model.events import SchedulerDown
from orchestrator.model.progress import Progress, describe, step_text
from orchestrator.model.state import JobRecord, SearchState, TrialRecord
from orchestrator.model.transitions import JobKind

COLUMNS = ("trial", "params", "state", "step", "best", "last", "why ended")


@dataclass(frozen=True)
class TrialRow:
    trial: int
    params: str
    state: str  # running / pending (its reason) / the trial's end
    step: str  # 340/791 (43 %), from the progress file, else the newest checkpoint
    best: str
    last: str  # the newest evaluated checkpoint's value
    why: str  # why it ended (the stop rule's or the failure's words), or ""
    progress: str = ""  # the progress line's words, while training runs


@dataclass(frozen=True)
class Backlog:
    """Checkpoints of the running trials: complete, evaluated, being evaluated, waiting."""

    complete: int
    evaluated: int
    running: int
    waiting: int

    def text(self) -> str:
        return (f"checkpoints: {self.complete} complete, {self.evaluated} evaluated, "
                f"{self.running} being evaluated, {self.waiting} waiting")


def params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in sorted(params.items())) or "-"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def job_state_text(job: JobRecord, held_grace_s: float = 0.0) -> str:
    """`RUNNING`, `PENDING (Resources)`: a job's state and why it waits, if known; a held
    job's also says what the controller does about it (`held_grace`: the search's grace)."""
    text = job.state.value + (f" ({job.reason})" if job.reason else "")
    return text + (f": {held_text(job, held_grace_s)}" if job.held else "")


def requeue_text(job_id: str | None, kind: str, what: str) -> str:
    """What the view, `status` and the report say of a job the scheduler queued again under
    its id (`what`: what ended its run, e.g. `node n2 was lost (NODE_FAIL)`)."""
    after = "it resumes from its last checkpoint" if kind == "train" else "it runs again"
    return f"job {job_id} requeued by SLURM under its id after {what}; {after}"


def held_grace(state: SearchState) -> float:
    """The search's search.held_grace_s (journals before it: its default)."""
    search = state.settings()["search"] if state.current is not None else {}
    return float(search.get("held_grace_s", 600.0))


def held_text(job: JobRecord, grace_s: float) -> str:
    """What the view and `status` say of a held job: what the controller does about it."""
    if job.released_t is not None:
        return "held; asked to release it, replaced if still held at the next poll"
    if grace_s <= 0:
        return "held until someone releases it (search.held_grace_s=0)"
    return (f"held; released after {grace_s:g} s held (search.held_grace_s), replaced if "
            "that does not free it")


def waiting_text(wait: SchedulerDown) -> str:
    """Why new submissions wait, and what ends the wait."""
    if wait.limit:
        return (f"the scheduler takes no more of our jobs for now ({wait.reason}); tried "
                "again as jobs end")
    return f"the scheduler does not answer ({wait.reason}); tried again until it does"


def _trial_state(state: SearchState, trial: TrialRecord) -> str:
    if trial.ended is not None:
        return trial.ended.value
    if trial.training.value != "running":
        return f"training {trial.training.value}"
    attempts = state.attempts(JobKind.TRAIN, trial.trial)
    if not attempts or attempts[-1].job_id is None:
        return "submitting" + (" (waiting: see above)" if state.submissions_wait else "")
    return "training " + job_state_text(attempts[-1], held_grace(state))


def _why(trial: TrialRecord) -> str:
    if trial.ended is None:
        return ""
    return trial.ended_reason or trial.training_reason or ""


def rows(state: SearchState, progress: dict[int, Progress]) -> list[TrialRow]:
    """One row per trial, in order."""
    mode = state.settings()["search"]["mode"] if state.current is not None else "max"
    pick = min if mode == "min" else max
    table = []
    for number, trial in sorted(state.trials.items()):
        results = state.results(number)
        values = [v for v in results.values() if v is not None]
        last = results[max(results)] if results else None
        seen = progress.get(number) if trial.ended is None else None
        if seen is not None:
            step = step_text(seen, trial.max_steps)
        elif trial.checkpoints:
            step = f"{max(trial.checkpoints)}/{trial.max_steps or '?'}"
        else:
            step = "-"
        table.append(TrialRow(
            trial=number, params=params_text(trial.params), state=_trial_state(state, trial),
            step=step, best=_fmt(pick(values) if values else None),
            last="failed" if results and last is None else _fmt(last), why=_why(trial),
            progress=describe(seen, trial.max_steps) if seen else ""))
    return table


def backlog(state: SearchState) -> Backlog:
    active = {t.trial for t in state.active_trials()}
    complete = sum(len(state.trials[n].checkpoints) for n in active)
    evaluated = sum(1 for (n, _) in state.evaluations if n in active)
    running = sum(1 for j in state.live_jobs() if j.kind == JobKind.INFER and j.trial in active
                  and (j.trial, j.step) not in state.evaluations)
    return Backlog(complete, evaluated, running, max(0, complete - evaluated - running))


def backlog_text(state: SearchState) -> str:
    """The backlog line, true of what it counts: every trial's checkpoints while no trial
    has ended, the running trials' once some have, and once none runs, every trial's with
    the unevaluated ones skipped (an ended trial's checkpoints are never evaluated)."""
    line = backlog(state).text()
    if not state.active_trials():
        complete = sum(len(t.checkpoints) for t in state.trials.values())
        evaluated = sum(1 for (n, _) in state.evaluations if n in state.trials)
        return (f"checkpoints: {complete} complete, {evaluated} evaluated, "
                f"{max(0, complete - evaluated)} skipped (their trial ended)")
    if any(t.ended is not None for t in state.trials.values()):
        return line.replace("checkpoints:", "checkpoints of running trials:", 1)
    return line


def as_json(table: list[TrialRow]) -> list[dict[str, Any]]:
    return [asdict(row) for row in table]


def as_text(table: list[TrialRow], width: int = 40) -> list[str]:
    """A fixed-width table; a long params or why cell is cut to `width` characters."""
    cells = [[str(r.trial), r.params, r.state, r.step, r.best, r.last, r.why or "-"]
             for r in table]
    cells = [[c if len(c) <= width else c[:width - 1] + "…" for c in row] for row in cells]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(COLUMNS)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in cells]
    return lines
