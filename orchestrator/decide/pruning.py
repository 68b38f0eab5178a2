"""Early stopping across trials: a pure rule over the results at equal steps.

The median rule (as in Vizier and Optuna's MedianPruner): at a step where at least
`min_trials` other trials have a result, a trial whose metric there is worse than the
median of theirs cannot be expected to catch up, and is stopped. Steps before
`grace_steps` are never judged (early checkpoints are noisy). Only results that arrived are
compared, so the rule is a function of the journal alone, like the stop rule.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from orchestrator.decide.stop_rule import Rule


@dataclass(frozen=True)
class Pruned:
    trial: int
    step: int
    value: float
    median: float
    others: int

    def explain(self, metric: str) -> str:
        return (f"at step {self.step} its {metric} {self.value:.4f} was worse than the median "
                f"{self.median:.4f} of {self.others} other trials at that step")


def median_prune(rule: Rule, results: Mapping[int, Mapping[int, float | None]],
                 active: set[int], min_trials: int, grace_steps: int) -> list[Pruned]:
    """The active trials the median rule stops. `results`: trial -> step -> value."""
    pruned: list[Pruned] = []
    for trial in sorted(active):
        for step, value in sorted(results.get(trial, {}).items()):
            if value is None or step < grace_steps:
                continue
            others = [v for t, r in results.items()
                      if t != trial and (v := r.get(step)) is not None]
            if len(others) < min_trials:
                continue
            median = statistics.median(others)
            if rule.better(median, value):
                pruned.append(Pruned(trial, step, value, median, len(others)))
                break
    return pruned
