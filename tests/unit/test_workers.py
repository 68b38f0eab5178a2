"""The units of work pytest-xdist hands out (tests/support/workers.py): every test of the
local cluster in one, each other module whole, each unit test alone."""

from __future__ import annotations

import pytest

from tests.support.workers import CLUSTER_TESTS, ClusterOnOneWorker, unit_of


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
    assert unit_of(nodeid) == unit


def test_the_scheduler_splits_by_unit_of() -> None:
    scheduler = ClusterOnOneWorker.__new__(ClusterOnOneWorker)  # _split_scope reads no state
    assert scheduler._split_scope("tests/slurm/test_a.py::t") == \
        scheduler._split_scope("tests/slurm/test_b.py::t") == CLUSTER_TESTS
