"""The outcome of a search: the promoted best checkpoint, summary.json, report.md, metric.png.

Everything here is derived from the journal's state, so it can be rewritten at any time
(after each tick in which an evaluation landed, at the end of a search, by a resumed
controller, by `orchestrator report`) with the same result for the same journal.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.common import layout
from orchestrator.common.fsutil import atomic_write_json, atomic_write_text
from orchestrator.decide.stop_rule import Rule, best_of
from orchestrator.model.events import encode
from orchestrator.model.ledger import human
from orchestrator.model.state import EvalRecord, SearchState
from orchestrator.model.usage import usage, usage_text
from orchestrator.reporting.tensorboard_events import sync_test_scalars

SPLITS = ("validation", "test")
# what a checkpoint holds only to resume training: `best/` is for deploying (weights,
# tokenizer, config), and the optimizer state alone is twice the model's size
TRAINING_STATE = ("optimizer.pt", "optimizer.bin", "scheduler.pt", "scaler.pt", "rng_state*.pth",
                  "training_args.bin", "global_step*")


def promote_best(state: SearchState, rule: Rule, search_dir: Path) -> dict[str, Any] | None:
    """Copy the best checkpoint to `<search_dir>/best/` and describe it, or None if none.

    The copy is made beside `best/` and renamed into place, so `best/` is always either the
    previous complete copy or the new complete copy, never a half-copied folder. A kill in
    the middle leaves staging folders beside it; the next call clears them first.
    """
    key = best_of(rule, state.all_results())
    if key is None:
        return None
    evaluation = state.evaluations[key]
    source = Path(evaluation.checkpoint)
    target = layout.best_dir(search_dir)
    info = {"trial": key[0], "step": key[1], "checkpoint": str(source),
            "value": evaluation.value, "path": str(target)}
    _clear_interrupted(search_dir, target)
    if _already_promoted(target, info):
        return info
    staging = search_dir / f".best-{uuid.uuid4().hex[:8]}.tmp"
    shutil.copytree(source, staging, ignore=shutil.ignore_patterns(*TRAINING_STATE))
    atomic_write_json(staging / layout.BEST_INFO, info)
    if target.exists():
        retired = search_dir / f".best-retired-{uuid.uuid4().hex[:8]}"
        target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(target)
    return info


def _clear_interrupted(search_dir: Path, target: Path) -> None:
    """Undo what a killed promotion left: a kill between its two renames leaves no `best/`
    but the previous complete copy retired, which goes back in place; any half-made
    staging copy and any other retired copy is deleted."""
    retired = sorted(search_dir.glob(".best-retired-*"), key=lambda p: p.stat().st_mtime)
    if retired and not target.exists():
        retired.pop().rename(target)
    for path in (*search_dir.glob(".best-*.tmp"), *retired):
        shutil.rmtree(path, ignore_errors=True)


def _already_promoted(target: Path, info: dict[str, Any]) -> bool:
    try:
        current = json.loads((target / layout.BEST_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(current.get("trial") == info["trial"] and current.get("step") == info["step"])


def summary(state: SearchState, rule: Rule) -> dict[str, Any]:
    """The machine-readable outcome; also what `orchestrator status` shows."""
    settings = state.settings()
    now = time.time()
    started, finished = state.started, state.finished
    return {
        "status": state.status.value,
        "target": rule.target,
        "metric": settings["search"]["metric"],
        "mode": rule.mode.value,
        "split": settings["search"].get("split", "test"),  # the split whose metric decides
        "best": _best(state, rule),
        "promoted": encode(state.promoted) if state.promoted is not None else None,
        "promote_error": state.promote_error or None,
        "evaluations": [_evaluation(ev) for _, ev in sorted(state.evaluations.items())],
        "trials": [_trial(state, rule, number, now) for number in sorted(state.trials)],
        "jobs": {job.key: {"job_id": job.job_id, "state": job.state.value}
                 for job in state.jobs.values()},
        "started_at": started.t if started else None,
        "finished_at": finished.t if finished else None,
        "started_at_iso": iso(started.t) if started else None,
        "finished_at_iso": iso(finished.t) if finished else None,
        "reason": (finished.reason if finished else "") or None,
        "job_hours": round(state.job_hours(now), 4),
        # by kind, in GPU-hours, and a worker's hours without an evaluation (model.usage)
        **usage(state, now),
        "resumes": state.resumes,
        "disk": state.disk.figures(),  # the checkpoints' bytes (search.keep deletes)
        # where evaluations ran (infer.placement), and the scheduler's jobs by kind: under
        # worker and with_training there are fewer inference jobs than evaluations
        "placement": settings.get("infer", {}).get("placement", "job"),
        "scheduler_jobs": _scheduler_jobs(state),
    }


def _scheduler_jobs(state: SearchState) -> dict[str, int]:
    counts = {"train": 0, "infer": 0, "worker": 0}
    for job in state.jobs.values():
        if job.job_id is not None and not job.queue:
            counts[job.kind] = counts.get(job.kind, 0) + 1
    return counts


def _best(state: SearchState, rule: Rule) -> dict[str, Any] | None:
    best_key = best_of(rule, state.all_results())
    if best_key is None:
        return None
    ev = state.evaluations[best_key]
    return {"trial": ev.trial, "step": ev.step, "checkpoint": ev.checkpoint, "value": ev.value,
            "split": ev.split, "metrics": _both_splits(ev.metrics)}


def _evaluation(ev: EvalRecord) -> dict[str, Any]:
    return {"trial": ev.trial, "step": ev.step, "value": ev.value, "job_id": ev.job_id,
            "checkpoint": ev.checkpoint, "result": ev.result, "error": ev.error or None,
            "logs": ev.logs or None, "split": ev.split, "metrics": _both_splits(ev.metrics)}


def _trial(state: SearchState, rule: Rule, number: int, now: float) -> dict[str, Any]:
    trial = state.trials[number]
    train_jobs = state.attempts("train", number)
    values = [v for v in state.results(number).values() if v is not None]
    return {
        "trial": number,
        "seed": trial.seed,
        "params": trial.params,
        "best_value": (max if rule.mode.value == "max" else min)(values) if values else None,
        "job_hours": round(state.job_hours(now, number), 4),
        "ended": trial.ended.value if trial.ended is not None else None,
        "ended_at_step": trial.ended_step,
        "ended_reason": trial.ended_reason or None,
        "training": trial.training.value,
        "training_reason": trial.training_reason or None,
        "train_job_ids": [j.job_id for j in train_jobs if j.job_id],
        "train_job_states": [j.state.value for j in train_jobs if j.job_id],
        "train_failures": [{"job_id": j.job_id, "cause": j.cause, "reason": j.failure}
                           for j in train_jobs if j.cause],
        "last_checkpoint_step": max(trial.checkpoints) if trial.checkpoints else None,
        "max_steps": trial.max_steps,
        "checkpoints": len(trial.checkpoints),
    }


def _both_splits(metrics: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    # both keys always: a user's script reports one number, for the split it decides on
    return {split: dict(metrics.get(split, {})) for split in SPLITS}

def iso(epoch_s: float) -> str:
    """ISO 8601 with the local UTC offset, to the second: for people and other tools."""
    return datetime.fromtimestamp(epoch_s).astimezone().isoformat(timespec="seconds")


def write_outcome(state: SearchState, rule: Rule, search_dir: Path) -> dict[str, Any]:
    """report.md and metric.png at any time; summary.json only once the search has ended:
    scripts (and the fault checks) take its presence to mean the search finished."""
    data = summary(state, rule)
    sync_test_scalars(state, search_dir)  # test/<metric> in each trial's TensorBoard run
    if state.finished is not None:
        atomic_write_json(layout.summary_path(search_dir), data)
    plot(data, layout.plot_path(search_dir))  # first: report.md shows it, so it must be there
    atomic_write_text(layout.report_path(search_dir), report(data))
    return data


def refresh_outcome(state: SearchState, rule: Rule, search_dir: Path) -> None:
    """report.md and metric.png rewritten while the search runs (an evaluation landed). Only a
    convenience then: a full disk or a lost permission must not stop the search; the next
    evaluation tries again, and `finish` writes them once more (and fails loudly there)."""
    with contextlib.suppress(OSError):
        write_outcome(state, rule, search_dir)


def _fmt(value: float | None) -> str:
    return "failed" if value is None else f"{value:.4f}"


def _cell(value: Any) -> str:
    """A value for people: never Python's `None`."""
    return "-" if value is None or value == "" else str(value)


