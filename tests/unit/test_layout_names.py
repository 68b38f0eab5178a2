"""Every file name of a search folder is written once, in orchestrator/common/layout.py: a
module that spells one itself could put the file where its reader does not look. Checked
from the source (ast string constants; docstrings and prose that mention a file are fine)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ROOT / "orchestrator" / "common" / "layout.py"


def _file_names() -> set[str]:
    """layout's module-level names of files: the string constants that hold a dot."""
    names = set()
    for node in ast.parse(LAYOUT.read_text(encoding="utf-8")).body:
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str) and "." in node.value.value):
            names.add(node.value.value)
    return names


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(
                body[0].value, ast.Constant):
            found.add(id(body[0].value))
    return found


def _spelled(path: Path, names: set[str], root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    return [f"{path.relative_to(root)}:{node.lineno} {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in skip
            and any(node.value == n or (node.value.endswith("/" + n) and " " not in node.value)
                    for n in names)]


def test_layout_names_the_search_folder_files() -> None:
    assert {"journal.jsonl", "summary.json", "report.md", "report.html", "metric.png",
            "controller.json", "controller-job.json", "cancel.request", "best.json",
            "plan.json", ".controller.lock"} <= _file_names()


@pytest.mark.parametrize("folder", ["orchestrator", "jobs"])
def test_no_module_spells_a_search_folder_file_name(folder: str) -> None:
    names = _file_names()
    found = [hit for path in sorted((ROOT / folder).rglob("*.py")) if path != LAYOUT
             for hit in _spelled(path, names)]
    assert not found, "file names spelled outside common/layout.py: " + ", ".join(found)


def test_the_scan_finds_a_spelled_name(tmp_path: Path) -> None:
    """Guards the scan itself: a checker that found nothing would always pass."""
    path = tmp_path / "probe.py"
    path.write_text('"""Reads journal.jsonl."""\n'
                    'def f(d):\n    """The journal.jsonl of d."""\n'
                    '    print("see journal.jsonl", "in d/journal.jsonl")\n'
                    '    return d / "journal.jsonl", "trials/summary.json"\n', encoding="utf-8")
    found = _spelled(path, {"journal.jsonl", "summary.json"}, root=tmp_path)
    assert sorted(found) == ["probe.py:5 'journal.jsonl'", "probe.py:5 'trials/summary.json'"]
