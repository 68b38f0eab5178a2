"""Classification metrics shared by validation during training and the inference job.

Macro averages run over every class in `labels`, present or not, so that a class the model
never predicts counts against it (zero_division=0) instead of silently dropping out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support


def summary(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int) -> dict[str, float]:
    """accuracy and macro precision / recall / f1: the names Trainer's best-model metric uses."""
    ids = list(range(n_labels))
    precision, recall, f1, _ = precision_recall_fscore_support(
        y_true, y_pred, labels=ids, average="macro", zero_division=0
    )
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
    }


def report(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    """The summary plus per-class scores and the confusion matrix (rows = true label)."""
    ids = list(range(len(labels)))
    overall = summary(y_true, y_pred, len(labels))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=ids, average=None, zero_division=0
    )
    per_class = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(labels)
    }
    matrix = confusion_matrix(y_true, y_pred, labels=ids)
    return {
        "accuracy": overall["accuracy"],
        "precision_macro": overall["precision"],
        "recall_macro": overall["recall"],
        "f1_macro": overall["f1"],
        "per_class": per_class,
        "labels": list(labels),
        "confusion_matrix": np.asarray(matrix).astype(int).tolist(),
    }
