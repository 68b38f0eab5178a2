"""search.early_stop=wilcoxon: the signed-rank test against scipy.stats.wilcoxon, and the
rule against Optuna's WilcoxonPruner on the same recorded per-example scores."""

from __future__ import annotations

import random
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from orchestrator.common import example_scores
from orchestrator.config.settings import (
    DataSettings,
    EarlyStop,
    ExecutorSettings,
    InferSettings,
    ModelSettings,
    SearchSettings,
    Settings,
    TrainSettings,
)
from orchestrator.decide import policy
from orchestrator.decide.stop_rule import Mode, Rule
from orchestrator.decide.wilcoxon import signed_rank_p, wilcoxon_prune
from orchestrator.model.events import decode
from orchestrator.model.state import SearchState


def _cases() -> list[list[float]]:
    rng = random.Random(7)
    cases: list[list[float]] = [
        [1.0, 2.0, 3.0], [-1.0, -2.0, 3.5, 4.0], [0.0, 0.0, 0.0], [0.0, 1.0, -1.0, 2.0],
        [1.0, 1.0, 1.0, -1.0, 0.0], [0.5] * 12 + [-0.5], [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0],
    ]
    for n in (5, 10, 13, 14, 30, 50, 51, 200, 500):
        cases.append([rng.gauss(0.1, 1.0) for _ in range(n)])  # no ties: exact up to 50
        cases.append([float(rng.choice((-1, 0, 0, 1))) for _ in range(n)])  # 0/1 minus 0/1
        cases.append([round(rng.gauss(-0.2, 1.0), 1) for _ in range(n)])  # ties and zeros
    return cases


@pytest.mark.parametrize("alternative", ["less", "greater"])
@pytest.mark.parametrize("d", _cases())
def test_the_signed_rank_test_is_scipys(d: list[float], alternative: str) -> None:
    stats = pytest.importorskip("scipy.stats")
    expected = stats.wilcoxon(d, zero_method="zsplit", alternative=alternative).pvalue
    assert signed_rank_p(d, alternative) == pytest.approx(float(expected), rel=1e-9, abs=1e-12)


def _draws(seed: int, n: int, rate: float, continuous: bool) -> list[float]:
    rng = random.Random(seed)
    if continuous:  # minus an absolute error, rounded as the side file keeps it
        return [round(-abs(rng.gauss(0.0, 1.0 / rate)), 6) for _ in range(n)]
    return [float(rng.random() < rate) for _ in range(n)]


# (examples, the best trial's rate, the judged trial's rate, continuous scores)
RECORDED = [(n, best, mine, cont) for n in (8, 40, 200, 500) for best, mine in
            ((0.8, 0.5), (0.8, 0.7), (0.8, 0.78), (0.8, 0.8), (0.8, 0.9), (0.6, 0.3))
            for cont in (False, True)]


