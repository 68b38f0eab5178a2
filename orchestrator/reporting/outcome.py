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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.common import layout
from orchestrator.common.fsutil import atomic_write_json, atomic_write_text
from orchestrator.decide.stop_rule import Rule, best_of
from orchestrator.model.ledger import human
from orchestrator.model.state import SearchState
from orchestrator.model.usage import usage_text
from orchestrator.reporting.summary import SPLITS, Best, Evaluation, Summary, Trial, build
from orchestrator.reporting.tensorboard_events import sync_test_scalars

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
    """summary.json's content now (`Summary.to_json`); the files are written from one
    `build` each (write_outcome), not from this."""
    return build(state, rule).to_json()


def why_ended(trial: Mapping[str, Any]) -> str:
    """The stop rule's reason (or the failure's) for one trial of summary.json, or ''
    (`Trial.why_ended` for a built one)."""
    return str(trial["ended_reason"] or trial["training_reason"] or "") if trial["ended"] else ""


def write_outcome(state: SearchState, rule: Rule, search_dir: Path,
                  data: Summary | None = None) -> Summary:
    """report.md and metric.png at any time; summary.json only once the search has ended:
    scripts (and the fault checks) take its presence to mean the search finished. `data`:
    the summary of `state` when the caller built it (one build for all of a write's files)."""
    data = build(state, rule) if data is None else data
    sync_test_scalars(state, search_dir)  # test/<metric> in each trial's TensorBoard run
    if state.finished is not None:
        atomic_write_json(layout.summary_path(search_dir), data.to_json())
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


def params_text(params: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in sorted(params.items())) or "-"


def report(data: Summary) -> str:
    lines = ["# Search report", "", *_head_lines(data),
             "", "![metric against step](metric.png)", "", *_trial_table(data.trials),
             *_why_lines(data.trials), *_requeue_lines(data), "", "## Evaluations", "",
             *_evaluation_table(data),
             "", f"_Written {time.strftime('%Y-%m-%d %H:%M:%S')} from journal.jsonl._", ""]
    return "\n".join(lines)


def _head_lines(data: Summary) -> list[str]:
    lines = [
        f"- status: **{data.status}**",
        f"- target: {data.metric} {'>=' if data.mode == 'max' else '<='} {data.target}",
        f"- decided on: the {data.split} split (its {data.metric} is `value`, "
        "the stop rule's and best's)",
    ]
    if data.best:
        b = data.best
        lines.append(f"- best: {data.metric} {_fmt(b.value)} at trial {b.trial}, "
                     f"step {b.step} (`{b.checkpoint}`)" + _other_split(data, b))
    elif not data.evaluations:
        lines.append("- best: no evaluation yet: no checkpoint was evaluated")
    else:
        lines.append("- best: none: every evaluation failed (see Evaluations below)")
    if data.promoted:
        lines.append(f"- copied to: `{data.promoted['path']}`")
    if data.started_at_iso:
        lines.append(f"- started: {data.started_at_iso}"
                     + (f", finished: {data.finished_at_iso}" if data.finished_at_iso
                        else ""))
    if data.finished_at and data.started_at:
        lines.append(f"- wall time: {data.finished_at - data.started_at:.1f} s; "
                     f"resumed {data.resumes} time(s)")
    if data.reason:
        lines.append(f"- ended because {data.reason}")
    lines.append("- " + usage_text(data.usage_figures()))
    jobs = ", ".join(f"{n} {kind}" for kind, n in data.scheduler_jobs.items() if n)
    lines.append(f"- {len(data.evaluations)} evaluation(s), placement "
                 f"{data.placement}; scheduler jobs: {jobs or 'none'}")
    lines += disk_lines({"disk": data.disk})
    return lines


def disk_lines(data: Mapping[str, Any]) -> list[str]:
    """The checkpoints' disk figures (summary.json's `disk`), for report.md."""
    disk = data.get("disk")
    if not disk or not disk["peak_bytes"]:
        return []
    return [f"- disk (checkpoints): peak {human(disk['peak_bytes'])}, now "
            f"{human(disk['final_bytes'])}, freed {human(disk['freed_bytes'])} (search.keep)"]


