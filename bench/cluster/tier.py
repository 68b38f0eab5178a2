"""The reliability tier: the tests marked `reliability` (slow by nature: random kill points, a
daemon down for a while, SLURM time limits waited out), which CI leaves out
(tests/conftest.py), run by `scripts/reliability.py --tests` through `pytest -m reliability`;
their pass/fail and seconds as RELIABILITY.md's section between START and END."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.cluster import junit

START = "<!-- reliability-tier -->"
END = "<!-- /reliability-tier -->"
ANCHOR = "## Known limitations of these figures"
COMMAND = "python scripts/reliability.py --tests"


def run(workdir: Path, say: Callable[[str], None]) -> tuple[list[junit.Case], float]:
    """Every test marked `reliability`, as CI would run it were it not left out."""
    return junit.run(workdir, ["-m", "reliability", "tests"], {}, say)


def section(cases: list[junit.Case], seconds: float, when: str, commit: str) -> str:
    """RELIABILITY.md's table of the tier: one row per test, its file, result and seconds."""
    passed = sum(c.outcome == "passed" for c in cases)
    lines = [
        START, "## The reliability tier: slow tests out of CI", "",
        f"This run: `{COMMAND}` (`pytest -m reliability`), {when}, commit {commit}, "
        f"{seconds / 60:.1f} min: {passed} of {len(cases)} passed.", "",
        "These tests are slow by nature, so CI (`scripts/test.sh`) leaves them out: "
        "`tests/conftest.py` deselects the `reliability` marker unless `-m` names it. Each "
        "one's docstring names the fast variant that CI keeps of the same behaviour.", "",
        "| test | result | s |", "|---|---|---|",
    ]
    for case in cases:
        detail = f": {case.detail}" if case.outcome == "failed" and case.detail else ""
        cell = f"{case.outcome}{detail}".replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{case.module}::{case.name}` | {cell} | {case.seconds:.0f} |")
    if not cases:
        lines.append("| (no junit report: see the pytest log) | failed | |")
    return "\n".join([*lines, END])


def kept(previous: str) -> str:
    """The tier's section of an earlier RELIABILITY.md, or "" (a full run keeps it)."""
    if START in previous and END in previous:
        return START + previous.split(START, 1)[1].split(END, 1)[0] + END
    return ""


def splice(previous: str, text: str) -> str:
    """`previous` with the tier's section replaced by `text` (added before the known
    limitations when it has none)."""
    if not text:
        return previous
    if START in previous and END in previous:
        head, rest = previous.split(START, 1)
        return head + text + rest.split(END, 1)[1]
    if ANCHOR in previous:
        head, rest = previous.split(ANCHOR, 1)
        return f"{head}{text}\n\n{ANCHOR}{rest}"
    return f"{previous.rstrip()}\n\n{text}\n"
