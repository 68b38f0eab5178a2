"""Recorded-journal helpers for the early-stop rules' tests: interleaved results of concurrent
trials, and the cuts an Optuna pruner makes on the same sequence (the reference the pure rules
in orchestrator.decide.pruning are compared with)."""

from __future__ import annotations

import random
from typing import Any

from orchestrator.decide.stop_rule import Mode

Arrivals = list[tuple[int, int, float | None]]


def interleaved(seed: int, trials: int, steps: int) -> Arrivals:
    """Concurrent trials' results, interleaved as a journal would have them: each trial's
    steps in order, ties between trials likely (values on a coarse grid)."""
    rng = random.Random(seed)
    curves = {t: [round(rng.uniform(0, 1) * s / steps + rng.choice([0, 0.1]), 1)
                  for s in range(1, steps + 1)] for t in range(1, trials + 1)}
    next_step = dict.fromkeys(curves, 0)
    out: Arrivals = []
    while any(n < steps for n in next_step.values()):
        t = rng.choice([t for t, n in next_step.items() if n < steps])
        out.append((t, (next_step[t] + 1) * 10, curves[t][next_step[t]]))
        next_step[t] += 1
    return out


def optuna_cuts(optuna: Any, pruner: Any, arrivals: Arrivals, mode: Mode,
                study_name: str | None = None) -> tuple[set[int], list[tuple[int, int]]]:
    """The trials Optuna's `pruner` sees and the (trial, step) it prunes, reporting
    `arrivals` in journal order (a pruned trial reports no more)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=study_name, pruner=pruner,
                                direction="maximize" if mode is Mode.MAX else "minimize")
    running = {t: study.ask() for t in sorted({t for t, _, _ in arrivals})}
    expected: list[tuple[int, int]] = []
    for t, step, value in arrivals:
        if t in dict(expected):
            continue
        assert value is not None
        running[t].report(value, step)
        if running[t].should_prune():
            expected.append((t, step))
    return set(running), expected
