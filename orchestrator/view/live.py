"""What the user sees while a search runs: a live rich view, or one line per event."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from orchestrator.model import ledger as disk
from orchestrator.model.events import (
    Cancel,
    Checkpoint,
    Evaluation,
    Event,
    JobFailed,
    JobReleased,
    JobStateChanged,
    Promoted,
    PromoteFailed,
    Resumed,
    SchedulerDown,
    SchedulerUp,
    SearchEnded,
    SearchExtended,
    SearchStarted,
    Submitted,
    TrainingEnded,
    TrialEnded,
    TrialStarted,
)
from orchestrator.model.progress import Progress, worth_a_line
from orchestrator.model.progress import describe as describe_progress
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import FAILURES, JobState
from orchestrator.model.trials_table import held_grace, held_text, requeue_text, waiting_text
from orchestrator.view import dashboard
from orchestrator.view.progress_reader import ProgressReader


def describe(event: Event, state: SearchState | None = None) -> str | None:
    """One line for an event worth telling a person about; None for bookkeeping. `state`
    (after the event) tells a rerun of a finished search from a resume."""
    if isinstance(event, Resumed) and state is not None and state.finished is not None:
        return (f"already finished ({state.finished.status}): nothing to resume, "
                "nothing submitted; its outcome:")
    return (_search_line(event) or _job_line(event, state) or _trial_line(event)
            or disk.event_line(event, state.disk if state is not None else None))


def _search_line(e: Event) -> str | None:
    match e:
        case SearchStarted():
            s = e.settings["search"]
            return (f"search started in {s['dir']}: {s['metric']} target {s['target']} "
                    f"({s['mode']}), executor {e.settings['executor']['name']}")
        case Resumed():
            return "resumed from the journal"
        case SearchExtended():
            changes = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in e.changed.items())
            return ("the ended search continues with new settings" if e.reopened else
                    "new settings") + f": {changes}"
        case SearchEnded():
            return f"search ended: {e.status}" + (f" ({e.reason})" if e.reason else "")
        case SchedulerDown():
            return f"submissions wait: {waiting_text(e)}"
        case SchedulerUp():
            return "the scheduler answers again"
        case PromoteFailed():
            return f"best checkpoint not copied: {e.reason}"
        case Promoted():
            return (f"best checkpoint (trial {e.trial}, step {e.step}, {e.value:.4f}) "
                    f"copied to {e.path}")
    return None


def _a_task(key: str, state: SearchState | None) -> bool:
    """An evaluation handed to a long-lived evaluator (infer.placement), not a job: its
    journaled record names the work queue it was posted to."""
    job = state.jobs.get(key) if state is not None else None
    return job is not None and bool(job.queue)


def _job_line(e: Event, state: SearchState | None) -> str | None:
    match e:
        case Submitted() if e.job_id and _a_task(e.key, state):
            return f"posted {e.key} for an evaluator (infer.placement)"
        case Submitted() if e.job_id:
            suffix = " (recovered)" if e.recovered else ""
            return f"submitted {e.key} as job {e.job_id}{suffix}"
        case JobStateChanged():
            if e.state in FAILURES:
                return None  # the job_failed line that follows says it, with the reason
            if _a_task(e.key, state):
                return (f"{e.key} taken by the evaluator in job {e.runner}" if e.runner
                        and e.state is JobState.RUNNING else None)
            if e.requeued:
                kind = state.jobs[e.key].kind if state and e.key in state.jobs \
                    else e.key.partition("-")[0]
                return f"{requeue_text(e.job_id, kind, e.requeued)} ({e.key})"
            why = f" (waiting: {e.reason})" if e.reason else ""
            if state is not None and e.key in state.jobs and state.jobs[e.key].held:
                why = f" (waiting: {e.reason}; {held_text(state.jobs[e.key], held_grace(state))})"
            return f"job {e.job_id} ({e.key}) is {e.state.value}{why}"
        case JobReleased():
            return (f"job {e.job_id} ({e.key}) held {e.held_s:.0f} s ({e.reason}): asking "
                    "the scheduler to release it")
        case JobFailed():
            job = f" (job {e.job_id})" if e.job_id else ""
            detail = e.detail or e.reason or "no error message; see the job's logs"
            ended = e.state.value if e.state is not None else "FAILED"
            return f"{e.key}{job} {ended}: {e.cause}: {detail}"
        case Cancel():
            return f"cancelling jobs {', '.join(str(i) for i in e.job_ids)}"
    return None


def _trial_line(e: Event) -> str | None:
    match e:
        case TrialStarted():
            return f"trial {e.trial} started (seed {e.seed}{_params(e.params)})"
        case Checkpoint():
            return f"trial {e.trial}: checkpoint {e.step} complete"
        case Evaluation():
            if e.value is None:
                return f"trial {e.trial} step {e.step}: evaluation failed: {e.error}"
            return f"trial {e.trial} step {e.step}: {e.value:.4f} (job {e.job_id or '-'})"
        case TrainingEnded():
            reason = f": {e.reason}" if e.reason else ""
            return f"trial {e.trial}: training {e.outcome}{reason}"
        case TrialEnded():
            if e.reason:
                return f"trial {e.trial} ended: {e.how}: {e.reason}"
            at = f" at step {e.step}" if e.step is not None else ""
            return f"trial {e.trial} ended: {e.how}{at}"
    return None


def _params(params: dict[str, Any]) -> str:
    """`; learning_rate=3e-05, per_device_batch_size=16`, or '' for a trial without any."""
    pairs = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
             for k, v in sorted(params.items())]
    return f"; {', '.join(pairs)}" if pairs else ""


class Teller:
    """describe(), except that a rerun of a finished search is told only once the next event
    (or the finish) shows whether new settings reopen it: "nothing submitted" would be false
    when the very next event reopens the search (--force-resume with a new target)."""

    def __init__(self) -> None:
        self._held: str | None = None

    def lines(self, event: Event, state: SearchState) -> list[str]:
        out = [] if self._held is None or (
            isinstance(event, SearchExtended) and event.reopened) else [self._held]
        self._held = None
        line = describe(event, state)
        if isinstance(event, Resumed) and state.finished is not None:
            self._held = line
        elif line:
            out.append(line)
        return out

    def flush(self) -> list[str]:
        held, self._held = self._held, None
        return [] if held is None else [held]


class PlainView:
    """One timestamped line per event: for logs, pipes and CI."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self._progress = ProgressReader()
        self._told: dict[int, tuple[Progress, float]] = {}  # trial -> last line's, when
        self._teller = Teller()

    def event(self, record: Event, state: SearchState) -> None:
        self._print(self._teller.lines(record, state), record.t)

    def _print(self, lines: list[str], t: float) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(t))
        for line in lines:
            print(f"{stamp} {line}", file=self.stream, flush=True)

    def refresh(self, state: SearchState) -> None:
        """Once a tick: a progress line per running training, when it moved and at most
        every progress.PLAIN_EVERY_S."""
        now = time.time()
        self._print(self._teller.flush(), now)
        for trial, seen in sorted(self._progress.read(state).items()):
            last, at = self._told.get(trial, (None, None))
            if worth_a_line(seen, last, at, now):
                self._told[trial] = (seen, now)
                line = f"trial {trial}: {describe_progress(seen, state.trials[trial].max_steps)}"
                print(f"{time.strftime('%H:%M:%S', time.localtime(now))} {line}",
                      file=self.stream, flush=True)

    def close(self) -> None:
        self._print(self._teller.flush(), time.time())


class RichView:
    """A live table of trials, jobs and metrics, redrawn in place on a terminal."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console()
        self._recent: list[str] = []
        self._progress = ProgressReader()
        self._seen: dict[int, Progress] = {}  # read once a tick (refresh), drawn on events too
        self._live = Live(console=self.console, refresh_per_second=4, transient=False)
        self._teller = Teller()
        self._live.start()

    def event(self, record: Event, state: SearchState) -> None:
        self._add(self._teller.lines(record, state))
        self._live.update(self._render(state))

    def _add(self, lines: list[str]) -> None:
        stamp = time.strftime("%H:%M:%S")
        self._recent = [*self._recent, *(f"{stamp} {line}" for line in lines)][-8:]

    def refresh(self, state: SearchState) -> None:
        self._add(self._teller.flush())
        self._seen = self._progress.read(state)
        self._live.update(self._render(state))

    def _render(self, state: SearchState) -> Any:
        return dashboard.render(state, self._seen, self._recent)

    def close(self) -> None:
        self._live.stop()


def make_view(force_plain: bool = False) -> PlainView | RichView:
    if force_plain or not sys.stdout.isatty():
        return PlainView()
    return RichView()
