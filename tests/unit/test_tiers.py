"""The test tiers of tests/conftest.py: each top folder's marker and timeout."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import HERE, runs_reliability, tier_of


@pytest.mark.parametrize(("relative", "tier"), [
    ("unit/test_tiers.py", "unit"),
    ("jobs/test_train.py", "jobs"),
    ("bench/test_busy.py", "bench"),
    ("e2e/test_local_search.py", "e2e"),
    ("slurm/test_faults.py", "slurm"),
    ("conftest.py", None),
    ("support/cli.py", None),
])
def test_a_test_file_s_tier_is_its_top_folder(relative: str, tier: str | None) -> None:
    assert tier_of(HERE / relative) == tier


def test_a_file_outside_tests_has_no_tier(tmp_path: Path) -> None:
    assert tier_of(tmp_path / "unit" / "test_x.py") is None


def test_a_unit_test_runs_under_the_short_timeout(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("timeout")
    assert marker is not None and marker.args == (60,)
    assert request.node.get_closest_marker("e2e") is None
    assert request.node.get_closest_marker("slurm") is None


@pytest.mark.timeout(61)
def test_a_test_s_own_timeout_wins_over_its_tier_s(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("timeout")
    assert marker is not None and marker.args == (61,)


@pytest.mark.parametrize(("markexpr", "runs"), [
    ("", False),  # CI's plain pytest: the reliability tier is left out
    ("not slurm and not e2e", False),
    ("slurm", False),
    ("reliability", True),  # scripts/reliability.py --tests
    ("not reliability", True),  # -m decides itself
    ("reliability or not reliability", True),  # scripts/reliability.py's fault tests
])
def test_the_reliability_tier_runs_only_when_m_names_it(markexpr: str, runs: bool) -> None:
    assert runs_reliability(markexpr) is runs
