"""The one rule that turns a raw label into a class index.

The jobs apply it to every row they load (`jobs/data.py`), and the controller's input check
applies it to every row of the user's files before anything is submitted
(`orchestrator/config/preflight.py`): one rule, so the two can never disagree. Through
`data.label_map` when given (the raw label compared as a string; a label that is already a
class name needs no entry), else a label name must be in `data.labels` and an integer indexes
it. Standard library only.
"""

from __future__ import annotations

from typing import Any

from orchestrator.config.settings import DataSettings


def label_key(raw: Any) -> str:
    """The raw label as `data.label_map` and `data.labels` are compared with it."""
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # 1.0 from a spreadsheet means label 1
    return "" if raw is None else str(raw)


def label_index(raw: Any, data: DataSettings) -> int | None:
    """The index in `data.labels` of one raw label, or None when the rule does not cover it."""
    labels = list(data.labels)
    key = label_key(raw)
    if data.label_map:
        # a label the file already names as a class needs no entry: the map covers the rest
        name = data.label_map.get(key, key if key in labels else None)
        return labels.index(name) if name is not None and name in labels else None
    if key in labels:
        return labels.index(key)
    if not isinstance(raw, bool) and _is_int(key) and 0 <= int(key) < len(labels):
        return int(key)
    return None


def label_id(raw: Any, data: DataSettings, where: str) -> int:
    """`label_index`, or ValueError naming `where`, the value and the fix."""
    index = label_index(raw, data)
    if index is not None:
        return index
    key, labels = label_key(raw), list(data.labels)
    if data.label_map:
        raise ValueError(
            f"{where}: label {key!r} is not in data.label_map {data.label_map} "
            f"(or maps outside data.labels {labels}); add it to data.label_map"
        )
    raise ValueError(
        f"{where}: label {key!r} is not one of data.labels {labels} nor an index into them; "
        f"set data.labels or data.label_map"
    )


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True
