"""What the user may leave to the search, resolved once, after validation.

Validation judges the settings as the user wrote them (its lines name their keys); then
`resolved` fills in what follows from the rest, so that below validation:
- search.mode is max or min (a known metric's own direction; your own script's: max);
- search.fall_grace_steps is a number of steps (`auto`: the built-in training's warm-up);
- search.snapshot is true or false (`auto`: on for executor=slurm);
- train.metric_for_best_model is never auto (`task_checks.best_model_metric`);
- each kind of job has its own copy of the shared executor settings.
Pure: standard library and the settings only.
"""

from __future__ import annotations

from dataclasses import replace

from orchestrator.config import task_checks
from orchestrator.config.settings import Settings, resolve_executor

LOWER_IS_BETTER = ("loss", "mae", "rmse")
HIGHER_IS_BETTER_PREFIXES = ("accuracy", "precision", "recall", "f1", "r2")
AUTO = "auto"


def natural_mode(metric: str) -> str | None:
    """The direction in which a known metric improves; None for a name we do not know."""
    if metric in LOWER_IS_BETTER:
        return "min"
    if metric.startswith(HIGHER_IS_BETTER_PREFIXES):
        return "max"
    return None


def resolved_mode(s: Settings) -> str:
    """search.mode as given, else the metric's own direction; users' own scripts print a
    number whose meaning we cannot know, so they keep the legacy default (max)."""
    if s.search.mode:
        return s.search.mode
    natural = None if s.infer.command else natural_mode(s.search.metric)
    return natural or "max"


def fall_grace(s: Settings) -> int:
    """search.fall_grace_steps in steps. `auto` is the built-in training's warm-up: while the
    learning rate still ramps up, a dip of the metric says little about the trial (a ratio
    counts against train.max_steps; with epochs only, the steps are unknown here: 0). A
    user's own train.command has a warm-up of its own that we cannot read: 0."""
    grace = s.search.fall_grace_steps
    if grace != AUTO:
        return int(grace)
    warmup, max_steps = s.train.warmup_steps, s.train.max_steps
    if s.train.command or warmup < 0:
        return 0
    if warmup >= 1:
        return int(warmup)
    return int(warmup * max_steps) if max_steps > 0 else 0


def snapshot_on(s: Settings) -> bool:
    """search.snapshot as true/false: `auto` freezes the code where jobs wait in a queue
    (slurm), not where they start at once beside the user's editor (local, debug)."""
    if s.search.snapshot == AUTO:
        return s.executor.name == "slurm"
    return s.search.snapshot is True


def problems(s: Settings) -> list[str]:
    found = [] if isinstance(s.search.snapshot, bool) or s.search.snapshot == AUTO else [
        f"search.snapshot={s.search.snapshot}: must be true, false or auto"]
    grace = s.search.fall_grace_steps
    if grace == AUTO or (isinstance(grace, int) and grace >= 0):
        return found
    return [*found, f"search.fall_grace_steps={grace}: must be a number of steps >= 0, or auto "
            "(the training's warm-up)"]


def resolved(s: Settings) -> Settings:
    search = replace(s.search, mode=resolved_mode(s), fall_grace_steps=fall_grace(s),
                     snapshot=snapshot_on(s))
    return replace(s, search=search, train=task_checks.resolved_train(s),
                   executor=resolve_executor(s.executor))
