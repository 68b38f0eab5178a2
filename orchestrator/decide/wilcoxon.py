"""search.early_stop=wilcoxon: Optuna's WilcoxonPruner adapted to checkpoints, and the
signed-rank test it rests on, in pure Python (the controller does not load scipy).

The rule. At each evaluated checkpoint of a trial (at or past `grace_steps`), its
per-example scores (common.example_scores: higher is better) are paired, example by
example, with those of the best checkpoint of the best other trial so far, by search.metric;
if a one-sided Wilcoxon signed-rank test says they are worse (p < `p_threshold`, Optuna's
0.1), the trial stops. As in Optuna: zeros split (zero_method="zsplit"), and for safety a
trial whose mean score is at least the best's is never stopped. "So far" is the journal's
order: each checkpoint is judged against the evaluations journaled before its own, with at
least `min_trials` other trials among them, so a resumed search decides the same (the
scores are read from the immutable result files the journal names). A checkpoint without
scores (a user's script, an older result) or with a different number of examples than the
best's is not judged.

The test is scipy.stats.wilcoxon(d, zero_method="zsplit", alternative=..., method="auto"),
as Optuna calls it: exact for n <= 50 without ties or zeros, an exact enumeration of the
sign flips for n <= 13 with them (scipy's permutation test, deterministic there), else the
normal approximation with the tie correction and no continuity correction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from orchestrator.decide.stop_rule import Rule

Scores = Callable[[int, int], Sequence[float] | None]  # (trial, step) -> per-example scores


@dataclass(frozen=True)
class Worse:
    """A trial the Wilcoxon rule stops: at `step` its scores were worse than the best's."""

    trial: int
    step: int
    best_trial: int
    best_step: int
    p: float
    threshold: float
    examples: int

    def explain(self, metric: str) -> str:
        return (f"at step {self.step} its per-example scores were worse than trial "
                f"{self.best_trial}'s best (p={self.p:.2g} < {self.threshold:g}, "
                f"{self.examples} examples)")


def wilcoxon_prune(rule: Rule, arrivals: Sequence[tuple[int, int, float | None]],
                   active: set[int], scores: Scores, min_trials: int, grace_steps: int,
                   p_threshold: float) -> list[Worse]:
    """The active trials the Wilcoxon rule stops, each at its first worse checkpoint.
    `arrivals`: results (trial, step, value) in the order they were journaled."""
    stopped: list[Worse] = []
    for trial in sorted(active):
        best: dict[int, tuple[int, float]] = {}  # trial -> (step, value) of its best so far
        for number, step, value in arrivals:
            if value is None or math.isnan(value):
                continue
            if number == trial and step >= grace_steps:
                worse = _judge(rule, trial, step, best, scores, min_trials, p_threshold)
                if worse is not None:
                    stopped.append(worse)
                    break
            if number not in best or rule.better(value, best[number][1]):
                best[number] = (step, value)
    return stopped


def _judge(rule: Rule, trial: int, step: int, best: dict[int, tuple[int, float]],
           scores: Scores, min_trials: int, p_threshold: float) -> Worse | None:
    others = [(t, s, v) for t, (s, v) in best.items() if t != trial]
    if len(others) < max(min_trials, 1):
        return None
    top = others[0]
    for other in others[1:]:
        if rule.better(other[2], top[2]):
            top = other  # ties: the trial that reached the value first
    mine, theirs = scores(trial, step), scores(top[0], top[1])
    if not mine or not theirs or len(mine) != len(theirs) or len(mine) < 2:
        return None
    if sum(mine) >= sum(theirs):
        return None  # Optuna's safety: not worse on average, whatever the test says
    p = signed_rank_p([a - b for a, b in zip(mine, theirs, strict=True)], "less")
    if p < p_threshold:
        return Worse(trial, step, top[0], top[1], p, p_threshold, len(mine))
    return None


def signed_rank_p(d: Sequence[float], alternative: str) -> float:
    """scipy.stats.wilcoxon(d, zero_method="zsplit", alternative=...).pvalue, for
    alternative "less" (d tends below 0) or "greater"; NaN for no differences."""
    n = len(d)
    if n == 0:
        return math.nan
    ranks, groups = _ranks([abs(x) for x in d])
    r_plus = (sum(r for x, r in zip(d, ranks, strict=True) if x > 0)
              + sum(r for x, r in zip(d, ranks, strict=True) if x == 0) / 2)
    irregular = any(x == 0 for x in d) or any(g > 1 for g in groups)
    if n <= (13 if irregular else 50):
        return _enumerated(d, ranks, r_plus, alternative)
    mean = n * (n + 1) / 4
    var = (n * (n + 1) * (2 * n + 1) - sum(g**3 - g for g in groups) / 2) / 24
    z = (r_plus - mean) / math.sqrt(var)
    return 0.5 * math.erfc((z if alternative == "greater" else -z) / math.sqrt(2))


def _enumerated(d: Sequence[float], ranks: Sequence[float], r_plus: float,
                alternative: str) -> float:
    """P(R+ >= r_plus) ("greater") or P(R+ <= r_plus) ("less") over the 2**n sign flips,
    counted in half ranks (average ranks of ties are halves); zeros add half their rank
    whatever their sign."""
    halves = [round(2 * r) for x, r in zip(d, ranks, strict=True) if x != 0]
    base = round(sum(r for x, r in zip(d, ranks, strict=True) if x == 0))  # = 2 * (sum / 2)
    counts = {base: 1}
    for h in halves:
        nxt = dict(counts)
        for total, c in counts.items():
            nxt[total + h] = nxt.get(total + h, 0) + c
        counts = nxt
    observed = round(2 * r_plus)
    hits = sum(c for total, c in counts.items()
               if (total >= observed if alternative == "greater" else total <= observed))
    return hits / (1 << len(halves))


def _ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """Average ranks (1-based) of `values`, and the size of each group of equal values."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    groups: list[int] = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        groups.append(j - i + 1)
        i = j + 1
    return ranks, groups
