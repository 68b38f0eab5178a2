"""The data files read as the training job reads them: every row, streamed, nothing kept but
counts (preflight's check of `data.source=files`).

`scan_file` reads a CSV/TSV or JSON-lines file with the job's own rules (csv.DictReader's
columns, the one label rule of `common.labels`) and returns one line per problem: a missing
column (with the columns the file has), labels that neither data.label_map nor data.labels
covers (their counts, first lines, and advice that pastes whole), an empty file, a split too
small for data.val_fraction. A regression's targets are scanned by `target_scan` instead.
Standard library only: it runs on the login node.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from orchestrator.common.labels import label_index, label_key
from orchestrator.config.settings import DataSettings, Task
from orchestrator.config.target_scan import TargetScan

SHOWN_LABELS = 5  # offending label values named in a message
MANY_LABELS = 50  # more distinct offending values than this: probably the wrong column
TRACKED_LABELS = 1000  # distinct offending values counted one by one; the rest are summed
MEMO_LABELS = 10000  # distinct raw labels whose verdict is remembered


def scan_file(path: Path, where: str, data: DataSettings, is_train: bool) -> list[str]:
    """The problems jobs/data.py would meet reading `path`; all rows are read, one at a time."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        rows = _jsonl_rows(path, data)
    elif suffix in (".csv", ".tsv"):
        rows = _csv_rows(path, "\t" if suffix == ".tsv" else ",", data)
    else:
        return [f"{where}: unsupported extension {suffix!r}; use .csv, .tsv or .jsonl"]
    scan = TargetScan(data) if data.task == Task.REGRESSION else _Scan(data)
    try:
        for line, row in rows:
            scan.add(line, row)
    except _Unreadable as exc:
        return [f"{where}: {exc}"]
    return scan.problems(where, is_train)


class _Unreadable(Exception):
    """The job would stop reading the file here."""


_MISSING = object()  # a column absent from a row (JSONL) or from the header (CSV)


