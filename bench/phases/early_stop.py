"""The `early_stop` phase: search.early_stop's rules on a 32-trial sweep of prescribed curves
with a known best, for none, median, asha and hyperband, over several seeds.

Simulated, not run on the cluster: each trial trains 12 checkpoints (steps 100..1200) of one
job-second each, 4 trials at once, every evaluation back before the next checkpoint; after
each round of checkpoints the rule (decide.pruning's own functions, in journal order) stops
the trials it stops and freed slots start the next trials. A real sweep on the 2-core local
cluster would take hours for 4 rules x several seeds; the rules' decisions, which are what
differs between them, are the same functions the controller calls. Curves: a quality q and a
speed per trial, 40 + 45 q (1 - exp(-k / speed)) + noise (in percent, as the users' fake
scripts print), so slow starters can overtake; the true best is the best curve's maximum.
"""

from __future__ import annotations

import math
import random
from typing import Any

from orchestrator.decide.pruning import asha_prune, hyperband_prune, median_prune
from orchestrator.decide.stop_rule import Rule

RULES = ("none", "median", "asha", "hyperband")
TRIALS, CHECKPOINTS, CONCURRENT, STEP = 32, 12, 4, 100
SEEDS = tuple(range(5))
MIN_TRIALS, ETA = 2, 3  # the defaults; grace: the first checkpoint
RULE = Rule(99.0)  # a target no curve reaches: every trial runs until the rule stops it
Arrivals = list[tuple[int, int, float | None]]


def curves(seed: int, trials: int = TRIALS, checkpoints: int = CHECKPOINTS,
           ) -> dict[int, list[float]]:
    """Trial -> its metric at each checkpoint (also the early_stop_cluster phase's curves)."""
    rng = random.Random(seed)
    out = {}
    for t in range(1, trials + 1):
        q, speed = rng.uniform(0, 1), rng.uniform(2, 5)
        out[t] = [round(40 + 45 * q * (1 - math.exp(-k / speed)) + rng.gauss(0, 0.7), 2)
                  for k in range(1, checkpoints + 1)]
    return out


def stopped_now(rule: str, arrivals: Arrivals, active: set[int]) -> set[int]:
    if rule == "median":
        results: dict[int, dict[int, float | None]] = {}
        for t, s, v in arrivals:
            results.setdefault(t, {})[s] = v
        return {p.trial for p in median_prune(RULE, results, active, MIN_TRIALS, STEP)}
    if rule == "asha":
        return {c.trial for c in asha_prune(RULE, arrivals, active, MIN_TRIALS, STEP, ETA)}
    if rule == "hyperband":
        return {c.trial for c in hyperband_prune(RULE, arrivals, active, MIN_TRIALS, STEP,
                                                 STEP * CHECKPOINTS, ETA)}
    return set()


def sweep(rule: str, seed: int) -> dict[str, Any]:
    """One sweep: job-seconds, whether the true best trial was stopped, and how far the best
    found is below the true best (points)."""
    cs = curves(seed)
    running: dict[int, int] = {}  # trial -> checkpoints written
    waiting, stopped, arrivals, seconds = list(cs), set[int](), Arrivals(), 0
    while running or waiting:
        while len(running) < CONCURRENT and waiting:
            running[waiting.pop(0)] = 0
        for t in sorted(running):
            running[t] += 1
            seconds += 1
            arrivals.append((t, running[t] * STEP, cs[t][running[t] - 1]))
        done = {t for t, n in running.items() if n == CHECKPOINTS}
        cut = stopped_now(rule, arrivals, set(running)) - done
        stopped |= cut
        for t in done | cut:
            del running[t]
    best = max(cs, key=lambda t: max(cs[t]))
    found = max(v for _, _, v in arrivals if v is not None)
    return {"job_seconds": seconds, "true_best_survived": best not in stopped,
            "gap_points": round(max(cs[best]) - found, 3), "stopped": len(stopped)}


def measure() -> dict[str, Any]:
    rules = {r: [sweep(r, s) for s in SEEDS] for r in RULES}
    total = {r: sum(s["job_seconds"] for s in rows) for r, rows in rules.items()}
    return {"simulated": True, "trials": TRIALS, "checkpoints": CHECKPOINTS,
            "concurrent": CONCURRENT, "seeds": list(SEEDS), "rules": rules,
            # none's job-seconds / each rule's, all seeds together
            "job_seconds_ratio": {r: round(total["none"] / total[r], 2) for r in RULES},
            "best_within_half_point": {r: all(s["gap_points"] <= 0.5 for s in rows)
                                       for r, rows in rules.items()}}


def headline(raw: dict[str, Any]) -> dict[str, Any]:
    """asha_job_seconds_ratio: none / asha job-seconds (target >= 2.5), from the real
    cluster's sweep (early_stop_cluster) where it ran, else from this simulation."""
    real = raw.get("early_stop_cluster", {})
    source = real if "seeds" in real else raw.get("early_stop", {})
    return {"asha_job_seconds_ratio": source.get("job_seconds_ratio", {}).get("asha")}
