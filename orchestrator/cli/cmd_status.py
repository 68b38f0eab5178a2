"""`orchestrator status DIR [--json]`: a search's state from its journal alone (no lock, no
scheduler call but one sacct for a controller detached as a SLURM job), and an exit code that
says how the search stands (exit_codes.py)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from orchestrator import exit_codes
from orchestrator.decide.rungs import rung_lines, rung_table
from orchestrator.engine import snapshot
from orchestrator.errors import SearchDirError
from orchestrator.journal import search_folder
from orchestrator.model.ledger import human
from orchestrator.model.ledger import summary_text as disk_summary
from orchestrator.model.progress import duration
from orchestrator.model.state import SearchState
from orchestrator.model.trials_table import (
    held_grace,
    job_state_text,
    requeue_text,
    waiting_text,
)
from orchestrator.model.usage import usage_text
from orchestrator.reporting.outcome import params_text, summary, why_ended
from orchestrator.view.progress_reader import status_json, status_lines

HELP = "show a search's state from its journal alone"
EXIT_STATUSES = (exit_codes.TARGET_REACHED, exit_codes.NOT_REACHED, exit_codes.USAGE,
                 exit_codes.FAILED, exit_codes.RUNNING, exit_codes.INTERRUPTED,
                 exit_codes.CANCELLED)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", type=Path)
    parser.add_argument("--json", action="store_true", help="print summary.json's content")


def run(args: argparse.Namespace) -> int:
    text, code = status(args.dir, args.json)
    print(text, end="")
    return code


def status_text(search_dir: Path, as_json: bool = False) -> str:
    return status(search_dir, as_json)[0]


def status(search_dir: Path, as_json: bool = False) -> tuple[str, int]:
    """The text, and the exit code: as `run`'s for an ended search, RUNNING while a
    controller runs it, INTERRUPTED when nothing does."""
    try:
        state, rule, last_t, frozen = search_folder.replay(search_dir)
    except SearchDirError:
        start = _starting(search_dir)
        if start is None:
            raise
        if as_json:
            return json.dumps({"status": "starting", "controller": start}, indent=2) + "\n", (
                exit_codes.RUNNING)
        return f"status: starting (no search journaled yet)\n{start}\n", exit_codes.RUNNING
    data = summary(state, rule)
    now = time.time()
    found = search_folder.controller(search_dir, last_t, now)
    alive, controller = found.alive, found.line
    if not alive and state.finished is None and search_folder.detached(search_dir):
        alive, controller = _detached(search_dir, controller)
    code = status_code(data["status"], alive)
    if as_json:
        data = {**data, **status_json(state)}  # summary.json's keys, and the trials table
        data["code_snapshot"] = frozen.hash if frozen is not None else None
        data["rungs"] = rung_table(state, rule)  # None: no rungs (early_stop not asha/hyperband)
        return json.dumps(data, indent=2, sort_keys=True) + "\n", code
    code_line = "" if frozen is None else (
        f"code: snapshot {snapshot.short(frozen.hash)} (search.snapshot; in {frozen.dir})\n")
    rungs = "".join(f"{line}\n" for line in rung_lines(state, rule))
    return (_render_status(data, state, controller, code, now) + rungs + code_line
            + disk_status(search_dir, state)), code


def _starting(search_dir: Path) -> str | None:
    """`run --detach` returned and no search is journaled yet: the controller is starting,
    or its SLURM job waits in the queue (one sacct call says which; a job that ended
    without journaling anything is not starting: the folder is then no search)."""
    found = search_folder.starting(search_dir)
    if found is None or found.job is None:
        return None if found is None else found.line
    from orchestrator.engine.detach import detached_state

    state = detached_state(search_dir)
    if state is None:
        return None
    return (f"controller job {found.job} {state.lower()} (run --detach): the search starts "
            f"once it runs; orchestrator watch {search_dir} waits for it")


def _detached(search_dir: Path, line: str) -> tuple[bool, str]:
    """A controller detached as a SLURM job (run --detach) is running the search while its
    job is queued or running (requeued before its time limit): one sacct call."""
    from orchestrator.engine.detach import detached_job, detached_state

    ref, state = detached_job(search_dir), detached_state(search_dir)
    if ref is None or state is None:
        return False, line
    return True, f"controller: SLURM job {ref.job_id} ({state}; run --detach)"


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
    if state.submissions_wait is not None and state.finished is None:
        lines.append(f"submissions wait: {waiting_text(state.submissions_wait)}")
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
        lines.append(f"  {job.key}: job {job.job_id} {job_state_text(job, held_grace(state))}")
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
    return lines + requeue_lines(state, t["trial"])


def requeue_lines(state: SearchState, trial: int) -> list[str]:
    """`job 22762 requeued by SLURM under its id after node n2 was lost (NODE_FAIL); ...`
    for each run of the trial's jobs that SLURM ended and queued again."""
    return [f"  {requeue_text(job.job_id, job.kind, what)} ({job.key})"
            for job in state.jobs.values() if job.trial == trial for what in job.requeues]


def disk_status(search_dir: Path, state: SearchState) -> str:
    """`status`'s disk line: the whole folder, measured now (one walk: status is run by
    hand), and the checkpoints' figures from the journal (search.keep)."""
    from orchestrator.engine.deletion import size_of

    return (f"disk: search folder {human(size_of(search_dir))}; "
            f"{disk_summary(state.disk)}\n")
