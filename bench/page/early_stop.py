"""The page's `early_stop` section: search.early_stop's rules side by side on the simulated
32-trial sweep of bench.phases.early_stop (job-seconds, trials stopped, the true best kept)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.page.report import fmt, table
from bench.page.template import fill

Obj = Mapping[str, Any]


def early_stop(raw: Obj) -> str:
    """The section, or nothing when the phase did not run."""
    es: Obj | None = raw.get("early_stop")
    if not es:
        return ""
    rows = []
    for rule, seeds in es["rules"].items():
        lost = [str(n) for n, s in enumerate(seeds) if not s["true_best_survived"]]
        rows.append([
            f"`{rule}`", str(sum(s["job_seconds"] for s in seeds)),
            fmt(es["job_seconds_ratio"][rule]),
            fmt(sum(s["stopped"] for s in seeds) / len(seeds), 1),
            ", ".join(lost) or "none",
            fmt(max(s["gap_points"] for s in seeds), 2),
            fmt(es["best_within_half_point"][rule])])
    return fill("early_stop", trials=es["trials"], checkpoints=es["checkpoints"],
                concurrent=es["concurrent"], seeds=len(es["seeds"]),
                table=table(["rule", "job-seconds (all seeds)", "none / rule",
                             "trials stopped (mean)", "true best stopped in seed",
                             "best found below the true best (points, worst seed)",
                             "within 0.5 points in every seed"], rows))


def early_stop_cluster(raw: Obj) -> str:
    """The real-cluster check (bench.phases.early_stop_cluster), or nothing when it did not
    run: none and asha on the same curves, one seed."""
    es: Obj | None = raw.get("early_stop_cluster")
    if not es:
        return ""
    rows = [[f"`{rule}`", fmt(r["wall_s"], 0), fmt(r["job_seconds"], 0),
             fmt(r["train_job_seconds"], 0), fmt(r["infer_job_seconds"], 0), str(r["stopped"]),
             fmt(r["true_best_survived"]), fmt(r["gap_points"], 2), fmt(r["time_to_best_s"], 0)]
            for rule, r in es["runs"].items()]
    return fill("early_stop_cluster", trials=es["trials"], checkpoints=es["checkpoints"],
                concurrent=es["concurrent"], every_s=fmt(es["every_s"], 0), evals=es["evals"],
                ratio=fmt(es["job_seconds_ratio"]),
                table=table(["rule", "wall s", "job-seconds", "training", "evaluation",
                             "trials stopped", "true best kept",
                             "best found below the true best (points)",
                             "time to the best found (s)"], rows))
