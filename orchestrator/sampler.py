"""Hyperparameters for each trial, from `search.space`.

Theory of operation: a trial's parameters are decided once, when it starts, and journaled
with its `trial_started` event; a resumed controller reads them back and never asks again.
`grid` and `random` are pure functions of the trial number (random draws from a generator
seeded with the search seed and the trial number), so they need no state at all. `optuna`
keeps its study in Optuna's own journal file inside search.dir (TPE through ask/tell): the
controller tells it each finished trial's best metric, and a resumed search reopens the
same study. Optuna is imported only when it is used.

The controller sees one `Sampler`, chosen once from the settings by `sampler_for`: it asks
for a trial's parameters, tells it how an ended trial did, and asks how many trials it can
give; it never tests which sampler it has.
"""

from __future__ import annotations

import itertools
import math
import random
from pathlib import Path
from typing import Any, Protocol

from orchestrator.settings import SearchSettings

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


class OptunaSearch(NoSpace):
    """The Optuna study behind the Sampler interface, opened on first use."""

    def __init__(self, search_dir: Path, space: Space, seed: int, mode: str) -> None:
        self.args = search_dir, space, seed, mode
        self._study: OptunaSampler | None = None

    def _sampler(self) -> OptunaSampler:
        if self._study is None:
            self._study = OptunaSampler(*self.args)
        return self._study

    def ask(self, number: int) -> tuple[dict[str, Any], int | None]:
        asked, params = self._sampler().ask()
        return params, asked

    def tell(self, sampler_trial: int, best: float | None) -> None:
        self._sampler().tell(sampler_trial, best)

    def abandon_unknown(self, known: set[int]) -> None:
        self._sampler().abandon_unknown(known)


def sampler_for(search: SearchSettings) -> Sampler:
    """The one sampler a search uses, from `search.space` and `search.sampler`."""
    if not search.space:
        return NoSpace()
    if search.sampler == "grid":
        return GridSampler(search.space)
    if search.sampler == "random":
        return RandomSampler(search.space, search.sampler_seed)
    return OptunaSearch(Path(search.dir), search.space, search.sampler_seed, search.mode)
