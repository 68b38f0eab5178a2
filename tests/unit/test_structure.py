"""The structure a newcomer relies on, checked from the source alone (ast, no imports).

- no import cycles between the modules of orchestrator/ and jobs/, of bench/, or of
  tests/support/ (a lazy import inside a function counts: neither module can be read or moved
  without the other), and the jobs import only the light controller modules;
- bench/'s packages import one way only: page -> phases -> cluster (tests/ and
  scripts/reliability.py share bench.cluster, so it must not pull a phase in);
- each folder imports only what its __init__.py's `May import:` line allows (the rule lives
  with the folder a newcomer opens), and only a handful of modules sit at the top;
- the pure folders (`Pure: yes`: model/, decide/) and the leaves they build on import nothing
  that does I/O, so they stay table-testable;
- size limits: the controller's file at most 300 lines, no orchestrator or bench module over
  400, no function over 50 lines in orchestrator/, jobs/, bench/ and scripts/;
- only placement/ knows a task from a job (and scheduler/in_job.py, which runs the
  evaluators): nothing else spells a task's id, names TASK_PREFIX or imports the work queue.
(submitit only under orchestrator/scheduler/: tests/unit/test_scheduler_package.py.)
"""

from __future__ import annotations

import ast
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("orchestrator", "jobs")
# each set of folders whose modules must not import each other in a circle
GRAPHS = {"orchestrator+jobs": PACKAGES, "bench": ("bench",), "tests.support": ("tests/support",)}


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


@cache  # read once per run: a dozen tests, each parametrised, ask for the same graph
def _graph(folders: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """Each module of `folders` and the modules of `folders` it imports (not their roots);
    callers only read it."""
    modules = {_module_name(p): p for p in _sources(*folders)}
    roots = {folder.replace("/", ".") for folder in folders}
    return {name: {m for m in _imports(path) if m in modules and m not in (name, *roots)}
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
    assert "orchestrator.decide.stop_rule" in graph["orchestrator.decide.pruning"]
    assert "orchestrator.config.settings" in graph["jobs.train"]
    bench = _graph(GRAPHS["bench"])
    assert "bench.page.template" in bench["bench.page.busy"]
    assert "bench.phases.disk" in bench["bench.page.render"]  # imported inside a function
    assert "tests.support.journal" in _graph(GRAPHS["tests.support"])["tests.support.cli"]


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("folders", GRAPHS.values(), ids=GRAPHS)
def test_no_import_cycles(folders: tuple[str, ...]) -> None:
    cycle = _cycle(_graph(folders))
    assert not cycle, "import cycle: " + " -> ".join(cycle)


BENCH_LAYERS = ("bench.page", "bench.phases", "bench.cluster")  # each imports only those after it


def test_bench_packages_import_one_way() -> None:
    def layer(module: str) -> str:
        return next((p for p in BENCH_LAYERS if module.startswith(p + ".")), module)

    bad = sorted(f"{module} -> {imported}" for module, imports in _graph(("bench",)).items()
                 for imported in imports
                 if layer(module) in BENCH_LAYERS and layer(imported) in BENCH_LAYERS
                 and BENCH_LAYERS.index(layer(imported)) < BENCH_LAYERS.index(layer(module)))
    assert not bad, "bench imports against page -> phases -> cluster: " + ", ".join(bad)


# The rules live with the folders: each folder's __init__.py says what it owns and, on a
# `May import:` line, which other folders (or single modules) it may import; `Pure: yes` makes
# it a pure folder. The top-level modules (errors, exit_codes) are open to all.
OPEN_TO_ALL = {"orchestrator", "orchestrator.errors", "orchestrator.exit_codes"}
# the modules outside the pure folders that pure code builds on; they are held to the same rule
PURE_LEAVES = ("orchestrator.errors", "orchestrator.config.settings",
               "orchestrator.config.choice", "orchestrator.config.early_stop",
               "orchestrator.common.causes", "orchestrator.common.layout",
               "orchestrator.scheduler.interface")


def _rules(package: Path) -> tuple[set[str], bool]:
    """What a package's docstring allows it to import, and whether it declares itself pure."""
    doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text(encoding="utf-8")))
    assert doc, f"{package.relative_to(ROOT)}/__init__.py opens with no docstring"
    text = " ".join(doc.split())
    assert "May import:" in text, f"{package.relative_to(ROOT)}: no `May import:` line"
    allowed = text.split("May import:", 1)[1].split(".)", 1)[0].split(". ", 1)[0]
    names = {name.strip().rstrip(".") for name in allowed.split(",") if name.strip()}
    prefix = "" if package.name == "jobs" else "orchestrator."
    return {prefix + name for name in names}, "Pure: yes" in text