def _trial_table(trials: tuple[Trial, ...]) -> list[str]:
    lines = ["## Trials", "",
             "| trial | hyperparameters | seed | best | ended | at step | job-hours | training "
             "| train jobs | last checkpoint | max steps |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for t in trials:
        pairs = zip(t.train_job_ids, t.train_job_states, strict=False)
        jobs = ", ".join(f"{i} ({s})" for i, s in pairs) or "-"
        best = "-" if t.best_value is None else f"{t.best_value:.4f}"
        lines.append(f"| {t.trial} | {params_text(t.params)} | {t.seed} | {best} | "
                     f"{_cell(t.ended or 'running')} | {_cell(t.ended_at_step)} | "
                     f"{t.job_hours:.3f} | {t.training} | {jobs} | "
                     f"{_cell(t.last_checkpoint_step)} | {_cell(t.max_steps)} |")
    return lines


def _requeue_lines(data: Summary) -> list[str]:
    """Each run SLURM ended and queued again under its id (a lost node, a preemption)."""
    said = [text for job in data.jobs.values() for text in job.requeues]
    return ["", "Requeued by SLURM:", "", *(f"- {text}" for text in said)] if said else []


def _why_lines(trials: tuple[Trial, ...]) -> list[str]:
    explained = [t for t in trials if t.why_ended()]
    if not explained:
        return []
    return ["", "Why trials ended:", "",
            *(f"- trial {t.trial} ({t.ended}): {t.why_ended()}" for t in explained)]


def _evaluation_table(data: Summary) -> list[str]:
    if not data.evaluations:
        return ["No evaluation yet: no checkpoint was evaluated."]
    heads = [f"{split} {data.metric}" + (" (decides)" if split == data.split else "")
             for split in SPLITS]
    lines = [f"| trial | step | {' | '.join(heads)} | job | note |", "|---|---|---|---|---|---|"]
    for e in data.evaluations:
        note = e.error or ""
        if e.logs:
            note += f" (logs: {', '.join(e.logs)})"
        values = " | ".join(_split_value(e, split, data.metric) for split in SPLITS)
        lines.append(f"| {e.trial} | {e.step} | {values} | {_cell(e.job_id)} | {note} |")
    return lines


def _split_value(evaluation: Evaluation, split: str, metric: str) -> str:
    if evaluation.value is None:
        return "failed"
    value = evaluation.metrics[split].get(metric)
    if value is None and split == evaluation.split:
        value = evaluation.value  # a journal from before both splits were kept
    return "-" if value is None else f"{value:.4f}"


def _other_split(data: Summary, best: Best) -> str:
    """The best checkpoint's metric on the split that did not decide: on validation-decided
    searches, its test value is the unbiased estimate to report."""
    other = next(s for s in SPLITS if s != data.split)
    value = best.metrics[other].get(data.metric)
    return "" if value is None else f"; on the {other} split {value:.4f}"


def _trim(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


# past this many trials the plots' legends name none (a legend of 1,000 trials is unreadable
# and took a minute to lay out): the tables beside them name every trial
LEGEND_TRIALS = 24


def by_trial(data: Summary) -> dict[int, list[Evaluation]]:
    """The evaluations of each trial, in order (one pass, however many trials)."""
    found: dict[int, list[Evaluation]] = {}
    for evaluation in data.evaluations:
        found.setdefault(evaluation.trial, []).append(evaluation)
    return found


def plot(data: Summary, path: Path) -> None:
    """Metric against step for every trial, with the target as a horizontal line; sized to
    be read on a slide: 150 dpi, large type, each trial's settings and end in the legend."""
    import matplotlib  # lazy: only the end of a search pays for it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context({"font.size": 13, "axes.titlesize": 15, "axes.labelsize": 14,
                         "legend.fontsize": 10}):
        fig, ax = plt.subplots(figsize=(10, 6))
        plotted, evaluated = False, by_trial(data)
        for trial in data.trials:
            points = [(e.step, e.value) for e in evaluated.get(trial.trial, [])
                      if e.value is not None]
            if points:
                steps, values = zip(*points, strict=False)
                ax.plot(steps, values, marker="o", linewidth=2,
                        label=_trial_label(trial, len(data.trials))
                        if len(data.trials) <= LEGEND_TRIALS else None)
                plotted = True
        if plotted:
            ax.axhline(data.target, color="red", linestyle="--", label=f"target {data.target:g}")
            if data.best:
                ax.scatter([data.best.step], [data.best.value], s=160, facecolors="none",
                           edgecolors="black", linewidths=2, label="best", zorder=3)
            ax.grid(alpha=0.3)
            # below the axes: trial labels are two lines long and must not hide the curves
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
        else:
            ax.text(0.5, 0.5, "no evaluation yet" if not data.evaluations else
                    "every evaluation failed", transform=ax.transAxes, ha="center",
                    va="center", fontsize=22, color="0.35")
            ax.set_xticks([])
            ax.set_yticks([])
        ax.set_xlabel("training step")
        ax.set_ylabel(data.metric)
        ax.set_title(f"{data.metric} per checkpoint ({data.status}, target "
                     f"{'>=' if data.mode == 'max' else '<='} {data.target:g})")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        # unique: `orchestrator report` may draw while the controller does, and a shared name
        # let one's replace() take the other's file away (FileNotFoundError in the controller)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp.png")
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
        plt.close(fig)
    tmp.replace(path)


def _trial_label(trial: Trial, trials: int) -> str:
    """Two legend lines: `trial 2 (learning_rate=3e-05)` and its end (`accuracy fell 0.7025 ->
    0.6955 at step 300 (patience 1)`), each trimmed so the legend does not cover the plot."""
    settings = params_text(trial.params) if trial.params else f"seed {trial.seed}"
    why = trial.why_ended() or ("running" if not trial.ended else trial.ended)
    width = 64 if trials <= 4 else 44
    return f"trial {trial.trial} ({_trim(settings, width - 10)})\n{_trim(why, width)}"
