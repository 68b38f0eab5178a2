"""Configuration problems and warnings of `search.early_stop` (the median rule and ASHA),
one line each."""

from __future__ import annotations

from orchestrator.config.settings import EarlyStop, Settings


def problems(s: Settings) -> list[str]:
    search, p = s.search, list[str]()
    if search.early_stop_min_trials < 1:
        p.append(f"search.early_stop_min_trials={search.early_stop_min_trials}: must be >= 1")
    if search.early_stop_reduction_factor < 2:
        p.append(f"search.early_stop_reduction_factor={search.early_stop_reduction_factor}: "
                 "must be >= 2 (3 keeps the top third at each rung)")
    if search.early_stop == EarlyStop.ASHA and search.early_stop_grace_steps < 1:
        # rungs are grace * eta**k: a first rung at step 0 would make every rung step 0
        example = s.train.save_steps if s.train.save_steps > 0 else 100
        p.append(f"search.early_stop=asha needs search.early_stop_grace_steps >= 1, the first "
                 f"rung's step; e.g. search.early_stop_grace_steps={example}")
    return p


def warnings(s: Settings, trials: int) -> list[str]:
    """`trials`: how many trials can run at most (a grid may run fewer than max_trials)."""
    search, w = s.search, list[str]()
    if search.early_stop == EarlyStop.NONE:
        return w
    name = f"search.early_stop={search.early_stop}"
    # both rules judge a trial against at least early_stop_min_trials OTHER trials with a
    # result at the same step or rung (ended ones count, so trials in a row are compared)
    if trials <= search.early_stop_min_trials:
        w.append(f"{name} never acts: it needs "
                 f"search.early_stop_min_trials={search.early_stop_min_trials} other "
                 f"trials with a result at a step, and at most {trials} trials run; raise "
                 f"search.max_trials above {search.early_stop_min_trials}")
    elif 0 < s.train.max_steps < search.early_stop_grace_steps:
        w.append(f"{name} never acts: search.early_stop_grace_steps="
                 f"{search.early_stop_grace_steps} is past train.max_steps="
                 f"{s.train.max_steps}")
    return w
