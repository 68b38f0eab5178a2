"""Hyperparameters for each trial, from `search.space`.

Theory of operation: a trial's parameters are decided once, when it starts, and journaled
with its `trial_started` event; a resumed controller reads them back and never asks again.
`grid` and `random` are pure functions of the trial number (random draws from a generator
seeded with the search seed and the trial number), so they need no state at all. `optuna`
keeps its study in Optuna's own journal file inside search.dir (TPE through ask/tell): the
controller tells it each finished trial's best metric, and a resumed search reopens the
same study. Optuna is imported only when it is used.
"""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path
from typing import Any

Space = dict[str, Any]  # name -> list of choices, or {low, high, log}

OPTUNA_FILE = "optuna-journal.log"


def is_range(spec: Any) -> bool:
    return isinstance(spec, dict)


def grid(space: Space) -> list[dict[str, Any]]:
    """Every combination of the choices, in a fixed order (names sorted, choices as given)."""
    names = sorted(space)
    return [dict(zip(names, values, strict=True))
            for values in itertools.product(*(space[n] for n in names))]


def grid_size(space: Space) -> int:
    return math.prod(len(space[n]) for n in space) if space else 1


def draw(space: Space, seed: int, trial: int) -> dict[str, Any]:
    """The random sampler: the same (seed, trial) always gives the same parameters."""
    rng = random.Random(f"{seed}:{trial}")
    params: dict[str, Any] = {}
    for name in sorted(space):
        spec = space[name]
        if not is_range(spec):
            params[name] = rng.choice(list(spec))
        elif spec.get("log"):
            params[name] = math.exp(rng.uniform(math.log(spec["low"]), math.log(spec["high"])))
        else:
            params[name] = rng.uniform(spec["low"], spec["high"])
    return params


class OptunaSampler:
    """TPE through ask/tell, its study stored in `<search.dir>/optuna-journal.log`."""

    def __init__(self, search_dir: Path, space: Space, seed: int, mode: str) -> None:
        import optuna
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = JournalStorage(JournalFileBackend(str(search_dir / OPTUNA_FILE)))
        self.space = space
        self.study = optuna.create_study(
            study_name="search", storage=storage, load_if_exists=True,
            direction="maximize" if mode == "max" else "minimize",
            sampler=optuna.samplers.TPESampler(seed=seed),
        )

    def ask(self) -> tuple[int, dict[str, Any]]:
        import optuna

        distributions: dict[str, Any] = {}
        for name, spec in sorted(self.space.items()):
            if is_range(spec):
                distributions[name] = optuna.distributions.FloatDistribution(
                    spec["low"], spec["high"], log=bool(spec.get("log")))
            else:
                distributions[name] = optuna.distributions.CategoricalDistribution(list(spec))
        trial = self.study.ask(distributions)
        return trial.number, dict(trial.params)

    def tell(self, number: int, value: float | None) -> None:
        """Report a finished trial (None: it produced no usable metric); idempotent."""
        import optuna

        frozen = self.study.get_trials(deepcopy=False)
        if number >= len(frozen) or frozen[number].state.is_finished():
            return
        if value is None:
            self.study.tell(number, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(number, value)

    def abandon_unknown(self, known: set[int]) -> None:
        """Fail study trials asked by a controller that died before journaling them."""
        import optuna

        for trial in self.study.get_trials(deepcopy=False):
            if trial.number not in known and not trial.state.is_finished():
                self.study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
