"""Fixtures for the job tests: offline Hugging Face, and one short real training run.

The training run is shared by the session (it costs a few seconds on 2 cores); tests that
change its folder copy it first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before anything imports huggingface_hub, which reads these once at import time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests.support.job_settings import TrainedRun, train_spec


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    yield


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> TrainedRun:
    from jobs import train

    output_dir = tmp_path_factory.mktemp("run") / "trial-1"
    result = train.run(train_spec(output_dir, cache_dir))
    return TrainedRun(output_dir, cache_dir, result)
