"""The `early_stop_cluster` phase: the `early_stop` phase's comparison for real on the local
cluster: the same sweep (TRIALS trials of CHECKPOINTS checkpoints, CONCURRENT at once, the
same prescribed curve family and seeds, bench.phases.early_stop.curves), run with the users'
fake scripts (executor=slurm, every checkpoint evaluated by its own SLURM job), once per rule
and seed; one curve per trial (fake_infer.py --curves, keyed by the {trial} placeholder).

Job-seconds are the controller's own (summary.json's job_hours: each job's RUNNING time as
journaled), split into training and evaluation; the wall time is the search's. `none` runs
once, on the first seed: it stops nothing, so what its jobs cost does not depend on the
curves (the fake scripts train and evaluate the same whatever they score), and its best
found is the true best by definition; the rules that stop run on every seed. The runs go one
after the other: they share the node and the machine's 2 cores.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.cluster.journal import journal_events
from bench.phases.early_stop import SEEDS, curves
from bench.phases.scenario import PY, ROOT, launch_ours, wait_all

RULES = ("none", "median", "asha", "hyperband")
TRIALS, CHECKPOINTS, CONCURRENT, STEP = 32, 12, 4, 100  # the simulated phase's sweep
# a checkpoint every 3 s, up to 4 evaluations at once and one CPU per training job (the fake
# scripts use no more): the node has 8 CPUs, so 4 trainings leave 4 to the evaluations. With
# the default 2 CPUs, 4 trainings filled the node, every evaluation queued until they ended,
# and each cut came after its trial had trained to the end (none / asha 1.2)
EVERY_S, EVALS = 3.0, 4
MIN_TRIALS, ETA = 2, 3  # the simulated phase's (and conf's defaults)
TIMEOUT_S = 1800.0
BYO = ROOT / "tests" / "fixtures" / "byo"


def overrides(search_dir: Path, rule: str, curves_file: Path) -> list[str]:
    train = f"{PY} {BYO / 'fake_train.py'} {{output_dir}} --checkpoints {CHECKPOINTS} " \
            f"--every-s {EVERY_S}"
    infer = f"{PY} {BYO / 'fake_infer.py'} {{checkpoint}} --curves {curves_file} " \
            "--key {trial}"
    return ["executor=slurm", f"search.dir={search_dir}", "search.target=99",
            f"train.command='{train}'", f"infer.command='{infer}'",
            f"search.max_trials={TRIALS}", f"search.max_concurrent_trials={CONCURRENT}",
            f"search.early_stop={rule}", f"search.early_stop_grace_steps={STEP}",
            f"search.early_stop_min_trials={MIN_TRIALS}",
            f"search.early_stop_reduction_factor={ETA}",
            f"search.early_stop_max_resource={STEP * CHECKPOINTS}",
            f"search.max_concurrent_evals={EVALS}", "executor.train.cpus_per_task=1",
            "search.patience=99",
            "executor.poll_interval_s=1",
            "executor.max_poll_interval_s=2", "executor.fs_interval_s=0.5"]


def result(summary: dict[str, Any], events: list[dict[str, Any]], wall_s: float,
           truth: dict[int, list[float]]) -> dict[str, Any]:
    """One search's figures against the known curves."""
    best_trial = max(truth, key=lambda t: max(truth[t]))
    ended = {t["trial"]: t["ended"] for t in summary["trials"]}
    found = summary["best"]["value"] if summary.get("best") else None
    start = min((e["t"] for e in events), default=0.0)
    best_at = next((e["t"] - start for e in events if e.get("event") == "evaluation"
                    and found is not None and e.get("value") == found), None)
    by_kind = summary.get("job_hours_by_kind", {})
    return {"wall_s": round(wall_s, 1), "job_seconds": round(summary["job_hours"] * 3600, 1),
            "train_job_seconds": round(by_kind.get("train", 0.0) * 3600, 1),
            "infer_job_seconds": round(by_kind.get("infer", 0.0) * 3600, 1),
            "stopped": sum(1 for how in ended.values() if how == "pruned"),
            "true_best_survived": ended.get(best_trial) != "pruned",
            "gap_points": None if found is None else round(max(truth[best_trial]) - found, 3),
            "time_to_best_s": None if best_at is None else round(best_at, 1)}


def one(workdir: Path, tag: str, rule: str, seed: int, counter: Callable[[str], Any],
        log: Callable[[str], None]) -> dict[str, Any]:
    """One search on the cluster: `rule` on seed `seed`'s curves."""
    drawn = curves(seed, TRIALS, CHECKPOINTS)
    curves_file = workdir / f"early_stop_curves_{seed}.json"
    curves_file.write_text(json.dumps({str(t): c for t, c in drawn.items()}))
    log(f"early_stop_cluster: {TRIALS} trials, early_stop={rule}, seed {seed}")
    name = f"es-{rule}-{seed}"
    directory = workdir / f"{tag}-{name}"  # the tag starts with bench-
    run = launch_ours(name, overrides(directory, rule, curves_file), workdir / f"{name}.log",
                      counter(name))
    wait_all([run], TIMEOUT_S)
    summary = json.loads((directory / "summary.json").read_text())
    return {**result(summary, journal_events(directory), (run.t_exit or 0.0) - run.t_launch,
                     drawn), "seed": seed, "returncode": run.returncode}


def phase(workdir: Path, tag: str, counter: Callable[[str], Any],
          log: Callable[[str], None]) -> dict[str, Any]:
    """none on the first seed, then each stopping rule on every seed."""
    runs = {rule: [one(workdir, tag, rule, seed, counter, log)
                   for seed in (SEEDS[:1] if rule == "none" else SEEDS)] for rule in RULES}
    none = runs["none"][0]["job_seconds"]
    mean = {rule: sum(r["job_seconds"] for r in rows) / len(rows) for rule, rows in runs.items()}
    return {"simulated": False, "trials": TRIALS, "checkpoints": CHECKPOINTS,
            "concurrent": CONCURRENT, "every_s": EVERY_S, "evals": EVALS,
            "seeds": list(SEEDS), "runs": runs,
            # none's job-seconds / each rule's mean over the seeds
            "job_seconds_ratio": {rule: round(none / m, 2) if m else None
                                  for rule, m in mean.items()},
            "best_within_half_point": {rule: all(r["gap_points"] is not None
                                                 and r["gap_points"] <= 0.5 for r in rows)
                                       for rule, rows in runs.items()}}
