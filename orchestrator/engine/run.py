"""Wiring: settings in, a finished (or resumed) search out. Below the CLI, above the parts:
`run_search` (`orchestrator run`), `carry_out` (`orchestrator cancel` with no controller
alive), `dry_run` (`run --dry-run`). The caller brings the view, so that the engine draws
nothing itself."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from orchestrator.common import layout
from orchestrator.config import admission
from orchestrator.config.settings import Settings
from orchestrator.decide.policy import rule_of
from orchestrator.engine import folder_checks, job_requests, snapshot
from orchestrator.engine.controller import Controller, View
from orchestrator.errors import Interrupted, SchedulerError, SubmissionRefused
from orchestrator.journal import state_snapshot
from orchestrator.journal.jsonl import Journal
from orchestrator.journal.lock import SearchLock
from orchestrator.model.events import Event
from orchestrator.model.state import SearchState
from orchestrator.reporting.summary import Summary, build
from orchestrator.scheduler import Scheduler, make_scheduler


class ClosableView(View, Protocol):
    """The controller's view, closed when the search ends (a live view stops drawing)."""

    def close(self) -> None: ...


def run_search(settings: Settings, new_view: Callable[[], ClosableView],
               force_resume: bool = False) -> str:
    """Run or resume the search; returns its final status. `new_view` is called once the
    search is checked and admitted (a live view drawn earlier would hide what refused it)."""
    search_dir = Path(settings.search.dir)
    existed = search_dir.exists()
    try:
        state, result = _run_locked(settings, search_dir, new_view, force_resume)
    finally:
        if not existed:  # a refused first run leaves no folder that `ls` would list
            _remove_if_empty(search_dir)
    print(_closing_lines(search_dir, result), end="")
    assert state.finished is not None
    return state.finished.status.value


def _run_locked(settings: Settings, search_dir: Path, new_view: Callable[[], ClosableView],
                force_resume: bool) -> tuple[SearchState, Summary]:
    with SearchLock(search_dir, settings.search.shared) as lock:
        journal, state = state_snapshot.open_journal(search_dir)  # no event list held
        try:
            folder_checks.check(state, settings, force_resume)
            scheduler = make_scheduler(settings.executor.name)
            if force_resume or not journal.facts.ended:  # ended: nothing new unless extended
                admission.check(settings, scheduler)  # SLURM: sbatch --test-only, every refusal
                code = _freeze(settings, journal, force_resume)
                if code is not None:  # the controller's state is the fold of all journaled
                    state.apply(code)
            view = state_snapshot.Writing(new_view(), journal)
            try:
                controller = Controller(settings, journal, scheduler, view, state=state)
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
            raise Interrupted(interrupted_lines(state_snapshot.fold(search_dir).state)) from None
        finally:
            journal.close()
            if not journal.facts.events:  # refused (scheduler check, bad folder): nothing happened
                # removed while it holds the lock (the lease and the lock's own file last: a
                # controller that opens them afresh after this gets its own)
                layout.journal_path(search_dir).unlink(missing_ok=True)
                lock.forget()
    return state, result


def _freeze(settings: Settings, journal: Journal, force: bool) -> Event | None:
    """search.snapshot: freeze the code the jobs will run (engine.snapshot), journaled before
    the controller submits anything (on a first run, before search_started); what it
    journaled, for the caller's state."""
    before = journal.facts.code
    code, lines = snapshot.prepare(settings, [before] if before else [], force)
    for line in lines:
        print(line, file=sys.stderr, flush=True)
    return journal.append(code) if code is not None else None


def _remove_if_empty(search_dir: Path) -> None:
    try:
        search_dir.rmdir()
    except OSError:
        pass  # not empty: something was journaled, or another run uses it


def _notify(settings: Settings, journal: Journal, data: Summary) -> None:
    """search.notify, once per end of the search (orchestrator.engine.notify)."""
    from orchestrator.engine import notify

    notify.notify_once(settings.search.notify, journal, data.to_json(), Path(settings.search.dir))


def carry_out(search_dir: Path, view: View) -> str:
    """`orchestrator cancel` with no controller alive: take the lock and run the controller
    with the journal's own settings; its first tick finds the cancel request
    (engine.cancel_request). SearchLocked when a controller holds the lock."""
    from orchestrator.config.validate import settings_from

    with SearchLock(search_dir):
        journal, state = state_snapshot.open_journal(search_dir)
        try:
            settings = settings_from(state.settings())
            scheduler = make_scheduler(settings.executor.name, interactive=False)
            controller = Controller(settings, journal, scheduler, view, state=state)
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
    lines.append(f"report: {layout.report_path(search_dir)}")
    lines.append(f"html: {layout.html_path(search_dir)}")
    return "\n".join(lines) + "\n"


def dry_run(settings: Settings, detach_argv: Sequence[str] | None = None) -> str:
    """The scripts that the first training job and a first inference job would use; with
    `detach_argv` (`run --detach --dry-run`), the detached controller's first."""
    scheduler = make_scheduler(settings.executor.name, interactive=False)
    parts = [] if detach_argv is None else [_controller_part(settings, scheduler, detach_argv)]
    for request in job_requests.first_requests(settings):
        parts.append(f"# ---- {request.kind} job {request.key} (folder {request.folder})\n")
        parts.append(scheduler.render(request))
        if not parts[-1].endswith("\n"):
            parts.append("\n")
    if not settings.train.command:  # resolved from auto unless the user set it
        parts.append(f"# the training job keeps its best model by "
                     f"train.metric_for_best_model={settings.train.metric_for_best_model}\n")
    parts.append(f"# the stop rule counts no fall before step "
                 f"search.fall_grace_steps={settings.search.fall_grace_steps}\n")
    parts.append("# dry run: nothing was submitted\n")
    return "".join(parts)


def _controller_part(settings: Settings, scheduler: Scheduler, argv: Sequence[str]) -> str:
    """What `run --detach` would start: the controller's SLURM job script, or (local) the
    background process's command line."""
    from orchestrator.engine import detach

    argv = [a for a in argv if a != "--dry-run"]
    search_dir = Path(settings.search.dir)
    before = state_snapshot.fold(search_dir).facts.code if search_dir.is_dir() else None
    code = snapshot.for_controller(settings, before, "--force-resume" in argv, copy=False)[0]
    if settings.executor.name != "slurm":
        log = layout.controller_log_path(search_dir)
        env = detach.controller_env(code, {"PYTHONPATH": os.environ.get("PYTHONPATH", "")})
        frozen = [] if code is None else ["env", *(f"{k}={v}" for k, v in env.items() if v)]
        command = shlex.join([*frozen, sys.executable, "-m", "orchestrator",
                              *detach.controller_argv(argv)])
        return (f"# ---- controller (run --detach): a background process, its output in "
                f"{log}\n{command}\n")
    request = detach.controller_request(settings, argv, code)
    script = scheduler.render(request)
    return (f"# ---- controller job {request.key} (run --detach; folder {request.folder})\n"
            f"# it runs: orchestrator {shlex.join(request.spec)}\n"
            + script + ("" if script.endswith("\n") else "\n"))