@pytest.mark.parametrize(("n", "best_rate", "rate", "continuous"), RECORDED)
@pytest.mark.parametrize("threshold", [0.1, 0.01])
def test_a_checkpoint_is_stopped_exactly_when_optunas_wilcoxon_pruner_prunes(
        n: int, best_rate: float, rate: float, continuous: bool, threshold: float) -> None:
    """The best trial's best checkpoint is Optuna's best (complete) trial, the judged
    checkpoint's per-example scores the running trial's intermediate values by example."""
    optuna = pytest.importorskip("optuna")
    best = _draws(1, n, best_rate, continuous)
    mine = _draws(2, n, rate, continuous)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's ExperimentalWarning
        pruner = optuna.pruners.WilcoxonPruner(p_threshold=threshold)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    study.add_trial(optuna.trial.create_trial(
        value=sum(best) / n, intermediate_values=dict(enumerate(best))))
    running = optuna.trial.create_trial(state=optuna.trial.TrialState.RUNNING,
                                        intermediate_values=dict(enumerate(mine)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna's ExperimentalWarning
        expected = study.pruner.prune(study, running)
    scores = {(1, 300): best, (2, 300): mine}
    got = wilcoxon_prune(Rule(2.0), [(1, 300, sum(best) / n), (2, 300, sum(mine) / n)], {2},
                         lambda t, s: scores[t, s], 1, 0, threshold)
    assert bool(got) == expected
    if got:
        assert got[0].explain("accuracy").startswith(
            "at step 300 its per-example scores were worse than trial 1's best (p=")



BAD, GOOD = [0.0] * 40 + [1.0] * 10, [1.0] * 40 + [0.0] * 10  # 0.2 and 0.8 correct
MID = [1.0] * 25 + [0.0] * 25
SCORES = {"bad": BAD, "good": GOOD, "mid": MID}


def _prune(arrivals: list[tuple[int, int, float | None, str]], active: set[int],
           min_trials: int = 1, grace: int = 0,
           mode: Mode = Mode.MAX) -> list[tuple[int, int, int]]:
    kinds = {(t, s): k for t, s, _, k in arrivals}

    def scores(trial: int, step: int) -> Sequence[float] | None:
        return SCORES.get(kinds[trial, step])

    cut = wilcoxon_prune(Rule(2.0, mode), [(t, s, v) for t, s, v, _ in arrivals], active,
                         scores, min_trials, grace, 0.1)
    return [(w.trial, w.step, w.best_trial) for w in cut]


@pytest.mark.parametrize(("arrivals", "active", "kwargs", "expected"), [
    # a bad checkpoint against the best so far: stopped, naming the best trial
    ([(1, 100, 0.8, "good"), (2, 100, 0.2, "bad")], {1, 2}, {}, [(2, 100, 1)]),
    # judged against the evaluations journaled before it only: trial 1 came first
    ([(2, 100, 0.2, "bad"), (1, 100, 0.8, "good")], {1, 2}, {}, []),
    # ...but its next checkpoint meets trial 1
    ([(2, 100, 0.2, "bad"), (1, 100, 0.8, "good"), (2, 200, 0.2, "bad")], {1, 2}, {},
     [(2, 200, 1)]),
    # the best OTHER trial's best checkpoint (trial 3's step 200, not trial 1's)
    ([(1, 100, 0.5, "mid"), (3, 100, 0.5, "mid"), (3, 200, 0.8, "good"), (2, 100, 0.2, "bad")],
     {2}, {}, [(2, 100, 3)]),
    # too few other trials, before the grace, an ended trial, no scores (a user's script)
    ([(1, 100, 0.8, "good"), (2, 100, 0.2, "bad")], {1, 2}, {"min_trials": 2}, []),
    ([(1, 100, 0.8, "good"), (2, 100, 0.2, "bad")], {1, 2}, {"grace": 200}, []),
    ([(1, 100, 0.8, "good"), (2, 100, 0.2, "bad")], {1}, {}, []),
    ([(1, 100, 0.8, "none"), (2, 100, 0.2, "bad")], {2}, {}, []),
    # a failed evaluation is no result; Optuna's safety: better on average is never stopped
    ([(1, 100, None, "good"), (2, 100, 0.2, "bad")], {2}, {}, []),
    ([(1, 100, 0.8, "mid"), (2, 100, 0.2, "good")], {2}, {}, []),
    # search.mode=min: the best trial is the lowest metric (a loss)
    ([(1, 100, 0.1, "good"), (3, 100, 0.9, "mid"), (2, 100, 0.5, "bad")], {2},
     {"mode": Mode.MIN}, [(2, 100, 1)]),
])
def test_the_rule_on_journal_orders(arrivals: list[tuple[int, int, float | None, str]],
                                    active: set[int], kwargs: dict[str, Any],
                                    expected: list[tuple[int, int, int]]) -> None:
    assert _prune(arrivals, active, **kwargs) == expected


def test_the_reason_names_the_step_the_best_and_the_p_value() -> None:
    cut = wilcoxon_prune(Rule(2.0), [(2, 50, 0.8), (3, 300, 0.2)], {3},
                         lambda t, s: GOOD if t == 2 else BAD, 1, 0, 0.1)
    why = cut[0].explain("accuracy")
    assert why.startswith("at step 300 its per-example scores were worse than trial 2's "
                          "best (p=")
    assert why.endswith(" < 0.1, 50 examples)") and cut[0].p < 0.001


def test_the_controller_s_decision_reads_the_result_files_the_journal_names(
        tmp_path: Path) -> None:
    """policy.pruned under search.early_stop=wilcoxon: the scores come from the side files
    of the results the journal names, on search.split; a result without one is not judged."""
    lines: list[dict[str, Any]] = [{"event": "search_started", "t": 0.0, "settings": {}}]
    for n, value, scores in ((1, 0.8, GOOD), (2, 0.2, BAD), (3, 0.2, None)):
        result = tmp_path / f"t{n}" / "step-00000100.json"
        if scores is not None:
            example_scores.write(result, {"validation": {"correct": scores}})
        lines += [{"event": "trial_started", "t": 1.0, "trial": n, "seed": 42,
                   "output_dir": f"t{n}", "params": {}, "sampler_trial": None},
                  {"event": "evaluation", "t": 1.0, "trial": n, "step": 100, "value": value,
                   "job_id": None, "checkpoint": "", "result": str(result),
                   "split": "validation"}]
    state = SearchState.replay(decode(line, "test") for line in lines)
    search = SearchSettings(target=0.9, split="validation", early_stop=EarlyStop.WILCOXON,
                            early_stop_min_trials=1)
    settings = Settings(search=search, executor=ExecutorSettings(), data=DataSettings(),
                        model=ModelSettings(), train=TrainSettings(), infer=InferSettings())
    got = policy.pruned(Rule(0.9), state, settings, example_scores.read)
    assert [(t, s) for t, s, _ in got] == [(2, 100)]
    assert got[0][2].startswith("at step 100 its per-example scores were worse than trial 1's")
    assert policy.pruned(Rule(0.9), state, settings) == []  # no reader: no scores
