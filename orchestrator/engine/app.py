"""Wiring: settings in, a finished (or resumed) search out. Below the CLI, above the parts."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from orchestrator import exit_codes
from orchestrator.common import layout
from orchestrator.config import admission
from orchestrator.config.settings import Settings
from orchestrator.decide.policy import changed_settings, rule_of
from orchestrator.decide.stop_rule import Mode, Rule
from orchestrator.engine import job_requests
from orchestrator.engine.controller import HEARTBEAT_S, Controller
from orchestrator.errors import (
    ConfigError,
    Interrupted,
    SchedulerError,
    SearchDirError,
    SubmissionRefused,
)
from orchestrator.journal.jsonl import Journal, read_events
from orchestrator.journal.lock import SearchLock, is_controller, read_holder
from orchestrator.model.events import Event, SearchEnded
from orchestrator.model.ledger import human
from orchestrator.model.ledger import summary_text as disk_summary
from orchestrator.model.progress import duration
from orchestrator.model.state import SearchState
from orchestrator.model.trials_table import job_state_text
from orchestrator.model.usage import usage_text
from orchestrator.reporting.files import write_outcome
from orchestrator.reporting.outcome import params_text, summary, why_ended
from orchestrator.reporting.summary import Summary, build
from orchestrator.scheduler import make_scheduler
from orchestrator.view.live import make_view
from orchestrator.view.progress_reader import status_json, status_lines

JOURNAL = "journal.jsonl"
# from another host, a journal silent for this long means its controller is gone
STALE_AFTER_S = 3 * HEARTBEAT_S
# the settings that make two searches different searches; resources, intervals and limits
# may change between runs of the same search
IDENTITY = ("data", "model", "train", "infer", "search.target", "search.metric", "search.mode",
            "search.patience", "search.min_delta", "search.space", "search.sampler",
            "search.sampler_seed", "executor.name", "search.split")


def _check_same_search(journal: Journal, settings: Settings, force: bool) -> None:
    state = SearchState.replay(journal.events)
    if state.started is None or force:
        return
    # the latest settings: a search continued with --force-resume is that search now
    changed = list(changed_settings(state.settings(), asdict(settings), IDENTITY))
    if changed:
        raise ConfigError([
            f"{settings.search.dir} holds a search with different settings "
            f"({', '.join(changed)}); use another search.dir, or pass --force-resume to "
            "continue it with the new settings"
        ])
    limits = changed_settings(state.settings(), asdict(settings))
    if state.finished is not None and limits:
        # a finished search only prints its outcome: say how to make the new limits count
        changes = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in limits.items())
        raise ConfigError([
            f"{settings.search.dir} holds a search that ended ({state.finished.status}) "
            f"with other settings ({changes}); pass --force-resume to continue it with the "
            "new ones, or use another search.dir"
        ])


def run_search(settings: Settings, plain: bool = False, force_resume: bool = False) -> str:
    """Run or resume the search; returns its final status."""
    search_dir = Path(settings.search.dir)
    with SearchLock(search_dir):
        journal = Journal(search_dir / JOURNAL)
        try:
            _check_same_search(journal, settings, force_resume)
            scheduler = make_scheduler(settings.executor.name)
            ended = any(isinstance(e, SearchEnded) for e in journal.events)
            if force_resume or not ended:  # an ended search submits nothing unless extended
                admission.check(settings, scheduler)  # SLURM: sbatch --test-only, every refusal
            view = make_view(plain)
            try:
                controller = Controller(settings, journal, scheduler, view)
                try:
                    state = controller.run()
                    result = build(state, rule_of(settings))  # once: notify, closing lines
                    _notify(settings, journal, result)
                except SchedulerError as exc:
                    if any(j.job_id for j in controller.state.jobs.values()):
                        raise
                    raise SubmissionRefused(f"{exc} (nothing was submitted)") from None
            finally:
                view.close()
        except KeyboardInterrupt:
            # what the journal says now is what a resume will re-attach to
            raise Interrupted(interrupted_lines(SearchState.replay(journal.events))) from None
        finally:
            journal.close()
    assert state.finished is not None
    print(_closing_lines(search_dir, result), end="")
    return state.finished.status.value


def _notify(settings: Settings, journal: Journal, data: Summary) -> None:
    """search.notify, once per end of the search (orchestrator.engine.notify)."""
    from orchestrator.engine import notify

    notify.notify_once(settings.search.notify, journal, data.to_json(), Path(settings.search.dir))


def carry_out(search_dir: Path) -> str:
    """`orchestrator cancel` with no controller alive: take the lock and run the controller
    with the journal's own settings; its first tick finds the cancel request
    (engine.cancel_request). SearchDirError ("in use by") when a controller holds the lock."""
    from orchestrator.config.validate import settings_from
    from orchestrator.view.live import PlainView

    with SearchLock(search_dir):
        journal = Journal(search_dir / JOURNAL)
        try:
            settings = settings_from(SearchState.replay(journal.events).settings())
            scheduler = make_scheduler(settings.executor.name, interactive=False)
            controller = Controller(settings, journal, scheduler, PlainView())
            state = controller.run()
            _notify(settings, journal, build(state, rule_of(settings)))
        finally:
            journal.close()
    assert state.finished is not None
    return state.finished.status.value


def interrupted_lines(state: SearchState) -> list[str]:
    """What Ctrl-C leaves behind: the jobs that keep running (they are not cancelled: a
    resume re-attaches to them by id) and how to resume."""
    live = [job for job in state.jobs.values() if job.live]
    if state.finished is not None:
        head = "interrupted while finishing the search"
    elif not live:
        head = "interrupted; no job is running"
    else:
        head = f"interrupted; {len(live)} job(s) keep running (a resume re-attaches to them):"
    lines = [head]
    lines += [f"  {job.key}: job {job.job_id} ({job.state.value})" for job in live]
    lines.append("run the same command again to resume")
    return lines


def _closing_lines(search_dir: Path, data: Summary) -> str:
    lines = [f"status: {data.status}"]
    if data.best:
        b = data.best
        lines.append(f"best: {data.metric} {b.value:.4f} (trial {b.trial}, "
                     f"step {b.step})" + (f" copied to {layout.best_dir(search_dir)}"
                                          if data.promoted else ""))
    lines.append(f"report: {search_dir / 'report.md'}")
    lines.append(f"html: {search_dir / 'report.html'}")
    return "\n".join(lines) + "\n"


def dry_run(settings: Settings) -> str:
    """The scripts that the first training job and a first inference job would use."""
    scheduler = make_scheduler(settings.executor.name, interactive=False)
    parts = []
    for request in job_requests.first_requests(settings):
        parts.append(f"# ---- {request.kind} job {request.key} (folder {request.folder})\n")
        parts.append(scheduler.render(request))
        if not parts[-1].endswith("\n"):
            parts.append("\n")
    parts.append("# dry run: nothing was submitted\n")
    return "".join(parts)


def status_text(search_dir: Path, as_json: bool = False) -> str:
    """The search's state from its journal alone: no scheduler call, no lock needed."""
    return status(search_dir, as_json)[0]


