"""The stop rule as a table: results in, verdict out."""

from __future__ import annotations

import math

import pytest

from orchestrator.decide.stop_rule import Mode, Rule, Verdict, best_of, decide_trial, explain

MAX = Rule(target=0.80)
MIN = Rule(target=10.0, mode=Mode.MIN)
NAN = math.nan

CASES = [
    # (name, rule, steps, results, training_ended, verdict, deciding step)
    ("nothing yet", MAX, [100], {}, False, Verdict.CONTINUE, None),
    ("rising, below target", MAX, [100, 200], {100: 0.5, 200: 0.6}, False, Verdict.CONTINUE,
     None),
    ("target hit early", MAX, [100, 200, 300], {100: 0.5, 200: 0.81}, False,
     Verdict.TARGET_REACHED, 200),
    ("target reached exactly", MAX, [100], {100: 0.80}, False, Verdict.TARGET_REACHED, 100),
    ("fall stops the trial (legacy rule)", MAX, [100, 200, 300], {100: 0.6, 200: 0.7, 300: 0.65},
     False, Verdict.METRIC_FELL, 300),
    ("equal is not a fall", MAX, [100, 200], {100: 0.6, 200: 0.6}, False, Verdict.CONTINUE, None),
    ("min_delta absorbs a small fall", Rule(0.8, min_delta=0.01), [100, 200],
     {100: 0.70, 200: 0.695}, False, Verdict.CONTINUE, None),
    ("min_delta exceeded", Rule(0.8, min_delta=0.01), [100, 200], {100: 0.70, 200: 0.68},
     False, Verdict.METRIC_FELL, 200),
    ("patience 2: one fall is not enough", Rule(0.8, patience=2), [1, 2, 3],
     {1: 0.7, 2: 0.6, 3: 0.65}, False, Verdict.CONTINUE, None),
    ("patience 2: two falls in a row", Rule(0.8, patience=2), [1, 2, 3],
     {1: 0.7, 2: 0.6, 3: 0.5}, False, Verdict.METRIC_FELL, 3),
    ("patience 2: a rise resets the count", Rule(0.8, patience=2), [1, 2, 3, 4],
     {1: 0.7, 2: 0.6, 3: 0.65, 4: 0.6}, False, Verdict.CONTINUE, None),
    # search.fall_grace_steps (the warm-up by default): issue 27's trial ended at step 20
    ("grace: a fall in warm-up is not counted", Rule(0.8, grace_steps=50), [10, 20, 30],
     {10: 0.5, 20: 0.4, 30: 0.45}, False, Verdict.CONTINUE, None),
    ("grace: a fall at the grace step counts", Rule(0.8, grace_steps=50), [40, 50],
     {40: 0.5, 50: 0.4}, False, Verdict.METRIC_FELL, 50),
    ("grace: the last value in it is the previous", Rule(0.8, grace_steps=50), [10, 20, 60],
     {10: 0.6, 20: 0.4, 60: 0.45}, False, Verdict.CONTINUE, None),
    ("grace: patience counts from the grace on", Rule(0.8, patience=2, grace_steps=30),
     [10, 20, 30, 40], {10: 0.6, 20: 0.5, 30: 0.4, 40: 0.3}, False, Verdict.METRIC_FELL, 40),
    ("out of order: a later result waits for the gap", MAX, [100, 200, 300],
     {100: 0.7, 300: 0.6}, False, Verdict.CONTINUE, None),
    ("out of order: the gap filled shows the fall", MAX, [100, 200, 300],
     {100: 0.7, 200: 0.72, 300: 0.6}, False, Verdict.METRIC_FELL, 300),
    ("out of order: a later target wins before an earlier fall is known", MAX, [1, 2, 3],
     {1: 0.7, 3: 0.85}, False, Verdict.TARGET_REACHED, 3),
    ("target beats a fall seen earlier in the same results", MAX, [1, 2, 3],
     {1: 0.7, 2: 0.6, 3: 0.9}, False, Verdict.TARGET_REACHED, 3),
    ("failed evaluation is skipped", MAX, [1, 2, 3], {1: 0.7, 2: None, 3: 0.71}, False,
     Verdict.CONTINUE, None),
    ("fall across a failed evaluation", MAX, [1, 2, 3], {1: 0.7, 2: None, 3: 0.6}, False,
     Verdict.METRIC_FELL, 3),
    ("NaN counts as failed", MAX, [1, 2], {1: 0.7, 2: NAN}, False, Verdict.CONTINUE, None),
    ("all evaluated after training ended", MAX, [1, 2], {1: 0.7, 2: 0.75}, True,
     Verdict.COMPLETE, None),
    ("training ended, one outstanding", MAX, [1, 2], {1: 0.7}, True, Verdict.CONTINUE, None),
    ("training ended, no checkpoints at all", MAX, [], {}, True, Verdict.COMPLETE, None),
    ("min: reaching means at or below", MIN, [1, 2], {1: 20.0, 2: 9.5}, False,
     Verdict.TARGET_REACHED, 2),
    ("min: a rise is a fall", MIN, [1, 2], {1: 20.0, 2: 21.0}, False, Verdict.METRIC_FELL, 2),
    ("min: falling loss goes on", MIN, [1, 2], {1: 20.0, 2: 15.0}, False, Verdict.CONTINUE,
     None),
]


