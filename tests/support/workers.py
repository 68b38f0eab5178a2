"""How pytest-xdist shares the suite out among its workers (scripts/test.sh runs ``-n 2``).

The tests of the one local SLURM cluster (tests/slurm) are one unit of work, run in order on
one worker: they kill and revive its nodes, restart its daemons, change its accounts and
limits, and time their jobs' queueing, so two of them at once break each other. Each other
module outside the unit tier is a unit of its own, so that its module fixtures (some of them a
whole search) run once; the unit tier's tests go one by one. What runs beside the cluster's
tests is local: its own folders, processes and ports.

xdist hands the biggest units out first (its default ``--loadscope-reorder``), and the
cluster's, 74 tests against 31 for the next, is by far the longest (about 20 of the suite's
40 minutes), so it starts at once and the rest fills the other worker around it.

xdist's own ``--dist loadgroup`` would do this with markers, but it names a group by editing
``item._nodeid``, which pytest 9.2 no longer reads: every test went to any worker. A scheduler
that derives the unit from the test's file has no such dependence. It serves every ``--dist``
but ``each`` (tests/conftest.py), since the others would split the cluster's tests too.

With ``-x``, the worker that holds the cluster's unit was sent all of it at once and runs it
to the end after a failure elsewhere (xdist stops a worker early on its own failures only):
``PYTEST_WORKERS=0`` (scripts/test.sh) or no ``-n`` stops at once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

from tests.conftest import tier_of

CLUSTER_TESTS = "tests/slurm"


def unit_of(nodeid: str, rootpath: Path) -> str:
    """The unit of work a test belongs to, from its id (``tests/e2e/test_x.py::test_y``,
    relative to pytest's rootdir `rootpath`) and its tier (tests/conftest.py)."""
    module = nodeid.split("::", 1)[0]
    tier = tier_of(rootpath / module)
    if tier == "slurm":
        return CLUSTER_TESTS
    return nodeid if tier == "unit" else module


class ClusterOnOneWorker(LoadScopeScheduling):  # type: ignore[misc]
    """xdist's scope scheduling (each unit whole to one worker), with `unit_of`'s units."""

    def __init__(self, config: pytest.Config, log: object = None) -> None:
        super().__init__(config, log)
        self.rootpath = Path(config.rootpath)

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid, self.rootpath)