def status(search_dir: Path, as_json: bool = False) -> tuple[str, int]:
    """`orchestrator status`: the text, and the exit code (exit_codes.py): as `run`'s for an
    ended search, RUNNING while a controller runs it, INTERRUPTED when nothing does."""
    events, state, rule = _replay(search_dir)
    data = summary(state, rule)
    now = time.time()
    alive, controller = liveness(read_holder(search_dir), events[-1].t, now,
                                 socket.gethostname(), is_controller)
    if not alive and state.finished is None and layout.controller_job_path(search_dir).exists():
        alive, controller = _detached(search_dir, controller)
    code = status_code(data["status"], alive)
    if as_json:
        data = {**data, **status_json(state)}  # summary.json's keys, and the trials table
        return json.dumps(data, indent=2, sort_keys=True) + "\n", code
    return _render_status(data, state, controller, code, now) + disk_status(search_dir, state), code


def _detached(search_dir: Path, line: str) -> tuple[bool, str]:
    """A controller detached as a SLURM job (run --detach) is running the search while its
    job is queued or running (requeued before its time limit): one sacct call."""
    from orchestrator.engine.detach import detached_job, detached_state

    ref, state = detached_job(search_dir), detached_state(search_dir)
    if ref is None or state is None:
        return False, line
    return True, f"controller: SLURM job {ref.job_id} ({state}; run --detach)"


def _replay(search_dir: Path) -> tuple[list[Event], SearchState, Rule]:
    """A search's journal read without its lock (a torn last line is left out): its events,
    their state and its stop rule. No search there is a usage error (exit 2), never an exit
    status a script could take for the search's own (1: ended without the target)."""
    path = search_dir / JOURNAL
    if not path.exists():
        raise SearchDirError(
            f"{path} does not exist; is {search_dir} a search.dir? Give the folder that "
            "`orchestrator run ... search.dir=...` wrote, or run the search first")
    events, _ = read_events(path)
    state = SearchState.replay(events)
    if state.started is None:
        raise SearchDirError(f"{path} holds no search yet; run the search first")
    search = state.settings()["search"]
    rule = Rule(search["target"], Mode(search["mode"]), search["patience"], search["min_delta"])
    return events, state, rule


def report(search_dir: Path, x: str | None = None) -> str:
    """`orchestrator report`: report.md and metric.png (and, once the search has ended,
    summary.json) rewritten from the journal alone (no scheduler call, no lock: a running
    controller's journal is only read, and each file is replaced atomically, as the
    controller replaces it)."""
    _, state, rule = _replay(search_dir)
    data = write_outcome(state, rule, search_dir, x)  # x: report.html's axis, else report.x
    return (f"status: {data.status}; {len(data.evaluations)} evaluation(s)\n"
            f"report: {search_dir / 'report.md'}\nplot: {search_dir / 'metric.png'}\n"
            f"html: {search_dir / 'report.html'}\n")


