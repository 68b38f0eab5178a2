"""When to stop: a pure function of the evaluation results seen so far.

Theory of operation. For one trial the controller knows the steps of its complete
checkpoints, the metric of each evaluated one (None when its evaluation failed for good),
and whether training has ended. From that alone, with no clock and no I/O:

(a) any evaluated checkpoint whose metric reaches the target (>= for max, <= for min)
    ends the search with success;
(b) walking the checkpoints in step order, a metric worse than the previous evaluated
    checkpoint's by more than `min_delta`, `patience` times in a row, ends the trial: the
    metric fell. Failed evaluations are skipped; a checkpoint before `grace_steps` (the
    warm-up, by default: config.resolve.fall_grace) is never a fall, but is the "previous"
    of the next one;
(c) a trial whose training has ended and whose checkpoints all have a result is over.

With the defaults (max, patience 1, min_delta 0, grace 0) this is the legacy loop's rule. Where we
deliberately differ: evaluations run concurrently and their results can arrive out of step
order, so (b) only looks at the unbroken prefix of evaluated checkpoints from the first
step on; a fall is never declared past a checkpoint whose result is still outstanding, and
an early result that reaches the target wins at once under (a) even if an earlier
checkpoint, still being evaluated, would later show a fall. The legacy loop needed the
metric strictly above the target; we stop when it is reached (>=), as users state targets.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


class Mode(enum.Enum):
    MAX = "max"
    MIN = "min"


class Verdict(enum.Enum):
    CONTINUE = "continue"
    TARGET_REACHED = "target_reached"
    METRIC_FELL = "metric_fell"
    COMPLETE = "complete"  # every checkpoint evaluated after training ended


@dataclass(frozen=True)
class Rule:
    target: float
    mode: Mode = Mode.MAX
    patience: int = 1
    min_delta: float = 0.0
    grace_steps: int = 0  # no fall is counted at a checkpoint before this step

    def reaches(self, value: float) -> bool:
        return value >= self.target if self.mode is Mode.MAX else value <= self.target

    def worse(self, value: float, previous: float) -> bool:
        """Worse than `previous` by more than min_delta."""
        if self.mode is Mode.MAX:
            return value < previous - self.min_delta
        return value > previous + self.min_delta

    def better(self, value: float, other: float) -> bool:
        return value > other if self.mode is Mode.MAX else value < other


@dataclass(frozen=True)
class TrialDecision:
    verdict: Verdict
    step: int | None = None  # the checkpoint that decided it, if one did
    value: float | None = None  # its metric (TARGET_REACHED, METRIC_FELL)
    previous: float | None = None  # the metric it fell from (METRIC_FELL)
    falls: int = 0  # falls in a row that ended it (METRIC_FELL)
    evaluated: int = 0  # checkpoints with a usable result (COMPLETE)
    best: float | None = None  # the best of them (COMPLETE)


def _usable(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def _reaches(rule: Rule, value: float | None) -> bool:
    return value is not None and not math.isnan(value) and rule.reaches(value)


def decide_trial(
    rule: Rule,
    steps: Sequence[int],
    results: Mapping[int, float | None],
    training_ended: bool,
) -> TrialDecision:
    """Decide one trial from its checkpoint steps and the results that have arrived."""
    ordered = sorted(set(steps) | set(results))
    reached = [s for s in ordered if _reaches(rule, results.get(s))]
    if reached:
        return TrialDecision(Verdict.TARGET_REACHED, reached[0], value=results[reached[0]])
    previous: float | None = None
    worse_in_a_row = 0
    for step in ordered:
        if step not in results:
            break  # the prefix ends at the first outstanding result
        value = results[step]
        if value is None or math.isnan(value):
            continue
        if previous is not None and step >= rule.grace_steps and rule.worse(value, previous):
            worse_in_a_row += 1
            if worse_in_a_row >= rule.patience:
                return TrialDecision(Verdict.METRIC_FELL, step, value=value, previous=previous,
                                     falls=worse_in_a_row)
        else:
            worse_in_a_row = 0
        previous = value
    if training_ended and all(s in results for s in ordered):
        usable = [v for v in results.values() if v is not None and not math.isnan(v)]
        best = (max if rule.mode is Mode.MAX else min)(usable) if usable else None
        return TrialDecision(Verdict.COMPLETE, evaluated=len(usable), best=best)
    return TrialDecision(Verdict.CONTINUE)


def explain(rule: Rule, decision: TrialDecision, metric: str) -> str:
    """The stop rule's own reason for a decision, with its values, for people: journaled as
    the trial's end reason and shown by `status` and report.md."""
    d = decision
    if d.verdict is Verdict.TARGET_REACHED:
        return f"{metric} {_num(d.value)} reached the target {rule.target:g} at step {d.step}"
    if d.verdict is Verdict.METRIC_FELL:
        moved = "fell" if rule.mode is Mode.MAX else "rose"
        times = f"{d.falls} times in a row, last " if d.falls > 1 else ""
        slack = f", min_delta {rule.min_delta:g}" if rule.min_delta else ""
        return (f"{metric} {moved} {times}{_num(d.previous)} -> {_num(d.value)} at step {d.step} "
                f"(patience {rule.patience}{slack})")
    if d.verdict is Verdict.COMPLETE:
        if not d.evaluated:
            return "training ended with no evaluated checkpoint"
        return (f"training ended; none of its {d.evaluated} evaluated checkpoints reached the "
                f"target {rule.target:g} (best {metric} {_num(d.best)})")
    return ""


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def best_of(rule: Rule, results: Mapping[tuple[int, int], float | None]) -> tuple[int, int] | None:
    """The (trial, step) with the best usable metric; ties go to the earliest."""
    best: tuple[int, int] | None = None
    for key in sorted(results):
        value = results[key]
        if not _usable(value):
            continue
        assert value is not None
        current = results[best] if best is not None else None
        if current is None or rule.better(value, current):
            best = key
    return best
