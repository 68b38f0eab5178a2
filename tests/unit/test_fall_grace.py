"""search.fall_grace_steps: conf/config.yaml's `auto` is the built-in training's warm-up, so a
trial in warm-up is not ended by a dip (issue 27: patience 1, ended at step 20); the
dataclass default stays 0, the legacy rule, for settings built in Python."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.config import compose as config
from orchestrator.config.settings import SearchSettings
from orchestrator.decide.policy import rule_of
from orchestrator.errors import ConfigError
from tests.support.cli import cli

BASE = ["search.target=0.99"]


@pytest.mark.parametrize(("overrides", "grace"), [
    ([], 50),  # model=tiny's warm-up: 50 steps
    (["train.warmup_steps=500"], 500),  # the seed recipe's
    (["train.warmup_steps=0.1", "train.max_steps=400"], 40),  # a ratio of max_steps
    (["train.warmup_steps=0.1"], 0),  # a ratio of epochs: the steps are unknown
    (["train.warmup_steps=0"], 0),
    (["search.fall_grace_steps=0"], 0),  # the legacy rule
    (["search.fall_grace_steps=120"], 120),
    (["train.command='python my_train.py {output_dir}'"], 0),  # its warm-up is its own
])
def test_the_fall_grace_defaults_to_the_warm_up(overrides: list[str], grace: int,
                                                tmp_path: Path) -> None:
    settings = config.to_settings(config.compose(
        [*BASE, f"search.dir={tmp_path / 's'}", *overrides]))
    assert settings.search.fall_grace_steps == grace
    assert rule_of(settings).grace_steps == grace


@pytest.mark.parametrize("value", ["-5", "soon"])
def test_a_bad_fall_grace_is_refused_with_the_fix(value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        config.to_settings(config.compose(
            [*BASE, f"search.dir={tmp_path / 's'}", f"search.fall_grace_steps={value}"]))
    assert (f"search.fall_grace_steps={value}: must be a number of steps >= 0, or auto"
            in str(raised.value))


def test_dry_run_shows_the_resolved_grace(tmp_path: Path) -> None:
    done = cli("run", *BASE, "train.warmup_steps=80", f"search.dir={tmp_path / 's'}",
               "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# the stop rule counts no fall before step search.fall_grace_steps=80" \
        in done.stdout


def test_settings_built_in_python_keep_the_legacy_rule() -> None:
    assert SearchSettings().fall_grace_steps == 0
