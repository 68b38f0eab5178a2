"""Shared test settings: offline Hugging Face, quiet progress bars, and the tiers.

Each top folder of tests/ is a tier, with its marker and its timeout (pyproject's
``timeout = 900`` is the default, kept by the tiers that run whole searches):

- ``unit``: pure parts and the controller against an in-memory scheduler; 60 s a test.
- ``jobs``, ``bench``: real (tiny) training and inference; 600 s a test (a busy 2-core
  machine has seen 180 s).
- ``e2e`` (marker ``e2e``): whole searches on the local executor; 900 s.
- ``slurm`` (marker ``slurm``): the real local SLURM cluster; 900 s.

The fast tier is everything but the last two: ``pytest -m "not slurm and not e2e"``. The
markers are set here by folder, so a new file there cannot miss its marker; a test's own
``@pytest.mark.timeout`` wins over its tier's.

A test marked ``reliability`` (slow by nature: random kill points, a daemon down for a while,
a SLURM time limit waited out) is left out unless the ``-m`` expression names that marker:
``pytest -m reliability`` runs them (``scripts/reliability.py --tests`` does, and records the
result in RELIABILITY.md); CI keeps a fast variant of each, named in its docstring.

On several pytest-xdist workers (``pytest -n 2``, as scripts/test.sh runs the suite) the
SLURM tier runs whole on one worker, in order, beside the rest (tests/support/workers.py).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# A suite started in the background of a non-interactive shell (`cmd &`, as CI runners and
# nohup'ed scripts do) inherits SIGINT ignored, and so would every controller the tests start:
# the Ctrl-C tests would then press a key nobody hears. A user's terminal delivers it, so
# restore it here; a handled signal is reset to the default in each child at exec.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

HERE = Path(__file__).resolve().parent

# folder -> (marker or None, timeout in seconds or None for pyproject's)
TIERS: dict[str, tuple[str | None, int | None]] = {
    "unit": (None, 60),
    "jobs": (None, 600),
    "bench": (None, 600),
    "e2e": ("e2e", None),
    "slurm": ("slurm", None),
}


def tier_of(path: Path) -> str | None:
    """The tier of a test file: its top folder under tests/, or None outside them."""
    try:
        parts = path.resolve().relative_to(HERE).parts
    except ValueError:
        return None
    return parts[0] if len(parts) > 1 and parts[0] in TIERS else None


RELIABILITY = "reliability"


def runs_reliability(markexpr: str) -> bool:
    """Whether a ``-m`` expression decides about the reliability tier itself; without it
    (CI's plain ``pytest``) the tier is left out."""
    return RELIABILITY in markexpr


# tryfirst: the markers must be there before `-m` deselects by them
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _mark_tiers(items)
    if runs_reliability(str(config.getoption("markexpr", "") or "")):
        return
    slow = [item for item in items if item.get_closest_marker(RELIABILITY) is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker(RELIABILITY) is None]


def _mark_tiers(items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(Path(item.path))
        if tier is None:
            continue
        marker, timeout = TIERS[tier]
        if marker is not None:
            item.add_marker(marker)
        if timeout is not None and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(timeout))


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: without xdist, never called
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`-n N`: the cluster's tests on one worker, in order, whatever --dist says (any other
    mode would split them) but `each` (every test on every worker: the user's choice)."""
    if config.getvalue("dist") == "each":
        return None
    from tests.support.workers import ClusterOnOneWorker
    return ClusterOnOneWorker(config, log)
