"""What report.html shows, gathered from the journal's state and the search folder's files.

Everything here tolerates missing or foreign files (a report is for people: a checkpoint
deleted by a retention rule, a user's own inference script's plain output, or a search from
before these fields existed leave a section empty, never an error). The rendering is
`report_html`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from orchestrator.common import layout
from orchestrator.decide.stop_rule import Rule
from orchestrator.model import trials_table
from orchestrator.model.state import SearchState
from orchestrator.reporting.summary import Best, Summary, build

GPU_FIELDS = ("device", "device_name", "peak_gpu_memory_bytes", "examples_per_s")


def _json(path: str | Path) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def examples_per_step(settings: dict[str, Any], params: dict[str, Any]) -> int:
    """Examples one optimizer step sees: batch x accumulation x processes (the trial's own
    batch settings where it sampled them; an out-of-memory replan keeps the product)."""
    train = {**settings.get("train", {}), **params}
    job = settings.get("executor", {}).get("train", {})
    processes = int(job.get("nodes", 1) or 1) * int(job.get("tasks_per_node", 1) or 1)
    return (int(train.get("per_device_batch_size", 1)) * int(train.get("grad_accum_steps", 1))
            * processes)


def log_history(state: SearchState, trial: int) -> list[dict[str, Any]]:
    """The Trainer's log (training loss, validation metrics): the trial's log_history.json,
    which retention never deletes; else (a user's own training script writes none) the
    newest checkpoint's trainer_state.json; [] when there is none to read."""
    record = state.trials[trial]
    kept = _json_list(layout.log_history_path(record.output_dir))
    if kept is not None:
        return kept
    for step in sorted(record.checkpoints, reverse=True):
        data = _json(Path(record.checkpoints[step]) / "trainer_state.json")
        if data is not None and isinstance(data.get("log_history"), list):
            return [e for e in data["log_history"] if isinstance(e, dict)]
    return []


def _json_list(path: Path) -> list[dict[str, Any]] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return [e for e in data if isinstance(e, dict)] if isinstance(data, list) else None


def best_scores(state: SearchState, best: Best | None) -> dict[str, Any] | None:
    """The best checkpoint's per-class scores and confusion matrix, on the deciding split."""
    if best is None:
        return None
    result = _json(state.evaluations[(best.trial, best.step)].result or "")
    if result is None:
        return None
    split = (result.get("metrics") or {}).get(best.split) or result
    if not isinstance(split, dict) or "confusion_matrix" not in split:
        return None
    return {"split": best.split, "labels": split.get("labels") or result.get("labels"),
            "per_class": split.get("per_class", {}), "matrix": split["confusion_matrix"]}


def timeline(state: SearchState, now: float) -> list[dict[str, Any]]:
    """Each submitted job: submitted, started (the first poll that saw it RUNNING: the
    journal's start, to the poll interval), ended (now while it runs)."""
    rows = []
    for job in sorted(state.jobs.values(), key=lambda j: j.submitted_t or 0.0):
        if job.submitted_t is None or job.job_id is None:
            continue
        end = job.ended_t if job.ended_t is not None else now
        rows.append({"key": job.key, "kind": job.kind, "job_id": job.job_id,
                     "state": job.state.value, "submitted": job.submitted_t,
                     "started": job.running_t, "ended": end})
    return rows


def gpu_facts(state: SearchState) -> list[dict[str, Any]]:
    """The device facts each job's result carries (training: train_done.json; inference:
    its result), as written; rows without any are left out."""
    facts = []
    for number, trial in sorted(state.trials.items()):
        done = _json(layout.done_path(trial.output_dir))
        if done is not None and any(k in done for k in GPU_FIELDS):
            facts.append({"job": f"train trial {number}", **{k: done.get(k) for k in GPU_FIELDS}})
    for (number, step), ev in sorted(state.evaluations.items()):
        result = _json(ev.result) if ev.result.endswith(".json") else None
        if result is not None and any(k in result for k in GPU_FIELDS):
            facts.append({"job": f"infer trial {number} step {step}",
                          **{k: result.get(k) for k in GPU_FIELDS}})
    return facts


def folder_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass  # deleted while walking
    return total


def disk(search_dir: Path) -> dict[str, int]:
    """Bytes under each of the search folder's top-level entries, and `total`."""
    sizes: dict[str, int] = {}
    try:
        entries = sorted(search_dir.iterdir())
    except OSError:
        return {"total": 0}
    for entry in entries:
        try:
            sizes[entry.name] = (folder_bytes(entry) if entry.is_dir()
                                 else entry.lstat().st_size)
        except OSError:
            continue
    sizes["total"] = sum(sizes.values())
    return sizes


def collect(state: SearchState, rule: Rule, search_dir: Path, now: float,
            x: str | None = None, summary: Summary | None = None) -> dict[str, Any]:
    """Everything report.html shows; `x` (step | examples) overrides the search's report.x;
    `summary`: the one the caller built for this write (else built here)."""
    data = build(state, rule, now) if summary is None else summary
    settings = state.settings()
    return {
        "summary": data,
        "x": x or (settings.get("report") or {}).get("x", "step"),
        "examples_per_step": {n: examples_per_step(settings, t.params)
                              for n, t in state.trials.items()},
        "curves": {n: log_history(state, n) for n in sorted(state.trials)},
        "best_scores": best_scores(state, data.best),
        "timeline": timeline(state, now),
        "gpu": gpu_facts(state),
        "disk": disk(search_dir),
        "trials_table": trials_table.as_json(trials_table.rows(state, {})),
    }
