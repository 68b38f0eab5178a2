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
    """The real-cluster sweep (bench.phases.early_stop_cluster), or nothing when it did not
    run: each rule on every seed (none on the first), the same curves as the simulation."""
    es: Obj | None = raw.get("early_stop_cluster")
    if not es or "seeds" not in es:  # an older one-seed run is not this page's
        return ""
    rows = []
    for rule, runs in es["runs"].items():
        lost = [str(r["seed"]) for r in runs if not r["true_best_survived"]]
        rows.append([
            f"`{rule}`", ", ".join(str(r["seed"]) for r in runs),
            fmt(sum(r["wall_s"] for r in runs) / len(runs), 0),
            fmt(sum(r["job_seconds"] for r in runs) / len(runs), 0),
            fmt(sum(r["train_job_seconds"] for r in runs) / len(runs), 0),
            fmt(sum(r["infer_job_seconds"] for r in runs) / len(runs), 0),
            fmt(es["job_seconds_ratio"][rule]),
            fmt(sum(r["stopped"] for r in runs) / len(runs), 1), ", ".join(lost) or "none",
            fmt(max(r["gap_points"] for r in runs), 2),
            fmt(es["best_within_half_point"][rule])])
    return fill("early_stop_cluster", trials=es["trials"], checkpoints=es["checkpoints"],
                concurrent=es["concurrent"], every_s=fmt(es["every_s"], 0), evals=es["evals"],
                seeds=len(es["seeds"]), ratio=fmt(es["job_seconds_ratio"]["asha"]),
                table=table(["rule", "seeds", "wall s (mean)", "job-seconds (mean)",
                             "training (mean)", "evaluation (mean)", "none / rule",
                             "trials stopped (mean)", "true best stopped in seed",
                             "best found below the true best (points, worst seed)",
                             "within 0.5 points in every seed"], rows))
