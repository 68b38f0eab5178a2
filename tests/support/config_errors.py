"""The shape of configuration errors on stderr, shared by the unit and e2e tests."""

from __future__ import annotations

import re


def assert_one_line_per_problem(err: str) -> list[str]:
    """`error: <problem>`, or `error: <n> problems in the configuration:` and n lines."""
    lines = err.strip().splitlines()
    assert lines and lines[0].startswith("error: "), err
    if len(lines) == 1:
        return [lines[0].removeprefix("error: ")]
    head = re.fullmatch(r"error: (\d+) problems in the configuration:", lines[0])
    assert head and int(head[1]) == len(lines) - 1 > 1, err
    assert all(line.startswith("  ") and line.strip() for line in lines[1:]), err
    return [line.strip() for line in lines[1:]]
