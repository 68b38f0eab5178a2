"""Reading a metric out of what an inference job left behind.

Our own inference job writes a JSON result; users' own scripts print lines such as the
legacy `The generation accuracy is 80.15 %.`. Both readers return a float or raise
`ResultError` with a one-line reason; the caller records that as a failed evaluation.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

LEGACY_ACCURACY_REGEX = r"The generation accuracy is ([\d.]+) %"


class ResultError(ValueError):
    pass


def metric_from_json(path: Path, metric: str) -> float:
    """The named metric from a structured result file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultError(f"cannot read result {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ResultError(f"result {path} is not JSON ({exc})") from exc
    if not isinstance(data, dict) or metric not in data:
        keys = ", ".join(sorted(data)) if isinstance(data, dict) else type(data).__name__
        raise ResultError(f"result {path} has no metric {metric!r} (it has: {keys})")
    return _finite(data[metric], f"{metric} in {path}")


def metric_from_text(
    text: str, regex: str = LEGACY_ACCURACY_REGEX, source: str = "output"
) -> float:
    """The LAST match of `regex`'s first group in `text` (a log may be appended to)."""
    matches = re.findall(regex, text)
    if not matches:
        raise ResultError(f"no line matching {regex!r} in {source}")
    last = matches[-1]
    return _finite(last[0] if isinstance(last, tuple) else last, f"the value in {source}")


def _finite(raw: object, what: str) -> float:
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ResultError(f"{what} is not a number: {raw!r}") from exc
    if math.isnan(value) or math.isinf(value):
        raise ResultError(f"{what} is {value}")
    return value
