"""The base of every setting with a closed set of values (config.settings, config.early_stop)."""

from __future__ import annotations

import enum


class Choice(str, enum.Enum):
    """A setting with a closed set of values. A str: it equals its value, so comparisons
    with strings, the journal's settings (written as values) and f-strings are unchanged;
    `shape` turns a configured string into one, or reports the valid ones in one line."""

    def __str__(self) -> str:
        return str(self.value)