def params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in sorted(params.items())) or "-"


def why_ended(trial: dict[str, Any]) -> str:
    """The stop rule's reason (or the failure's) for one trial of `summary`, or ''."""
    return str(trial["ended_reason"] or trial["training_reason"] or "") if trial["ended"] else ""


def report(data: dict[str, Any]) -> str:
    lines = ["# Search report", "", *_head_lines(data),
             "", "![metric against step](metric.png)", "", *_trial_table(data["trials"]),
             *_why_lines(data["trials"]), "", "## Evaluations", "", *_evaluation_table(data),
             "", f"_Written {time.strftime('%Y-%m-%d %H:%M:%S')} from journal.jsonl._", ""]
    return "\n".join(lines)


def _head_lines(data: dict[str, Any]) -> list[str]:
    lines = [
        f"- status: **{data['status']}**",
        f"- target: {data['metric']} {'>=' if data['mode'] == 'max' else '<='} {data['target']}",
        f"- decided on: the {data['split']} split (its {data['metric']} is `value`, "
        "the stop rule's and best's)",
    ]
    if data["best"]:
        b = data["best"]
        lines.append(f"- best: {data['metric']} {_fmt(b['value'])} at trial {b['trial']}, "
                     f"step {b['step']} (`{b['checkpoint']}`)" + _other_split(data, b))
    elif not data["evaluations"]:
        lines.append("- best: no evaluation yet: no checkpoint was evaluated")
    else:
        lines.append("- best: none: every evaluation failed (see Evaluations below)")
    if data["promoted"]:
        lines.append(f"- copied to: `{data['promoted']['path']}`")
    if data["started_at_iso"]:
        lines.append(f"- started: {data['started_at_iso']}"
                     + (f", finished: {data['finished_at_iso']}" if data["finished_at_iso"]
                        else ""))
    if data["finished_at"] and data["started_at"]:
        lines.append(f"- wall time: {data['finished_at'] - data['started_at']:.1f} s; "
                     f"resumed {data['resumes']} time(s)")
    if data["reason"]:
        lines.append(f"- ended because {data['reason']}")
    lines.append("- " + usage_text(data))
    jobs = ", ".join(f"{n} {kind}" for kind, n in data["scheduler_jobs"].items() if n)
    lines.append(f"- {len(data['evaluations'])} evaluation(s), placement "
                 f"{data['placement']}; scheduler jobs: {jobs or 'none'}")
    lines += disk_lines(data)
    return lines