def _folders() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "orchestrator").glob("*/__init__.py"))


def _owner(module: str) -> str:
    """The folder a module lives in (orchestrator.decide for orchestrator.decide.policy)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "orchestrator" and len(parts) > 2 else module


def _covered(imported: str, allowed: set[str]) -> bool:
    # `from orchestrator.engine import notify` imports the package too: a folder's __init__.py
    # holds only its docstring, so reaching it on the way to an allowed module is allowed
    return any(imported == a or imported.startswith(a + ".") or a.startswith(imported + ".")
               for a in allowed)


@pytest.mark.parametrize("folder", [*_folders(), ROOT / "jobs"], ids=lambda p: p.name)
def test_each_folder_imports_only_what_its_docstring_allows(folder: Path) -> None:
    allowed, _ = _rules(folder)
    here = _module_name(folder / "__init__.py")
    graph = _graph()
    bad = sorted(f"{module} -> {imported}" for module, imports in graph.items()
                 if module == here or module.startswith(here + ".")
                 for imported in imports
                 if imported.startswith("orchestrator")
                 and _owner(imported) not in (here, *OPEN_TO_ALL)
                 and not _covered(imported, allowed))
    assert not bad, f"{here} imports beyond its `May import:` line: " + ", ".join(bad)


def test_the_folder_rules_are_read() -> None:
    """Guards the reader itself: a rule that read as empty would forbid nothing and pass."""
    allowed, pure = _rules(ROOT / "orchestrator" / "decide")
    assert "orchestrator.model" in allowed and pure
    allowed, pure = _rules(ROOT / "jobs")
    assert "orchestrator.common" in allowed and not pure
    assert not _covered("orchestrator.engine.controller", allowed)


def test_the_folders_hold_only_their_docstring_at_the_top() -> None:
    # scheduler/ is the exception: its __init__ is the factory (`make_scheduler`), as submitit's
    # `AutoExecutor` is, and it imports a backend only when asked for one
    for folder in (f for f in _folders() if f.name != "scheduler"):
        body = ast.parse((folder / "__init__.py").read_text(encoding="utf-8")).body
        assert len(body) == 1, f"{folder.name}/__init__.py: code beside the docstring"


def test_at_most_a_handful_of_modules_at_the_top() -> None:
    top = sorted(p.name for p in (ROOT / "orchestrator").glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "errors.py", "exit_codes.py"]


# pure code (the pure folders, and the leaves they build on) imports only pure code and these
# parts of the standard library. `pathlib` is there for paths as values (a job's folder in a
# JobRef); no file is touched (test_pure_modules_touch_no_files).
def _pure_modules() -> list[str]:
    pure_folders = [_module_name(f / "__init__.py") for f in _folders() if _rules(f)[1]]
    return sorted({m for m in _graph() if _owner(m) in pure_folders} | set(PURE_LEAVES))


PURE_STDLIB = {"__future__", "abc", "binascii", "collections", "dataclasses", "enum", "functools",
               "hashlib", "itertools", "json", "math", "pathlib", "random", "re", "statistics",
               "typing", "types"}
# the optional library a pure module may use for computation only (the Optuna sampler's
# in-memory study), imported where it is used
PURE_THIRD_PARTY = {"optuna"}
FILE_CALLS = {"open", "print", "input", "exec", "eval", "read_text", "read_bytes",
              "write_text", "write_bytes", "exists", "is_file", "is_dir", "mkdir", "iterdir",
              "glob", "rglob", "unlink", "rename", "replace", "stat", "touch", "rmdir", "load",
              "dump"}


def _module_path(module: str) -> Path:
    path = ROOT / (module.replace(".", "/") + ".py")
    return path if path.exists() else ROOT / module.replace(".", "/") / "__init__.py"


def _io_imports(module: str) -> set[str]:
    """What `module` imports beyond the pure standard library and the other pure modules."""
    ours, pure = set(_graph()), set(_pure_modules())
    bad = set()
    for imported in _imports(_module_path(module)):
        if imported.startswith(("orchestrator", "jobs")):
            if imported in ours and imported not in pure | OPEN_TO_ALL:  # not `module.Name`
                bad.add(imported)
        elif imported.split(".")[0] not in PURE_STDLIB | PURE_THIRD_PARTY:
            bad.add(imported)
    return bad


def test_the_pure_folders_are_found() -> None:
    pure = _pure_modules()
    assert {"orchestrator.decide.stop_rule", "orchestrator.model.state"} <= set(pure)
    assert "orchestrator.engine.controller" not in pure


@pytest.mark.parametrize("module", _pure_modules())
def test_pure_modules_import_nothing_that_does_io(module: str) -> None:
    assert _module_path(module).exists(), f"{module}: the pure leaves name a module that is gone"
    assert _io_imports(module) == set()


@pytest.mark.parametrize("module", _pure_modules())
def test_pure_modules_touch_no_files(module: str) -> None:
    tree = ast.parse(_module_path(module).read_text(encoding="utf-8"))
    called = {n.func.id if isinstance(n.func, ast.Name) else n.func.attr
              for n in ast.walk(tree) if isinstance(n, ast.Call)
              and isinstance(n.func, (ast.Name, ast.Attribute))}
    # dataclasses.replace is a value operation, not a file rename
    assert not (called - {"replace"}) & FILE_CALLS


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def test_the_controller_file_is_short() -> None:
    assert _lines(ROOT / "orchestrator" / "engine" / "controller.py") <= 300


@pytest.mark.parametrize("path", _sources("orchestrator", "bench"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_over_400_lines(path: Path) -> None:
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


# Only placement/ knows a task from a job: the engine sees a task as a job behind the
# Scheduler interface, and asks placement.tasks what only a queue can say. The evaluators
# that run tasks (scheduler/in_job.py, and jobs/, not scanned) read the queues too.
KNOWS_TASKS = ("orchestrator/placement/", "orchestrator/scheduler/in_job.py")
TASK_ID = "task:"  # work_queue.TASK_PREFIX, spelled out
WORK_QUEUE = "orchestrator.placement.work_queue"


def _task_knowledge(path: Path) -> list[str]:
    """Where `path` spells a task's id, names TASK_PREFIX or imports the work queue."""
    found = [f"imports {m}" for m in sorted(_imports(path)) if m == WORK_QUEUE
             or m.startswith(WORK_QUEUE + ".") or m.endswith(".TASK_PREFIX")]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Name) and node.id == "TASK_PREFIX") or (
                isinstance(node, ast.Attribute) and node.attr == "TASK_PREFIX"):
            found.append(f"line {node.lineno}: TASK_PREFIX")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                node.value.startswith(TASK_ID)):
            found.append(f"line {node.lineno}: {node.value!r}")
    return found


def test_the_task_checker_sees_known_uses() -> None:
    """Guards the checker itself: one that saw nothing would pass everywhere."""
    tasks = _task_knowledge(ROOT / "orchestrator" / "placement" / "tasks.py")
    assert f"imports {WORK_QUEUE}" in tasks and any("TASK_PREFIX" in f for f in tasks)
    queue = _task_knowledge(ROOT / "orchestrator" / "placement" / "work_queue.py")
    assert any(repr(TASK_ID) in f for f in queue)
    assert _task_knowledge(ROOT / "orchestrator" / "scheduler" / "in_job.py")


@pytest.mark.parametrize("path", [p for p in _sources("orchestrator") if not str(
    p.relative_to(ROOT)).startswith(KNOWS_TASKS)], ids=lambda p: str(p.relative_to(ROOT)))
def test_only_placement_knows_a_task_from_a_job(path: Path) -> None:
    assert _task_knowledge(path) == []
