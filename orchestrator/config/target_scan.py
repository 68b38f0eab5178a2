"""The input check of a regression's files (data.task=regression, data.source=files): every
row's target must be a finite number, as jobs/regression.py reads it. It counts over the
rows `orchestrator.config.data_scan.scan_file` reads, in place of the class-label scan, and keeps
no row. Standard library only."""

from __future__ import annotations

import math
from typing import Any

from orchestrator.config.settings import DataSettings

SHOWN = 3  # offending rows named in a message


def _number(raw: Any) -> bool:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return False
    try:
        return math.isfinite(float(raw))
    except ValueError:
        return False


class TargetScan:
    """Counts over one file's rows, each `(line, (text, target, columns))`."""

    def __init__(self, data: DataSettings) -> None:
        self.data = data
        self.rows = 0
        self.bad = 0
        self.shown: list[str] = []
        self.no_text = 0

    def add(self, line: int, row: tuple[Any, Any, Any]) -> None:
        text, target, _ = row
        self.rows += 1
        if text is not None and not isinstance(text, str | int | float):
            self.no_text += 1  # the column is absent (a null text is an empty one)
        if not _number(target):
            self.bad += 1
            if len(self.shown) < SHOWN:
                shown = target if isinstance(target, str | int | float) else None
                self.shown.append(f"line {line}: {shown!r}")

    def problems(self, where: str, is_train: bool) -> list[str]:
        d = self.data
        if not self.rows:
            return [f"{where}: no rows"]
        found = []
        if self.no_text:
            found.append(f"{where}: column {d.text_column!r} not found in {self.no_text} rows; "
                         "set data.text_column")
        if self.bad:
            found.append(f"{where}: {self.bad} of {self.rows} rows have no finite number in "
                         f"data.label_column={d.label_column} ({', '.join(self.shown)}); "
                         "data.task=regression needs a numeric target there")
        return found
