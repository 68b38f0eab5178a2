"""results.json and BENCHMARKS.md from the measured data.

The headline keys and their targets live in TARGETS, in one place; `headline_met` compares,
`write_results` writes the JSON atomically, `render_markdown` writes the page. Nothing here
measures anything.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
N_KEYS = ("1", "10", "200")


@dataclass(frozen=True)
class Target:
    op: str  # ">=" or "<="
    value: float
    label: str


TARGETS: dict[str, Target] = {
    "time_to_decision_ratio": Target(">=", 5, "legacy time to decision / ours, legacy at its poll"),
    "time_to_decision_ratio_equal_poll": Target(
        ">=", 2, "the same, legacy poll = our poll interval"),
    "job_seconds_ratio": Target(">=", 2, "legacy job-seconds / ours (sacct Elapsed)"),
    "decision_latency_s": Target(
        "<=", 2, "our decision - (deciding checkpoint written + its evaluation cost)"),
    "sched_queries_per_hour": Target("<=", 60, "our scheduler queries per hour, at N jobs"),
    "inference_speedup_cpu": Target(">=", 20, "batched job / per-example loop, examples/s"),
    "controller_start_s": Target("<=", 1, "`orchestrator --help` wall time"),
    "controller_rss_mb_1000_jobs": Target("<=", 100, "controller peak RSS tracking 1,000 jobs"),
    "resume_s": Target("<=", 5, "kill -9, rerun: until its first decision"),
    "disk_peak_ratio": Target("<=", 0.5, "peak disk, search.keep default / keep=all (tiny)"),
    "controller_cpu_s_per_hour": Target(
        "<=", 36, "controller CPU s per hour tracking 10 trials, 200 jobs (1 % of a core)"),
    "controller_rss_mb_10_trials": Target(
        "<=", 150, "controller peak RSS tracking 10 trials, 200 jobs"),
    "busy_time_to_decision_ratio": Target(
        ">=", 6, "busy cluster (~60 s queue wait): legacy time to decision / the best placement"),
    "eval_overhead_s_per_checkpoint_worker": Target(
        "<=", 1.0, "infer.placement=worker: checkpoint written -> result, minus the evaluation"),
    "standard_to_limit_ratio": Target(
        "<=", 1.05, "standard scenario, best placement: our time / (deciding checkpoint + 1 eval)"),
    "inference_bf16_examples_per_s_gpu": Target(
        ">=", 10_000, "bert-base-shaped model, bf16, batched, examples/s on a GPU"),
    "asha_job_seconds_ratio": Target(
        ">=", 2.5, "32 prescribed curves, real cluster, 5 seeds: job-seconds, none / asha"),
    # issue 25: sweep scale (bench.phases.scale, SCALE.md)
    "tick_ms_p99_1000_trials": Target("<=", 100, "controller tick p99, 1,000 concurrent trials"),
    "controller_cpu_s_per_hour_1000_trials": Target(
        "<=", 36, "controller CPU s per hour, 1,000 concurrent trials"),
    "fs_metadata_ops_per_trial_hour": Target(
        "<=", 360, "stat/listdir/scandir/open under search.dir per trial-hour, 1,000 trials"),
    "sched_queries_per_hour_10k_jobs": Target("<=", 60, "scheduler queries per hour, 10k jobs"),
    "controller_cpu_s_per_hour_10k_jobs": Target(
        "<=", 36, "controller CPU s per hour tracking 10k held jobs"),
    "controller_rss_mb_10k_jobs": Target("<=", 200, "controller peak RSS tracking 10k jobs"),
    "resume_s_1m_events": Target("<=", 5, "resume on a 1,000,000-event journal"),
    "status_s_1m_events": Target("<=", 1, "`status` on a 1,000,000-event journal"),
    "watch_first_frame_s_1m_events": Target(
        "<=", 1, "`watch`'s first frame on a 1,000,000-event journal"),
    "report_html_s_1000_trials": Target("<=", 10, "report.html of 1,000 trials"),
}
# measured and reported, with no target of their own (the issue asks for the comparison)
REFERENCE_KEYS = ("legacy_sched_queries_per_hour", "inference_speedup_bertbase_cpu",
                  "sacct_s_10k_jobs", "sampler_s_per_trial_random_1000_trials",
                  "sampler_s_per_trial_grid_1000_trials",
                  "sampler_s_per_trial_optuna_1000_trials",
                  "multinode_examples_per_s_ratio")
REQUIRED_KEYS = (*TARGETS, *REFERENCE_KEYS)


def meets(key: str, value: Any) -> bool | None:
    """Whether `value` meets the target of `key`; None when it was not measured."""
    target = TARGETS[key]
    if isinstance(value, Mapping):
        checks = [meets_number(target, v) for v in value.values()]
        if not checks or any(c is None for c in checks):
            return None
        return all(bool(c) for c in checks)
    return meets_number(target, value)


def meets_number(target: Target, value: Any) -> bool | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return value >= target.value if target.op == ">=" else value <= target.value


def headline_met(results: Mapping[str, Any]) -> dict[str, bool | None]:
    return {key: meets(key, results.get(key)) for key in TARGETS}


def check_schema(results: Mapping[str, Any]) -> list[str]:
    """Problems with a results mapping: missing keys, wrong shapes. Empty when fine."""
    problems = [f"missing key {k}" for k in REQUIRED_KEYS if k not in results]
    for key in ("sched_queries_per_hour", "legacy_sched_queries_per_hour"):
        value = results.get(key)
        if value is not None and (not isinstance(value, Mapping) or
                                  sorted(value) != sorted(N_KEYS)):
            problems.append(f"{key} must be an object keyed by {', '.join(N_KEYS)}")
    for key in ("schema", "mode", "machine", "targets", "met", "raw"):
        if key not in results:
            problems.append(f"missing key {key}")
    return problems


def assemble(mode: str, generated: str, machine: Mapping[str, Any],
             headline: Mapping[str, Any], raw: Mapping[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {"schema": SCHEMA_VERSION, "mode": mode, "generated": generated,
                               "machine": dict(machine)}
    for key in REQUIRED_KEYS:
        results[key] = headline.get(key)
    results["targets"] = {k: f"{t.op} {t.value:g}" for k, t in TARGETS.items()}
    results["met"] = headline_met(results)
    results["raw"] = dict(raw)
    return results


def write_results(path: Path, results: Mapping[str, Any]) -> None:
    problems = check_schema(results)
    if problems:
        raise ValueError("results.json would be malformed: " + "; ".join(problems))
    _atomic_write(path, json.dumps(results, indent=2, sort_keys=False, default=str) + "\n")


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_markdown(path: Path, text: str) -> None:
    _atomic_write(path, text)


# ---------------------------------------------------------------------------- formatting
def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, Mapping):
        return ", ".join(f"N={k}: {fmt(v, 1)}" for k, v in value.items())
    return str(value)


def verdict(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "not measured"}[met]


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