def liveness(holder: dict[str, Any] | None, last_event_t: float, now: float, host: str,
             is_alive: Callable[[int], bool]) -> tuple[bool, str]:
    """Is a controller running the search, and a line saying how that is known. On its own
    host the recorded pid is asked; from another host, the journal's last entry (the
    controller writes a heartbeat at least every HEARTBEAT_S) must be recent."""
    age = max(0.0, now - last_event_t)
    if holder is None:
        return False, "controller: none recorded"
    who = f"pid {holder['pid']} on {holder.get('host', '?')}"
    if holder.get("host") == host:
        if is_alive(holder["pid"]):
            return True, f"controller: running ({who})"
        return False, f"controller: not running (was {who})"
    seen = f"last journal entry {duration(age)} ago"
    if age < STALE_AFTER_S:
        return True, f"controller: running, as far as {host} can tell ({who}; {seen})"
    return False, f"controller: not running, as far as {host} can tell ({who}; {seen})"


def status_code(search_status: str, controller_alive: bool) -> int:
    if controller_alive:
        return exit_codes.RUNNING
    if search_status == "running":
        return exit_codes.INTERRUPTED
    return {"target_reached": exit_codes.TARGET_REACHED,
            "failed": exit_codes.FAILED,
            "cancelled": exit_codes.CANCELLED}.get(search_status, exit_codes.NOT_REACHED)


def _render_status(data: dict[str, Any], state: SearchState, controller: str, code: int,
                   now: float) -> str:
    direction = ">=" if data["mode"] == "max" else "<="
    lines = [f"status: {data['status']}  ({data['metric']} {direction} {data['target']:g})",
             controller]
    if code == exit_codes.INTERRUPTED:
        lines.append("interrupted: run the same command to resume")
    if data["started_at"] is not None:
        end = data["finished_at"] if data["finished_at"] is not None else now
        elapsed = duration(end - data["started_at"])
        lines.append(f"started {data['started_at_iso']}, elapsed {elapsed}"
                     f"{'' if data['finished_at'] is None else ' (finished)'}; "
                     f"{usage_text(data)}")
    if data["best"]:
        b = data["best"]
        lines.append(f"best: {data['metric']} {b['value']:.4f} at trial {b['trial']} "
                     f"step {b['step']}")
    else:
        lines.append("best: - (no evaluation yet)" if not data["evaluations"] else
                     "best: - (every evaluation failed)")
    lines += status_lines(state)
    for t in data["trials"]:
        lines += _trial_lines(t, state)
    failed = [e for e in data["evaluations"] if e["value"] is None]
    if failed:
        lines.append("failed evaluations:")
        lines += [f"  trial {e['trial']} step {e['step']}: {e['error'] or '-'}" for e in failed]
    live = state.live_jobs()
    tasks = sum(1 for job in state.jobs.values() if job.queue)
    handed = f" (and {tasks} evaluation(s) handed to evaluators, {data['placement']})" if (
        tasks) else ""
    lines.append(f"jobs: {len(state.jobs) - tasks} submitted{handed}, {len(live)} live as "
                 "last journaled")
    for job in live:
        lines.append(f"  {job.key}: job {job.job_id} {job_state_text(job)}")
    return "\n".join(lines) + "\n"


def _trial_lines(t: dict[str, Any], state: SearchState) -> list[str]:
    """A trial: its settings, how far it got, its evaluation backlog, why it ended."""
    trial = state.trials[t["trial"]]
    evaluated = sum(1 for (n, _) in state.evaluations if n == t["trial"])
    running = sum(1 for j in state.live_jobs() if j.kind == "infer" and j.trial == t["trial"]
                  and (j.trial, j.step) not in state.evaluations)
    rest = max(0, len(trial.checkpoints) - evaluated - running)
    # an ended trial's unevaluated checkpoints are not waiting: they are never evaluated
    waiting = f"{rest} skipped (the trial ended)" if t["ended"] else f"{rest} waiting"
    best = "-" if t["best_value"] is None else f"{t['best_value']:.4f}"
    last = "-" if t["last_checkpoint_step"] is None else t["last_checkpoint_step"]
    steps = "-" if t["max_steps"] is None else t["max_steps"]
    params = params_text(t["params"])
    lines = [
        f"trial {t['trial']} (seed {t['seed']}{'' if params == '-' else '; ' + params}): "
        f"{t['ended'] or 'running'}, training {t['training']}, best {best}, "
        f"step {last} of {steps}",
        f"  checkpoints: {len(trial.checkpoints)} complete, {evaluated} evaluated, "
        f"{running} being evaluated, {waiting}",
    ]
    why = why_ended(t)
    if why:
        lines.append(f"  ended: {why}")
    elif t["training"] == "failed" and t["training_reason"]:
        lines.append(f"  training failed: {t['training_reason']}")
    for job in state.attempts("train", t["trial"]):
        if job.failure and job.failure != why:
            lines.append(f"  {job.key} failed: {job.failure}")
    return lines


def disk_status(search_dir: Path, state: SearchState) -> str:
    """`status`'s disk line: the whole folder, measured now (one walk: status is run by
    hand), and the checkpoints' figures from the journal (search.keep)."""
    from orchestrator.engine.deletion import size_of

    return (f"disk: search folder {human(size_of(search_dir))}; "
            f"{disk_summary(state.disk)}\n")
