"""The structure a newcomer relies on, checked from the source alone (ast, no imports).

- no import cycles between the modules of orchestrator/ and jobs/ (a lazy import inside a
  function counts: neither module can be read or moved without the other), and the jobs
  import only the light controller modules;
- the pure modules (the stop rule, pruning, the sampler's draws, the policy, the lifecycles,
  the events) import nothing that does I/O, so they stay table-testable;
- size limits: the controller's file at most 300 lines, no orchestrator module over 400,
  no function over 50 lines in orchestrator/, jobs/, bench/ and scripts/.
(submitit only under orchestrator/scheduler/: tests/unit/test_scheduler_package.py.)
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("orchestrator", "jobs")


def _sources(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports (at any depth of the file: a lazy import is still one)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    package = _module_name(path) if path.name == "__init__.py" else (
        _module_name(path).rpartition(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in _sources(*PACKAGES)}
    return {name: {m for m in _imports(path) if m in modules and m not in (name, *PACKAGES)}
            for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle, as the list of modules on it, or [] (depth-first, white/grey/black)."""
    colour: dict[str, int] = dict.fromkeys(graph, 0)
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == 1:
                return [*stack[stack.index(nxt):], nxt]
            if colour[nxt] == 0 and (found := visit(nxt)):
                return found
        stack.pop()
        colour[node] = 2
        return []

    for start in sorted(graph):
        if colour[start] == 0 and (found := visit(start)):
            return found
    return []


def test_the_graph_sees_known_imports() -> None:
    """Guards the checker itself: a graph that missed imports would find no cycle."""
    graph = _graph()
    assert "orchestrator.stop_rule" in graph["orchestrator.pruning"]
    assert "orchestrator.settings" in graph["jobs.train"]


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    cycle = _cycle(_graph())
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_jobs_import_only_light_controller_modules() -> None:
    """The jobs share files and rules with the controller, not its machinery."""
    allowed = {"orchestrator.settings", "orchestrator.fsutil", "orchestrator.checkpoints",
               "orchestrator.layout", "orchestrator.failures", "orchestrator.causes",
               "orchestrator.labels",
               "orchestrator.config",  # config: `python -m jobs.train` composes the settings
               # jobs.worker: the queue's file protocol, and a user's script run per task
               # (and the job's id) as a job runs them
               "orchestrator.work_queue", "orchestrator.scheduler.in_job"}
    graph = _graph()
    used = {m for job, imported in graph.items() if job.startswith("jobs")
            for m in imported if m.startswith("orchestrator")}
    assert used <= allowed, sorted(used - allowed)


# modules that decide, and so must be pure, with the pure modules they build on: they import
# only each other and these parts of the standard library. `pathlib` is there for paths as
# values (a job's folder in a JobRef); no file is touched (test_pure_modules_touch_no_files).
PURE = ("orchestrator.stop_rule", "orchestrator.pruning", "orchestrator.sampler",
        "orchestrator.policy", "orchestrator.lifecycle", "orchestrator.events",
        "orchestrator.endings", "orchestrator.causes", "orchestrator.state",
        "orchestrator.settings", "orchestrator.errors", "orchestrator.scheduler.interface",
        "orchestrator.disk", "orchestrator.retention",
        "orchestrator.progress", "orchestrator.trials_table",
        "orchestrator.task_checks", "orchestrator.usage")

PURE_STDLIB = {"__future__", "abc", "collections", "dataclasses", "enum", "functools",
               "itertools", "json", "math", "pathlib", "random", "re", "statistics", "typing",
               "types"}
FILE_CALLS = {"open", "print", "input", "exec", "eval", "read_text", "read_bytes",
              "write_text", "write_bytes", "exists", "is_file", "is_dir", "mkdir", "iterdir",
              "glob", "rglob", "unlink", "rename", "replace", "stat", "touch", "rmdir", "load",
              "dump"}


def _io_imports(module: str) -> set[str]:
    """What `module` imports beyond the pure standard library and the other pure modules."""
    path = ROOT / (module.replace(".", "/") + ".py")
    ours = set(_graph())
    bad = set()
    for imported in _imports(path):
        if imported.startswith(("orchestrator", "jobs")):
            if imported in ours and imported not in PURE:  # not `module.Name`
                bad.add(imported)
        elif imported.split(".")[0] not in PURE_STDLIB:
            bad.add(imported)
    return bad


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_nothing_that_does_io(module: str) -> None:
    path = ROOT / (module.replace(".", "/") + ".py")
    assert path.exists(), f"{module}: the layering table names a module that is gone"
    assert _io_imports(module) == set()


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_touch_no_files(module: str) -> None:
    tree = ast.parse((ROOT / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8"))
    called = {n.func.id if isinstance(n.func, ast.Name) else n.func.attr
              for n in ast.walk(tree) if isinstance(n, ast.Call)
              and isinstance(n.func, (ast.Name, ast.Attribute))}
    # dataclasses.replace is a value operation, not a file rename
    assert not (called - {"replace"}) & FILE_CALLS


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_the_controller_file_is_short() -> None:
    assert _lines(ROOT / "orchestrator" / "controller.py") <= 300


@pytest.mark.parametrize("path", _sources("orchestrator"), ids=lambda p: p.name)
def test_no_orchestrator_module_over_400_lines(path: Path) -> None:
    assert _lines(path) <= 400


@pytest.mark.parametrize("folder", ["orchestrator", "jobs", "bench", "scripts"])
def test_no_function_over_50_lines(folder: str) -> None:
    long = []
    for path in _sources(folder):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 50:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length})")
    assert not long, "functions over 50 lines: " + ", ".join(long)


def test_test_files_have_unique_names() -> None:
    # the test folders are not packages: pytest imports each file by its bare name, and a
    # second file of the same name anywhere under tests/ stops the whole run at collection
    names = Counter(path.name for path in (ROOT / "tests").rglob("test_*.py"))
    assert not [name for name, count in names.items() if count > 1]
