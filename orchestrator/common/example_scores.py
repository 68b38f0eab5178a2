"""Per-example scores: the side file the built-in inference job writes next to its result,
and the reading of it that search.early_stop=wilcoxon (decide.wilcoxon) pairs by example.

`evals/step-N.json` gets `evals/step-N.examples.json`: for each split, a few lists of
floats, one per example in the split's order, written once (compact, atomically, before the
result, so a result that exists has its scores beside it). Every score is higher-is-better,
so a test compares them without the metric's mode:

- correct: 1.0 where the predicted class is the label, else 0.0 (accuracy, f1, precision,
  recall and their macro forms: the per-example part of them all);
- neg_loss: minus the example's cross-entropy (a classifier's loss), or minus its squared
  error in the target's units (a regression's loss, rmse and r2);
- neg_abs_error: minus the absolute error (a regression's mae).

Users' own scripts write no such file: their results have no per-example scores.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestrator.common import layout
from orchestrator.common.fsutil import atomic_write_text

# search.metric -> the per-example score whose paired differences stand for it
KIND_OF_METRIC = {
    **{m: "correct" for m in ("accuracy", "f1", "precision", "recall", "f1_macro",
                              "precision_macro", "recall_macro")},
    "loss": "neg_loss",
    "rmse": "neg_loss",
    "r2": "neg_loss",
    "mae": "neg_abs_error",
}


def kind_of(metric: str) -> str | None:
    """The per-example score standing for `metric`; None: there is none (a user's metric)."""
    return KIND_OF_METRIC.get(metric)


def write(result_path: str | Path, scores: Mapping[str, Mapping[str, Sequence[float]]]) -> None:
    """split -> kind -> one score per example, rounded to 6 digits (a 0/1 stays one byte)."""
    data = {split: {kind: [_compact(v) for v in values] for kind, values in kinds.items()}
            for split, kinds in scores.items()}
    text = json.dumps(data, separators=(",", ":")) + "\n"
    atomic_write_text(layout.examples_path(result_path), text)


def read(result_path: str | Path, split: str, metric: str) -> list[float] | None:
    """The scores standing for `metric` on `split`; None when the result has none (a user's
    script, an older job, a metric without per-example scores) or they are unreadable."""
    kind = kind_of(metric)
    if kind is None or not result_path:
        return None
    try:
        data = json.loads(layout.examples_path(result_path).read_text(encoding="utf-8"))
        values = data[split][kind]
        scores = [float(v) for v in values]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return scores if all(math.isfinite(v) for v in scores) else None


def _compact(value: float) -> float | int:
    rounded = round(float(value), 6)
    return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded


@functools.lru_cache(maxsize=4096)
def cached_read(result_path: str, split: str, metric: str) -> tuple[float, ...] | None:
    """`read`, once per result: the files are written once and never change (a checkpoint
    written again is evaluated into a new result file), and the controller asks each tick."""
    found = read(result_path, split, metric)
    return None if found is None else tuple(found)
