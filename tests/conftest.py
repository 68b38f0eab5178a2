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
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

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


# tryfirst: the markers must be there before `-m` deselects by them
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(Path(item.path))
        if tier is None:
            continue
        marker, timeout = TIERS[tier]
        if marker is not None:
            item.add_marker(marker)
        if timeout is not None and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(timeout))
