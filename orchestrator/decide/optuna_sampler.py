"""The Optuna sampler (TPE through ask/tell), and the choice of a search's sampler.

Apart from the pure draws in `orchestrator.decide.sampler` because it keeps a file: the study lives
in Optuna's own journal inside search.dir, so a resumed search reopens the same study.
Optuna is imported only when it is used, and the study opened on the first ask.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.config.settings import SamplerName, SearchSettings
from orchestrator.decide.sampler import (
    GridSampler,
    NoSpace,
    RandomSampler,
    Sampler,
    Space,
    is_range,
)

OPTUNA_FILE = "optuna-journal.log"


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
    if search.sampler == SamplerName.GRID:
        return GridSampler(search.space)
    if search.sampler == SamplerName.RANDOM:
        return RandomSampler(search.space, search.sampler_seed)
    return OptunaSearch(Path(search.dir), search.space, search.sampler_seed, search.mode)