def _csv_rows(path: Path, delimiter: str, data: DataSettings) -> Iterator[tuple[int, Any]]:
    """(line, (text, label, row's columns)) per row, as csv.DictReader gives them to the job:
    blank lines skipped, a short row's missing fields None, the last of duplicate names."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            header = next(reader, None)
            while header == []:
                header = next(reader, None)
            if header is None:
                return
            index = {name: i for i, name in enumerate(header)}
            text_at = index.get(data.text_column, -1)
            label_at = index.get(data.label_column, -1)
            for row in reader:
                if not row:
                    continue
                text = _MISSING if text_at < 0 else row[text_at] if text_at < len(row) else None
                label = _MISSING if label_at < 0 else (
                    row[label_at] if label_at < len(row) else None)
                yield reader.line_num, (text, label, header)
    except UnicodeDecodeError as exc:
        raise _Unreadable(f"not UTF-8 ({exc}); re-save it as UTF-8") from None
    except csv.Error as exc:
        raise _Unreadable(f"not valid CSV near line {reader.line_num} ({exc})") from None


def _jsonl_rows(path: Path, data: DataSettings) -> Iterator[tuple[int, Any]]:
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    raise _Unreadable(f"line {number} is not valid JSON ({exc})") from None
                if not isinstance(row, dict):
                    raise _Unreadable(f"line {number} is not a JSON object")
                yield number, (row.get(data.text_column, _MISSING),
                               row.get(data.label_column, _MISSING), row)
    except UnicodeDecodeError as exc:
        raise _Unreadable(f"not UTF-8 ({exc}); re-save it as UTF-8") from None


class _Scan:
    """Counts over the rows of one file; keeps no row."""

    def __init__(self, data: DataSettings) -> None:
        self.data = data
        self.rows = 0
        self.missing: dict[str, tuple[int, int, list[str]]] = {}  # key -> first line, n, cols
        self.bad: Counter[str] = Counter()
        self.first_at: dict[str, int] = {}
        self.good: set[str] = set()  # the covered values, up to MANY_LABELS: for the advice
        self.untracked = 0
        self._verdict: dict[tuple[type, Any], object] = {}  # raw label -> key if bad, or None

    def add(self, line: int, row: tuple[Any, Any, Any]) -> None:
        text, label, columns = row
        self.rows += 1
        if text is _MISSING or label is _MISSING:
            for name, value in ((self.data.text_column, text), (self.data.label_column, label)):
                if value is _MISSING:
                    first, n, cols = self.missing.get(name, (line, 0, sorted(map(str, columns))))
                    self.missing[name] = (first, n + 1, cols)
            return
        # 1, 1.0 and True are equal as dict keys but not as labels: the type is in the key
        memo = (type(label), label if isinstance(label, str | int | float | bool)
                or label is None else json.dumps(label, sort_keys=True))
        key = self._verdict.get(memo, _MISSING)
        if key is _MISSING:
            key = _bad_label(label, self.data)
            if len(self._verdict) < MEMO_LABELS:  # a text column taken for labels: no memo
                self._verdict[memo] = key
        if key is None:
            if len(self.good) <= MANY_LABELS:
                self.good.add(label_key(label))
            return
        assert isinstance(key, str)
        if key in self.bad or len(self.bad) < TRACKED_LABELS:
            self.bad[key] += 1
            self.first_at.setdefault(key, line)
        else:
            self.untracked += 1

    def problems(self, where: str, is_train: bool) -> list[str]:
        d = self.data
        if self.rows == 0:
            return [f"{where}: no rows; it needs a header and at least one row of data"]
        found = []
        for key, name in (("data.text_column", d.text_column),
                          ("data.label_column", d.label_column)):
            if name in self.missing:
                first, count, cols = self.missing[name]
                rows = "" if count == self.rows else \
                    f" in {count} of {self.rows} rows, first at line {first}"
                found.append(f"{where}: no column {name!r} ({key}){rows}; its columns: "
                             f"{', '.join(cols) or 'none'}; set {key}")
        if self.bad:
            found.append(self._label_problem(where))
        if is_train and not found:
            n_val = max(1, round(self.rows * d.val_fraction))
            if 0 < d.val_fraction < 1 and n_val >= self.rows:
                rows = "1 row leaves" if self.rows == 1 else f"{self.rows} rows leave"
                found.append(f"{where}: {rows} no train examples once "
                             f"data.val_fraction={d.val_fraction:g} is cut off; add rows")
        return found

    def _label_problem(self, where: str) -> str:
        d = self.data
        total = sum(self.bad.values()) + self.untracked
        shown = ", ".join(f"{_short(key)!r} ({n} row{'s' * (n > 1)}, first at line "
                          f"{self.first_at[key]})" for key, n in self.bad.most_common(SHOWN_LABELS))
        more = len(self.bad) - SHOWN_LABELS
        shown += f" and {more} other values" if more > 0 else ""
        shown += f" and {self.untracked} more rows" if self.untracked else ""
        labels = ", ".join(d.labels)
        if len(self.bad) > MANY_LABELS:
            fix = (f"{len(self.bad)}{'+' * bool(self.untracked)} different values: is "
                   f"data.label_column={d.label_column} the column of labels?")
        elif d.label_map:
            fix = self._label_map_fix()
        elif all(re.fullmatch(r"-?\d+", k) for k in self.bad):
            fix = (f"integer labels index data.labels [{labels}] (0 to {len(d.labels) - 1}): "
                   "add the missing classes to data.labels or map values with "
                   "data.label_map='{raw: class, ...}'")
        else:
            # every class the file holds, not only the missing ones: the advice is pasted whole
            values = sorted(self.good | set(self.bad), key=str)
            named = (f"data.labels=[{','.join(values)}]" if not self.untracked
                     else "data.labels to the file's classes")
            fix = (f"name the classes as the file does: {named} (or map values to classes "
                   "with data.label_map)")
        rows = "1 row has" if total == 1 else f"{total} rows have"
        return (f"{where}: {rows} a {d.label_column!r} label that neither "
                f"data.label_map nor data.labels [{labels}] covers: {shown}; {fix}")

    def _label_map_fix(self) -> str:
        """Advice a user can paste: a file of class names needs no map at all; otherwise
        each missing value needs an entry whose class only the user knows."""
        d = self.data
        values = sorted(self.good | set(self.bad), key=str)
        if not self.good & set(d.label_map) and not self.untracked and \
                len(values) <= MANY_LABELS:
            return (f"the file names its classes itself: data.labels=[{','.join(values)}] "
                    "data.label_map=null")
        missing = ", ".join(repr(k) for k, _ in self.bad.most_common(SHOWN_LABELS))
        return (f"add {missing} to data.label_map, each mapped to one of data.labels "
                f"[{', '.join(d.labels)}], or set data.label_map=null if the file holds "
                "class names or indexes")


def _short(value: str) -> str:
    return value if len(value) <= 40 else value[:37] + "..."


def _bad_label(raw: Any, data: DataSettings) -> str | None:
    """None if the jobs' own rule (common.labels) covers `raw`, else the key compared."""
    return None if label_index(raw, data) is not None else label_key(raw)
