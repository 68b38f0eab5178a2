"""Run the rest of a test as if inside a submitit local job (the environment submitit sets),
so that what a job writes beside submitit's files (its failure's cause) lands in `folder`."""

from __future__ import annotations

from pathlib import Path

import pytest


def in_a_local_job(monkeypatch: pytest.MonkeyPatch, folder: Path, job_id: str) -> None:
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "local")
    monkeypatch.setenv("SUBMITIT_LOCAL_JOB_ID", job_id)
    monkeypatch.setenv("SUBMITIT_FOLDER", str(folder))
    monkeypatch.setenv("SUBMITIT_LOCAL_GLOBALID", "0")
