"""Wiring: settings in, a finished (or resumed) search out. Below the CLI, above the parts."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from orchestrator import requests
from orchestrator.controller import Controller, rule_of
from orchestrator.errors import ConfigError, Interrupted, OrchestratorError
from orchestrator.journal import Journal, read_events
from orchestrator.lock import SearchLock
from orchestrator.outcome import summary
from orchestrator.settings import Settings
from orchestrator.state import SearchState
from orchestrator.stop_rule import Mode, Rule
from orchestrator.view import make_view

JOURNAL = "journal.jsonl"
# the settings that make two searches different searches; resources, intervals and limits
# may change between runs of the same search
IDENTITY = ("data", "model", "train", "infer", "search.target", "search.metric", "search.mode",
            "search.patience", "search.min_delta", "search.space", "search.sampler",
            "search.sampler_seed", "executor.name")


def identity(settings: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in IDENTITY:
        section, _, field = key.partition(".")
        out[key] = settings[section][field] if field else settings[section]
    return out


def _check_same_search(journal: Journal, settings: Settings, force: bool) -> None:
    started = next((e for e in journal.events if e["event"] == "search_started"), None)
    if started is None or force:
        return
    before, now = identity(started["settings"]), identity(asdict(settings))
    # JSON round trip so that tuples and lists compare equal
    changed = [k for k in IDENTITY if json.dumps(before[k], sort_keys=True) !=
               json.dumps(now[k], sort_keys=True, default=list)]
    if changed:
        raise ConfigError([
            f"{settings.search.dir} holds a search with different settings "
            f"({', '.join(changed)}); use another search.dir, or pass --force-resume to "
            "continue it with the new settings"
        ])


def run_search(settings: Settings, plain: bool = False, force_resume: bool = False) -> str:
    """Run or resume the search; returns its final status."""
    from orchestrator.submitit_backend import SubmititScheduler

    search_dir = Path(settings.search.dir)
    with SearchLock(search_dir):
        journal = Journal(search_dir / JOURNAL)
        try:
            _check_same_search(journal, settings, force_resume)
            view = make_view(plain)
            try:
                scheduler = SubmititScheduler(settings.executor.name)
                state = Controller(settings, journal, scheduler, view).run()
            finally:
                view.close()
        except KeyboardInterrupt:
            # what the journal says now is what a resume will re-attach to
            raise Interrupted(interrupted_lines(SearchState.replay(journal.events))) from None
        finally:
            journal.close()
    assert state.finished is not None
    print(_closing_lines(search_dir, state, rule_of(settings)), end="")
    return str(state.finished["status"])


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


def _closing_lines(search_dir: Path, state: SearchState, rule: Rule) -> str:
    data = summary(state, rule)
    lines = [f"status: {data['status']}"]
    if data["best"]:
        b = data["best"]
        lines.append(f"best: {data['metric']} {b['value']:.4f} (trial {b['trial']}, "
                     f"step {b['step']})" + (f" copied to {search_dir / 'best'}"
                                             if data["promoted"] else ""))
    lines.append(f"report: {search_dir / 'report.md'}")
    return "\n".join(lines) + "\n"


def dry_run(settings: Settings) -> str:
    """The scripts that the first training job and a first inference job would use."""
    from orchestrator.submitit_backend import SubmititScheduler

    scheduler = SubmititScheduler(settings.executor.name, interactive=False)
    search_dir = Path(settings.search.dir)
    train = requests.train_request(settings, search_dir, 1, settings.train.seed, 0)
    infer = requests.infer_request(settings, search_dir, 1, settings.train.save_steps,
                                   str(requests.trial_dir(search_dir, 1) /
                                       f"checkpoint-{settings.train.save_steps}"), 0)
    parts = []
    for request in (train, infer):
        parts.append(f"# ---- {request.kind} job {request.key} (folder {request.folder})\n")
        parts.append(scheduler.render(request))
        if not parts[-1].endswith("\n"):
            parts.append("\n")
    parts.append("# dry run: nothing was submitted\n")
    return "".join(parts)


def status_text(search_dir: Path, as_json: bool = False) -> str:
    """The search's state from its journal alone: no scheduler call, no lock needed."""
    path = search_dir / JOURNAL
    if not path.exists():
        raise OrchestratorError(f"{path} does not exist; is {search_dir} a search.dir?")
    events, _ = read_events(path)
    state = SearchState.replay(events)
    if state.started is None:
        raise OrchestratorError(f"{path} holds no search yet; run the search first")
    search = state.settings()["search"]
    rule = Rule(search["target"], Mode(search["mode"]), search["patience"], search["min_delta"])
    data = summary(state, rule)
    if as_json:
        return json.dumps(data, indent=2, sort_keys=True) + "\n"
    return _render_status(data, state)


def _render_status(data: dict[str, Any], state: SearchState) -> str:
    lines = [f"status: {data['status']}  ({data['metric']} target {data['target']}, "
             f"{data['mode']})"]
    if data["best"]:
        b = data["best"]
        lines.append(f"best: {b['value']:.4f} at trial {b['trial']} step {b['step']}")
    for t in data["trials"]:
        lines.append(f"trial {t['trial']} (seed {t['seed']}): training {t['training']}, "
                     f"ended {t['ended'] or '-'}, checkpoints {t['checkpoints']}, "
                     f"last step {t['last_checkpoint_step']} of {t['max_steps']}")
    for e in data["evaluations"]:
        value = "failed: " + str(e["error"]) if e["value"] is None else f"{e['value']:.4f}"
        lines.append(f"  trial {e['trial']} step {e['step']}: {value} (job {e['job_id']})")
    live = [j for j in state.jobs.values() if j.live]
    lines.append(f"jobs: {len(state.jobs)} submitted, {len(live)} live as last journaled")
    for job in live:
        lines.append(f"  {job.key}: job {job.job_id} {job.state.value}")
    return "\n".join(lines) + "\n"
