"""Early stopping across trials: a pure rule over the results at equal steps.

The median rule (as in Vizier and Optuna's MedianPruner): at a step where at least
`min_trials` other trials have a result, a trial whose metric there is worse than the
median of theirs cannot be expected to catch up, and is stopped. Steps before
`grace_steps` are never judged (early checkpoints are noisy). Only results that arrived are
compared, so the rule is a function of the journal alone, like the stop rule.

Asynchronous successive halving (ASHA, as Ray Tune's ASHAScheduler and Optuna's
SuccessiveHalvingPruner, used as a stopping rule: nothing is paused and resumed): rungs at
steps first_rung * eta**k; a trial reaching a rung goes on only if it is in the top 1/eta of
the trials that reached that rung before it. Their order is the journal's, so a resumed
search decides the same.

Hyperband (Optuna's HyperbandPruner, Ray Tune's HyperBandScheduler as a stopping rule):
brackets of ASHA whose first rungs are min_resource * eta**b, so bracket 0 judges early and
the last bracket late; each trial belongs to one bracket, drawn from its number exactly as
Optuna draws it (a CRC of the study name and the number), and meets only that bracket's
trials at its rungs.
"""

from __future__ import annotations

import binascii
import math
import statistics
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace

from orchestrator.decide.stop_rule import Mode, Rule


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


@dataclass(frozen=True)
class Cut:
    """A trial asynchronous successive halving stops: at `rung` (a step), reached with the
    result of checkpoint `step`, it was not in the top 1/eta of the `reached` trials there."""

    trial: int
    step: int
    rung: int
    value: float
    cut: float  # the worst value that continued: the `keep`-th best at the rung
    reached: int  # trials that had reached the rung, this one included
    keep: int
    eta: int
    bracket: int | None = None  # hyperband's; None: asha

    def explain(self, metric: str) -> str:
        where = "" if self.bracket is None else f" in bracket {self.bracket}"
        return (f"at rung {self.rung} (step {self.step}) its {metric} {self.value:.4f} was not "
                f"in the top 1/{self.eta} of the {self.reached} trials that reached it{where} "
                f"(the best {self.keep} continue, down to {self.cut:.4f})")


def asha_prune(rule: Rule, arrivals: Sequence[tuple[int, int, float | None]],
               active: set[int], min_trials: int, first_rung: int, eta: int) -> list[Cut]:
    """The active trials asynchronous successive halving stops (as Optuna's
    SuccessiveHalvingPruner, bootstrap_count=0, when min_trials=1). `arrivals`: results
    (trial, step, value) in the order they were journaled. Rung k is step first_rung * eta**k;
    a trial reaches it with its first result at or past that step, and is judged once, then,
    against the trials that reached it before: with at least `min_trials` of them it goes on
    only if at least as good as the max(n // eta, 1)-th best of the n values there (ties go
    on). Never waits for later trials, so the first ones at a rung are judged leniently; a
    missing or NaN result is no result."""
    cuts = halving(rule, arrivals, min_trials, first_rung, eta)[0]
    return [c for t, c in sorted(cuts.items()) if t in active]


Reached = dict[int, list[tuple[int, float]]]  # rung -> (trial, value), in the order reached
Arrival = tuple[int, int, float | None]  # (trial, step, value)


def in_step_order(arrivals: Sequence[Arrival],
                  checkpoints: Mapping[int, Collection[int]]) -> list[Arrival]:
    """`arrivals` (journal order) with each trial's results taken in its checkpoints' step
    order: a result waits until every earlier checkpoint of its trial (`checkpoints`:
    trial -> the steps journaled) has its result or its failure's, and then takes the place
    of the last of them. Evaluations run side by side and come back in any order; a trial
    reaches a rung with its first checkpoint at or past it, not with whichever evaluation
    finished first, so a rung's decision does not depend on that race. Still a function of
    the journal alone (a resume decides the same)."""
    order: dict[int, list[int]] = {}
    for trial, step, _ in arrivals:
        order.setdefault(trial, []).append(step)
    order = {t: sorted(set(steps) | set(checkpoints.get(t, ()))) for t, steps in order.items()}
    taken = dict.fromkeys(order, 0)  # trial -> how many of its steps (in order) are out
    held: dict[int, dict[int, float | None]] = {t: {} for t in order}
    out: list[Arrival] = []
    for trial, step, value in arrivals:
        held[trial][step] = value
        steps, i = order[trial], taken[trial]
        while i < len(steps) and steps[i] in held[trial]:
            out.append((trial, steps[i], held[trial].pop(steps[i])))
            i += 1
        taken[trial] = i
    return out


