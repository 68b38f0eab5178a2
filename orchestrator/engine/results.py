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


def metric_from_json(path: Path, metric: str, split: str = "test") -> float:
    """The named metric of one split from a structured result file."""
    return evaluation_from_json(path, metric, split)[0]


def evaluation_from_json(
    path: Path, metric: str, split: str = "test"
) -> tuple[float, dict[str, dict[str, float]]]:
    """The named metric of the deciding `split`, and every split's numeric metrics.

    The inference job writes `metrics: {validation: {...}, test: {...}}` beside the test
    split's metrics at the top; a result without `metrics` (written before the job scored
    the validation split) holds the test split only.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ResultError(f"cannot read result {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ResultError(f"result {path} is not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ResultError(f"result {path} has no metric {metric!r} (it has: "
                          f"{type(data).__name__})")
    splits = data["metrics"] if isinstance(data.get("metrics"), dict) else {"test": data}
    scores = splits.get(split)
    if not isinstance(scores, dict):
        raise ResultError(f"result {path} has no {split} split (it has: "
                          f"{', '.join(sorted(splits))}); rerun its inference job with this "
                          "version, or set search.split=test")
    if metric not in scores:
        raise ResultError(f"result {path} has no metric {metric!r} (it has: "
                          f"{', '.join(sorted(scores))})")
    value = _finite(scores[metric], f"{metric} in {path}")
    numbers = {name: {key: float(v) for key, v in sorted(values.items())
                      if isinstance(v, int | float) and not isinstance(v, bool)
                      and math.isfinite(v)}
               for name, values in sorted(splits.items()) if isinstance(values, dict)}
    return value, numbers


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
