"""The page's text, bench/page/BENCHMARKS.md.in: its named sections (`@@ name` lines) as
string.Template, filled by name; and the two value helpers every section uses."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from string import Template
from typing import Any

from bench.page.report import fmt

TEMPLATE = Path(__file__).with_name("BENCHMARKS.md.in")


@cache
def sections() -> dict[str, Template]:
    """The template file's sections by name (the line break before each `@@` line is the
    separator, not part of a section)."""
    parts = re.split(r"^@@ (\S+)\n", TEMPLATE.read_text(encoding="utf-8"), flags=re.M)
    return {name: Template(body.removesuffix("\n")) for name, body in
            zip(parts[1::2], parts[2::2], strict=True)}


def fill(name: str, **values: Any) -> str:
    """One section with its placeholders filled; a missing value is an error."""
    return sections()[name].substitute({k: str(v) for k, v in values.items()})


def get(obj: Any, *path: str) -> Any:
    """obj[path[0]][path[1]]...; None where a key (a phase that did not run) is missing."""
    for key in path:
        if not isinstance(obj, Mapping) or key not in obj:
            return None
        obj = obj[key]
    return obj


def num(value: Any, digits: int = 1) -> str:
    """A number as the page prints it; `-` for one that was not measured."""
    return fmt(value, digits) if value is not None else "-"