def disk_lines(data: dict[str, Any]) -> list[str]:
    """The checkpoints' disk figures (summary.json's `disk`), for report.md."""
    disk = data.get("disk")
    if not disk or not disk["peak_bytes"]:
        return []
    return [f"- disk (checkpoints): peak {human(disk['peak_bytes'])}, now "
            f"{human(disk['final_bytes'])}, freed {human(disk['freed_bytes'])} (search.keep)"]


def _trial_table(trials: list[dict[str, Any]]) -> list[str]:
    lines = ["## Trials", "",
             "| trial | hyperparameters | seed | best | ended | at step | job-hours | training "
             "| train jobs | last checkpoint | max steps |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in trials:
        pairs = zip(t["train_job_ids"], t["train_job_states"], strict=False)
        jobs = ", ".join(f"{i} ({s})" for i, s in pairs) or "-"
        best = "-" if t["best_value"] is None else f"{t['best_value']:.4f}"
        lines.append(f"| {t['trial']} | {params_text(t['params'])} | {t['seed']} | {best} | "
                     f"{_cell(t['ended'] or 'running')} | {_cell(t['ended_at_step'])} | "
                     f"{t['job_hours']:.3f} | {t['training']} | {jobs} | "
                     f"{_cell(t['last_checkpoint_step'])} | {_cell(t['max_steps'])} |")
    return lines


def _why_lines(trials: list[dict[str, Any]]) -> list[str]:
    explained = [t for t in trials if why_ended(t)]
    if not explained:
        return []
    return ["", "Why trials ended:", "",
            *(f"- trial {t['trial']} ({t['ended']}): {why_ended(t)}" for t in explained)]


def _evaluation_table(data: dict[str, Any]) -> list[str]:
    if not data["evaluations"]:
        return ["No evaluation yet: no checkpoint was evaluated."]
    heads = [f"{split} {data['metric']}" + (" (decides)" if split == data["split"] else "")
             for split in SPLITS]
    lines = [f"| trial | step | {' | '.join(heads)} | job | note |", "|---|---|---|---|---|---|"]
    for e in data["evaluations"]:
        note = e["error"] or ""
        if e["logs"]:
            note += f" (logs: {', '.join(e['logs'])})"
        values = " | ".join(_split_value(e, split, data["metric"]) for split in SPLITS)
        lines.append(f"| {e['trial']} | {e['step']} | {values} | {_cell(e['job_id'])} | "
                     f"{note} |")
    return lines


def _split_value(evaluation: dict[str, Any], split: str, metric: str) -> str:
    if evaluation["value"] is None:
        return "failed"
    value = evaluation["metrics"][split].get(metric)
    if value is None and split == evaluation["split"]:
        value = evaluation["value"]  # a journal from before both splits were kept
    return "-" if value is None else f"{value:.4f}"


def _other_split(data: dict[str, Any], best: dict[str, Any]) -> str:
    """The best checkpoint's metric on the split that did not decide: on validation-decided
    searches, its test value is the unbiased estimate to report."""
    other = next(s for s in SPLITS if s != data["split"])
    value = best["metrics"][other].get(data["metric"])
    return "" if value is None else f"; on the {other} split {value:.4f}"


def _trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"



def plot(data: dict[str, Any], path: Path) -> None:
    """Metric against step for every trial, with the target as a horizontal line; sized to
    be read on a slide: 150 dpi, large type, each trial's settings and end in the legend."""
    import matplotlib  # lazy: only the end of a search pays for it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context({"font.size": 13, "axes.titlesize": 15, "axes.labelsize": 14,
                         "legend.fontsize": 10}):
        fig, ax = plt.subplots(figsize=(10, 6))
        plotted = False
        for trial in data["trials"]:
            points = [(e["step"], e["value"]) for e in data["evaluations"]
                      if e["trial"] == trial["trial"] and e["value"] is not None]
            if points:
                steps, values = zip(*points, strict=False)
                ax.plot(steps, values, marker="o", linewidth=2,
                        label=_trial_label(trial, len(data["trials"])))
                plotted = True
        if plotted:
            ax.axhline(data["target"], color="red", linestyle="--",
                       label=f"target {data['target']:g}")
            if data["best"]:
                ax.scatter([data["best"]["step"]], [data["best"]["value"]], s=160,
                           facecolors="none", edgecolors="black", linewidths=2, label="best",
                           zorder=3)
            ax.grid(alpha=0.3)
            # below the axes: trial labels are two lines long and must not hide the curves
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
        else:
            ax.text(0.5, 0.5, "no evaluation yet" if not data["evaluations"] else
                    "every evaluation failed", transform=ax.transAxes, ha="center",
                    va="center", fontsize=22, color="0.35")
            ax.set_xticks([])
            ax.set_yticks([])
        ax.set_xlabel("training step")
        ax.set_ylabel(data["metric"])
        ax.set_title(f"{data['metric']} per checkpoint ({data['status']}, target "
                     f"{'>=' if data['mode'] == 'max' else '<='} {data['target']:g})")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        # unique: `orchestrator report` may draw while the controller does, and a shared name
        # let one's replace() take the other's file away (FileNotFoundError in the controller)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp.png")
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
        plt.close(fig)
    tmp.replace(path)


def _trial_label(trial: dict[str, Any], trials: int) -> str:
    """Two legend lines: `trial 2 (learning_rate=3e-05)` and its end (`accuracy fell 0.7025 ->
    0.6955 at step 300 (patience 1)`), each trimmed so the legend does not cover the plot."""
    settings = params_text(trial["params"]) if trial["params"] else f"seed {trial['seed']}"
    why = why_ended(trial) or ("running" if not trial["ended"] else trial["ended"])
    width = 64 if trials <= 4 else 44
    return f"trial {trial['trial']} ({_trim(settings, width - 10)})\n{_trim(why, width)}"
