"""Hyperparameters for each trial, from `search.space`.

Theory of operation: a trial's parameters are decided once, when it starts, and journaled
with its `trial_started` event; a resumed controller reads them back and never asks again.
`grid` and `random` are pure functions of the trial number (random draws from a generator
seeded with the search seed and the trial number), so they need no state at all. `optuna`
keeps its study in Optuna's own journal file inside search.dir (TPE through ask/tell): the
controller tells it each finished trial's best metric, and a resumed search reopens the
same study (orchestrator/decide/optuna_sampler.py: the one sampler that keeps a file).

The controller sees one `Sampler`, chosen once from the settings by `sampler_for`: it asks
for a trial's parameters, tells it how an ended trial did, and asks how many trials it can
give; it never tests which sampler it has.
"""

from __future__ import annotations

import itertools
import math
import random
from typing import Any, Protocol

Space = dict[str, Any]  # name -> list of choices, or {low, high, log}


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


class Sampler(Protocol):
    def ask(self, number: int) -> tuple[dict[str, Any], int | None]:
        """Trial `number`'s parameters, and the sampler's own number for it (or None)."""

    def tell(self, sampler_trial: int, best: float | None) -> None:
        """How an ended trial did (None: no usable metric); idempotent."""

    def abandon_unknown(self, known: set[int]) -> None:
        """On resume: forget what was asked for trials the journal does not know."""

    def size(self, max_trials: int) -> int:
        """How many trials the search can have: at most `max_trials`."""


class NoSpace:
    """No `search.space`: every trial has the same settings (a new seed each)."""

    def ask(self, number: int) -> tuple[dict[str, Any], int | None]:
        return {}, None

    def tell(self, sampler_trial: int, best: float | None) -> None:
        pass

    def abandon_unknown(self, known: set[int]) -> None:
        pass

    def size(self, max_trials: int) -> int:
        return max_trials


class GridSampler(NoSpace):
    """Trial n gets the n-th combination; the grid caps the number of trials."""

    def __init__(self, space: Space) -> None:
        self.space = space

    def ask(self, number: int) -> tuple[dict[str, Any], int | None]:
        return grid(self.space)[number - 1], None

    def size(self, max_trials: int) -> int:
        return min(max_trials, grid_size(self.space))


class RandomSampler(NoSpace):
    def __init__(self, space: Space, seed: int) -> None:
        self.space, self.seed = space, seed

    def ask(self, number: int) -> tuple[dict[str, Any], int | None]:
        return draw(self.space, self.seed, number), None
