"""pytest run for scripts/reliability.py with --junitxml, and its cases read back: one `Case`
per test (outcome, seconds, the `notes` property a test records). Shared by the fault tests'
step and the reliability tier's (bench.cluster.tier)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Case:
    name: str
    outcome: str  # passed | failed | xfail (a known bug) | skipped
    seconds: float
    detail: str = ""
    notes: list[str] = field(default_factory=list)
    module: str = ""  # the test file's module name


def run(workdir: Path, selection: list[str], env: dict[str, str],
        say: Callable[[str], None]) -> tuple[list[Case], float]:
    """pytest over `selection` (files, -k, -m) in the repository, its log in `workdir`."""
    xml = workdir / "junit.xml"
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA",
            f"--junitxml={xml}", "-o", "junit_family=xunit1", "--basetemp", str(workdir / "pt"),
            *selection]
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", **env}
    started = time.monotonic()
    say("pytest " + " ".join(args[3:]))
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(args, cwd=ROOT, env=full_env, check=False, capture_output=True,
                          text=True)
    (workdir / "pytest.log").write_text(proc.stdout + proc.stderr)
    print(proc.stdout[-3000:], flush=True)
    return (parse(xml) if xml.exists() else []), time.monotonic() - started


def parse(xml: Path) -> list[Case]:
    cases = []
    for case in ElementTree.parse(xml).getroot().iter("testcase"):
        name = case.get("name", "")
        seconds = float(case.get("time", "0"))
        outcome, detail = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, detail = "failed", (child.get("message") or "")[:300]
            elif child.tag == "skipped":
                xfail = child.get("type") == "pytest.xfail"
                outcome = "xfail" if xfail else "skipped"
                detail = (child.get("message") or "").removeprefix("xfail-marked test passes"
                                                                   ).strip()
        notes = [p.get("value", "") for p in case.iter("property") if p.get("name") == "notes"]
        module = case.get("classname", "").rsplit(".", 1)[-1]
        cases.append(Case(name, outcome, seconds, detail, notes, module))
    return cases
