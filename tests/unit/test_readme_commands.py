"""Every `orchestrator run` command in the README works when pasted into bash: each one is
split exactly as bash would split it and run with `--dry-run` (which submits nothing and
calls no scheduler), its search.dir moved under tmp_path so the repo stays clean."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from orchestrator.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


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


def run_commands() -> list[list[str]]:
    return [w for w in bash_commands(README.read_text()) if w[:2] == ["orchestrator", "run"]]


def under(tmp_path: Path, words: list[str]) -> list[str]:
    """The command with its search.dir (or the default one) inside tmp_path."""
    moved = [f"search.dir={tmp_path / w.partition('=')[2].lstrip('/')}"
             if w.startswith("search.dir=") else w for w in words]
    if moved == words:
        moved.append(f"search.dir={tmp_path / 'search'}")
    return moved


def test_the_readme_has_the_commands_a_user_pastes() -> None:
    commands = run_commands()
    assert len(commands) >= 4, commands
    joined = [" ".join(c) for c in commands]
    assert any("executor=slurm" in c for c in joined)
    assert any("train.command=" in c for c in joined)  # bring your own scripts
    assert any("search.space=" in c for c in joined)


@pytest.mark.parametrize("words", run_commands(), ids=lambda w: " ".join(w[2:5]))
def test_each_readme_run_command_works_as_pasted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        words: list[str]) -> None:
    monkeypatch.chdir(ROOT)  # relative paths in the commands (sbatch_templates/...) resolve
    code = main([*under(tmp_path, words)[1:], "--dry-run"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "dry run: nothing was submitted" in captured.out
    assert "error" not in captured.err


def test_bash_splitting_is_bash_s() -> None:
    text = ("```bash\norchestrator run a=1 \\\n    train.command='bash x.sh {model}' "
            "search.dir=\"my runs/it's\"  # a comment\n```\n")
    assert bash_commands(text) == [["orchestrator", "run", "a=1",
                                    "train.command=bash x.sh {model}",
                                    "search.dir=my runs/it's"]]