@pytest.mark.parametrize(
    ("rule", "steps", "results", "ended", "verdict", "step"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decide_trial(rule: Rule, steps: list[int], results: dict[int, float | None],
                      ended: bool, verdict: Verdict, step: int | None) -> None:
    decision = decide_trial(rule, steps, results, ended)
    assert (decision.verdict, decision.step) == (verdict, step)


def _legacy(accuracies: list[float], target: float) -> tuple[str, int]:
    """The legacy loop of legacy-loop.md, verbatim in spirit: step order, one at a time."""
    best = -1.0
    for i, acc in enumerate(accuracies):
        if i > 0 and acc < accuracies[i - 1]:
            return ("success" if best > target else "fell"), i
        best = max(best, acc)
        if acc > target:
            return "success", i
    return ("success" if best > target else "exhausted"), len(accuracies) - 1


@pytest.mark.parametrize("curve", [
    [0.4, 0.6, 0.79, 0.83, 0.85],
    [0.4, 0.6, 0.55, 0.9],
    [0.4, 0.5, 0.6, 0.7],
    [0.9],
    [0.5, 0.5, 0.49],
])
def test_defaults_reproduce_the_legacy_loop_in_step_order(curve: list[float]) -> None:
    target = 0.8
    expected, index = _legacy(curve, target)
    steps = [100 * (i + 1) for i in range(len(curve))]
    results: dict[int, float | None] = {}
    decision = decide_trial(MAX, steps, results, training_ended=True)
    for i, value in enumerate(curve):  # results arrive one at a time, in step order
        results[steps[i]] = value
        decision = decide_trial(MAX, steps, results, training_ended=True)
        if decision.verdict is not Verdict.CONTINUE:
            break
    got = {Verdict.TARGET_REACHED: "success", Verdict.METRIC_FELL: "fell",
           Verdict.COMPLETE: "exhausted"}[decision.verdict]
    assert got == expected
    assert steps.index(decision.step) == index if decision.step else index == len(curve) - 1


@pytest.mark.parametrize(("rule", "results", "best"), [
    (MAX, {(1, 1): 0.5, (1, 2): 0.7, (2, 1): 0.7}, (1, 2)),
    (MIN, {(1, 1): 5.0, (1, 2): 3.0, (2, 1): 4.0}, (1, 2)),
    (MAX, {(1, 1): None, (1, 2): NAN}, None),
    (MAX, {}, None),
])
def test_best_of(rule: Rule, results: dict[tuple[int, int], float | None],
                 best: tuple[int, int] | None) -> None:
    assert best_of(rule, results) == best


@pytest.mark.parametrize(("rule", "steps", "results", "ended", "reason"), [
    (MAX, [100, 200, 300], {100: 0.6, 200: 0.7025, 300: 0.6955}, False,
     "accuracy fell 0.7025 -> 0.6955 at step 300 (patience 1)"),
    (MAX, [100, 200, 300], {100: 0.6, 200: 0.7, 300: 0.8105}, False,
     "accuracy 0.8105 reached the target 0.8 at step 300"),
    (Rule(0.8, patience=2), [1, 2, 3], {1: 0.7, 2: 0.6, 3: 0.5}, False,
     "accuracy fell 2 times in a row, last 0.6000 -> 0.5000 at step 3 (patience 2)"),
    (Rule(0.8, min_delta=0.01), [1, 2], {1: 0.7, 2: 0.68}, False,
     "accuracy fell 0.7000 -> 0.6800 at step 2 (patience 1, min_delta 0.01)"),
    (MIN, [1, 2], {1: 20.0, 2: 21.0}, False, "accuracy rose 20.0000 -> 21.0000 at step 2 "
     "(patience 1)"),
    (MAX, [1, 2, 3], {1: 0.7, 2: None, 3: 0.75}, True,
     "training ended; none of its 2 evaluated checkpoints reached the target 0.8 "
     "(best accuracy 0.7500)"),
    (MIN, [1, 2], {1: 20.0, 2: 15.0}, True, "training ended; none of its 2 evaluated "
     "checkpoints reached the target 10 (best accuracy 15.0000)"),
    (MAX, [], {}, True, "training ended with no evaluated checkpoint"),
    (MAX, [1], {1: 0.5}, False, ""),
])
def test_explain_gives_the_rules_reason_with_its_values(
        rule: Rule, steps: list[int], results: dict[int, float | None], ended: bool,
        reason: str) -> None:
    assert explain(rule, decide_trial(rule, steps, results, ended), "accuracy") == reason
