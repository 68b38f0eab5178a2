"""Configuration problems and warnings of `search.early_stop` (the median rule, ASHA,
Hyperband and Wilcoxon), one line each."""

from __future__ import annotations

from orchestrator.common import example_scores
from orchestrator.config.settings import EarlyStop, Settings


def problems(s: Settings) -> list[str]:
    search, p = s.search, list[str]()
    if search.early_stop_min_trials < 1:
        p.append(f"search.early_stop_min_trials={search.early_stop_min_trials}: must be >= 1")
    if search.early_stop_reduction_factor < 2:
        p.append(f"search.early_stop_reduction_factor={search.early_stop_reduction_factor}: "
                 "must be >= 2 (3 keeps the top third at each rung)")
    rungs = search.early_stop in (EarlyStop.ASHA, EarlyStop.HYPERBAND)
    if rungs and search.early_stop_grace_steps < 1:
        # rungs are grace * eta**k: a first rung at step 0 would make every rung step 0
        example = s.train.save_steps if s.train.save_steps > 0 else 100
        p.append(f"search.early_stop={search.early_stop} needs search.early_stop_grace_steps "
                 f">= 1, the first rung's step; e.g. search.early_stop_grace_steps={example}")
    elif search.early_stop == EarlyStop.HYPERBAND:
        p += _hyperband_problems(s)
    if search.early_stop == EarlyStop.WILCOXON:
        p += _wilcoxon_problems(s)
    return p


def _wilcoxon_problems(s: Settings) -> list[str]:
    """Wilcoxon pairs per-example scores, which only the built-in inference job writes
    (common.example_scores), and only for the metrics that have one."""
    search, p = s.search, list[str]()
    if not 0 < search.early_stop_p_threshold < 1:
        p.append(f"search.early_stop_p_threshold={search.early_stop_p_threshold}: must be "
                 "between 0 and 1 (Optuna's default is 0.1)")
    if s.infer.command:
        p.append("search.early_stop=wilcoxon needs per-example scores, which infer.command "
                 "(your own script) does not write; use search.early_stop=median, asha or "
                 "hyperband")
    elif example_scores.kind_of(search.metric) is None:
        p.append(f"search.early_stop=wilcoxon has no per-example score for search.metric="
                 f"{search.metric}; use one of {', '.join(example_scores.KIND_OF_METRIC)}, "
                 "or search.early_stop=median, asha or hyperband")
    return p


def _hyperband_problems(s: Settings) -> list[str]:
    """Hyperband's brackets follow from its last step: it must be known and past the first
    rung (Optuna's max_resource='auto', learnt from finished trials, would not replay)."""
    search = s.search
    last = search.early_stop_max_resource or s.train.max_steps
    if last <= 0:
        return ["search.early_stop=hyperband needs the last step a trial trains to: set "
                "search.early_stop_max_resource (or train.max_steps)"]
    if last < search.early_stop_grace_steps:
        return [f"search.early_stop=hyperband: the last step {last} (search.early_stop_max_"
                f"resource or train.max_steps) is before search.early_stop_grace_steps="
                f"{search.early_stop_grace_steps}; raise it or lower the grace"]
    return []


def warnings(s: Settings, trials: int) -> list[str]:
    """`trials`: how many trials can run at most (a grid may run fewer than max_trials)."""
    search, w = s.search, list[str]()
    if search.early_stop == EarlyStop.NONE:
        return w
    name = f"search.early_stop={search.early_stop}"
    # every rule judges a trial against at least early_stop_min_trials OTHER trials with a
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
