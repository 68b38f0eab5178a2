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
that derives the unit from the test's id has no such dependence.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

CLUSTER_TESTS = "tests/slurm/"


def unit_of(nodeid: str) -> str:
    """The unit of work a test belongs to, from its id (``tests/e2e/test_x.py::test_y``)."""
    if nodeid.startswith(CLUSTER_TESTS):
        return CLUSTER_TESTS
    if nodeid.startswith("tests/unit/"):
        return nodeid
    return nodeid.split("::", 1)[0]


class ClusterOnOneWorker(LoadScopeScheduling):  # type: ignore[misc]
    """xdist's scope scheduling (each unit whole to one worker), with `unit_of`'s units."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)
