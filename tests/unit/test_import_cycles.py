"""No two modules of the controller or the jobs import each other, directly or through others.

Every import counts, the lazy ones inside functions too: a cycle that only a lazy import
keeps from failing still means neither module can be read, or moved, without the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("orchestrator", "jobs")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name in known and name not in PACKAGES}


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """A path start -> ... -> start, or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        module, path = stack.pop()
        for nxt in sorted(graph[module]):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_no_import_cycles() -> None:
    known = _modules()
    graph = {name: _imports(path, known) - {name} for name, path in known.items()}
    cycles = [c for c in (_cycle_from(name, graph) for name in sorted(graph)) if c]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_the_jobs_import_only_light_controller_modules() -> None:
    """The jobs share files and rules with the controller, not its machinery."""
    known = _modules()
    allowed = {"orchestrator.settings", "orchestrator.fsutil", "orchestrator.checkpoints",
               "orchestrator.layout", "orchestrator.failures", "orchestrator.labels",
               "orchestrator.config"}  # config: `python -m jobs.train` composes the settings
    used = {name for job, path in known.items() if job.startswith("jobs")
            for name in _imports(path, known) if name.startswith("orchestrator")}
    assert used <= allowed, sorted(used - allowed)
