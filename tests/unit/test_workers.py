"""The units of work pytest-xdist hands out (tests/support/workers.py): every test of the
local cluster in one, each other module whole, each unit test alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import HERE as TESTS
from tests.support.workers import CLUSTER_TESTS, ClusterOnOneWorker, unit_of

ROOT = TESTS.parent


@pytest.mark.parametrize(("nodeid", "unit"), [
    ("tests/slurm/test_faults.py::test_node_drained_under_running_training", CLUSTER_TESTS),
    ("tests/slurm/test_local_slurm.py::test_scancel_gives_cancelled", CLUSTER_TESTS),
    ("tests/slurm/test_sbatch_options_slurm.py::test_a[overrides1-500M]", CLUSTER_TESTS),
    ("tests/e2e/test_local_search.py::test_metric_fell", "tests/e2e/test_local_search.py"),
    ("tests/e2e/test_bad_input.py::test_x[a::b]", "tests/e2e/test_bad_input.py"),
    ("tests/jobs/test_lora.py::test_a", "tests/jobs/test_lora.py"),
    ("tests/unit/test_memo.py::test_a", "tests/unit/test_memo.py::test_a"),
    ("tests/unit/test_memo.py::test_b[1]", "tests/unit/test_memo.py::test_b[1]"),
])
def test_unit_of(nodeid: str, unit: str) -> None:
    assert unit_of(nodeid, ROOT) == unit


@pytest.mark.parametrize("rootdir", [TESTS, TESTS / "slurm"])
def test_unit_of_another_rootdir(rootdir: Path) -> None:
    """`--rootdir` elsewhere: test ids are relative to it, the units are the same."""
    slurm = (TESTS / "slurm" / "test_faults.py").relative_to(rootdir)
    assert unit_of(f"{slurm}::test_x", rootdir) == CLUSTER_TESTS
    if rootdir == TESTS:
        assert unit_of("unit/test_memo.py::test_a", rootdir) == "unit/test_memo.py::test_a"
        assert unit_of("e2e/test_x.py::test_a", rootdir) == "e2e/test_x.py"


def test_the_scheduler_splits_by_unit_of() -> None:
    scheduler = ClusterOnOneWorker.__new__(ClusterOnOneWorker)  # only rootpath is read
    scheduler.rootpath = ROOT
    assert scheduler._split_scope("tests/slurm/test_a.py::t") == \
        scheduler._split_scope("tests/slurm/test_b.py::t") == CLUSTER_TESTS
