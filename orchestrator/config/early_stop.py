"""The settings of `search.early_stop` (decide.pruning, decide.wilcoxon), a base of config.settings'
SearchSettings: its fields keep their flat names (search.early_stop_grace_steps, ...)."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.config.choice import Choice


class EarlyStop(Choice):  # search.early_stop
    NONE = "none"
    MEDIAN = "median"
    ASHA = "asha"
    HYPERBAND = "hyperband"
    WILCOXON = "wilcoxon"


@dataclass(frozen=True)
class EarlyStopSettings:
    """Stopping trials that cannot catch up with the others (the median rule, rungs)."""

    early_stop: EarlyStop = EarlyStop.NONE  # none|median|asha|hyperband|wilcoxon (decide)
    early_stop_min_trials: int = 2  # other trials with a result at the same step/rung, to judge
    # never judge a checkpoint before this step; asha, hyperband: the first rung (Optuna's
    early_stop_grace_steps: int = 0  # min_resource, Ray Tune's grace_period)
    early_stop_reduction_factor: int = 3  # asha, hyperband: rungs grace * eta**k keep 1/eta
    # hyperband: the last step a trial trains to (Optuna's max_resource), which sets the
    early_stop_max_resource: int = 0  # brackets; 0: train.max_steps
    # wilcoxon: stop a trial whose per-example scores are worse than the best trial's best
    early_stop_p_threshold: float = 0.1  # checkpoint's with p below this (Optuna's default)