def halving(rule: Rule, arrivals: Sequence[tuple[int, int, float | None]], min_trials: int,
            first_rung: int, eta: int) -> tuple[dict[int, Cut], Reached]:
    """asha_prune's walk: every trial it cuts (ended ones too), and who reached each rung."""
    at_rung: Reached = {}
    rung_of: dict[int, int] = {}  # trial -> the next rung it has to reach
    cuts: dict[int, Cut] = {}
    for trial, step, value in arrivals:
        if trial in cuts or value is None or math.isnan(value):
            continue  # a cut trial reaches no further rung (a late evaluation of it counts not)
        k = rung_of.get(trial, 0)
        while step >= (rung := first_rung * eta ** k):
            earlier = at_rung.setdefault(rung, [])
            earlier.append((trial, value))
            k += 1
            if len(earlier) - 1 < min_trials:
                continue
            keep = max(len(earlier) // eta, 1)
            cut = sorted((v for _, v in earlier), key=_goodness(rule))[keep - 1]
            if rule.better(cut, value):
                cuts[trial] = Cut(trial, step, rung, value, cut, len(earlier), keep, eta)
                break
        rung_of[trial] = k
    return cuts, at_rung


def brackets(min_resource: int, max_resource: int, eta: int) -> int:
    """Hyperband's bracket count, floor(log_eta(max / min)) + 1, computed as Optuna does."""
    return math.floor(math.log(max_resource / min_resource, eta)) + 1


def bracket_of(trial: int, n_brackets: int, eta: int, study: str = "search") -> int:
    """The bracket of trial `trial` (1-based; Optuna's number is trial - 1), as Optuna's
    HyperbandPruner assigns it in a study named `study`: a CRC of the name and the number
    into budgets ceil(n * eta**s / (s + 1)), s = n - 1 - bracket (more trials to the brackets
    that judge early, which stop more)."""
    budgets = [math.ceil(n_brackets * eta ** s / (s + 1))
               for s in reversed(range(n_brackets))]
    n = binascii.crc32(f"{study}_{trial - 1}".encode()) % sum(budgets)
    for bracket, budget in enumerate(budgets):
        n -= budget
        if n < 0:
            return bracket
    raise AssertionError("unreachable: n < sum(budgets)")


def hyperband_prune(rule: Rule, arrivals: Sequence[tuple[int, int, float | None]],
                    active: set[int], min_trials: int, min_resource: int, max_resource: int,
                    eta: int) -> list[Cut]:
    """The active trials Hyperband stops (as Optuna's HyperbandPruner, bootstrap_count=0,
    when min_trials=1): asha_prune within each trial's bracket b, first rung
    min_resource * eta**b, against that bracket's trials only."""
    n = brackets(min_resource, max_resource, eta)
    of = {t: bracket_of(t, n, eta) for t in {t for t, _, _ in arrivals}}
    cuts: list[Cut] = []
    for b in range(n):
        mine = [a for a in arrivals if of[a[0]] == b]
        cuts += [replace(c, bracket=b) for c in asha_prune(
            rule, mine, active & {t for t, _, _ in mine}, min_trials,
            min_resource * eta ** b, eta)]
    return sorted(cuts, key=lambda c: c.trial)


def _goodness(rule: Rule) -> Callable[[float], float]:
    """A sort key putting the best value first."""
    return (lambda v: -v) if rule.mode is Mode.MAX else (lambda v: v)
