"""Every `orchestrator run` command in the README and in docs/*.md works when pasted into bash:
each one is split exactly as bash would split it and run with `--dry-run` (which submits
nothing and calls no scheduler), its search.dir moved under tmp_path so the repo stays clean."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from orchestrator.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]


def bash_commands(markdown: str) -> list[list[str]]:
    """The words of each command in the ```bash blocks, as bash gives them to the program:
    a backslash-newline continues the line (bash drops both outside single quotes), quotes
    are removed, `#` starts a comment."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", markdown, re.DOTALL | re.MULTILINE):
        for line in block.replace("\\\n", "").splitlines():
            words = shlex.split(line, comments=True, posix=True)
            if words:
                commands.append(words)
    return commands


def run_commands(page: Path) -> list[list[str]]:
    return [w for w in bash_commands(page.read_text()) if w[:2] == ["orchestrator", "run"]]


def all_run_commands() -> list[tuple[Path, list[str]]]:
    return [(page, words) for page in PAGES for words in run_commands(page)]


def under(tmp_path: Path, words: list[str]) -> list[str]:
    """The command with its search.dir (or the default one) inside tmp_path."""
    moved = [f"search.dir={tmp_path / w.partition('=')[2].lstrip('/')}"
             if w.startswith("search.dir=") else w for w in words]
    if moved == words:
        moved.append(f"search.dir={tmp_path / 'search'}")
    return moved


def test_the_docs_have_the_commands_a_user_pastes() -> None:
    commands = [words for _, words in all_run_commands()]
    assert len(commands) >= 4, commands
    joined = [" ".join(c) for c in commands]
    assert any("executor=slurm" in c for c in joined)
    assert any("train.command=" in c for c in joined)  # bring your own scripts
    assert any("search.space=" in c for c in joined)


def test_the_readme_shows_a_first_cluster_search_and_own_scripts() -> None:
    joined = [" ".join(c) for c in run_commands(README)]
    assert any("executor=slurm" in c and "executor.account=" in c
               and "executor.partition=" in c for c in joined), joined
    assert any("executor=slurm" in c and "train.command=" in c for c in joined), joined


def test_the_readme_shows_the_two_commands() -> None:
    """CI runs exactly the README's test command (.ci/run)."""
    commands = bash_commands(README.read_text())
    assert ["bash", "scripts/demo.sh"] in commands
    assert ["bash", "scripts/test.sh"] in commands
    assert "bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize(("page", "words"), all_run_commands(),
                         ids=lambda x: x.name if isinstance(x, Path) else " ".join(x[2:5]))
def test_each_run_command_works_as_pasted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        page: Path, words: list[str]) -> None:
    monkeypatch.chdir(ROOT)  # relative paths in the commands (sbatch_templates/...) resolve
    code = main([*under(tmp_path, words)[1:], "--dry-run"])
    captured = capsys.readouterr()
    assert code == 0, f"{page.name}: {captured.err}"
    assert "dry run: nothing was submitted" in captured.out
    assert "error" not in captured.err


def test_bash_splitting_is_bash_s() -> None:
    text = ("```bash\norchestrator run a=1 \\\n    train.command='bash x.sh {model}' "
            "search.dir=\"my runs/it's\"  # a comment\n```\n")
    assert bash_commands(text) == [["orchestrator", "run", "a=1",
                                    "train.command=bash x.sh {model}",
                                    "search.dir=my runs/it's"]]
