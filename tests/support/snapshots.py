"""Settings of a search with the user's own train and infer commands, for the code-snapshot
tests (tests/unit/test_snapshot.py, test_detach_snapshot.py)."""

from __future__ import annotations

from pathlib import Path

from orchestrator.config import compose as config
from orchestrator.config.settings import Settings


def byo_settings(tmp_path: Path, script: Path, on: bool = True,
                 executor: str = "local") -> Settings:
    """`script` as both train.command and infer.command, search.snapshot `on`."""
    return config.to_settings(config.compose(
        [f"search.dir={tmp_path / 'runs'}", "search.target=80", f"executor={executor}",
         f"search.snapshot={str(on).lower()}",
         f"train.command='python {script} {{output_dir}}'",
         f"infer.command='python {script} {{checkpoint}}'"]))
