"""The training job says why it failed: a bad input (data, model folder, settings) is cause
`input`, written where the controller looks, so the trial ends without a retry."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from orchestrator.common import failures, layout
from orchestrator.config.settings import DataSettings, ModelSettings, TrainSpec
from orchestrator.scheduler import in_job
from tests.support.job_settings import train_spec
from tests.support.local_job import in_a_local_job


def _bad_column(tmp_path: Path, spec: TrainSpec) -> tuple[TrainSpec, list[str]]:
    csv = tmp_path / "train.csv"
    csv.write_text("tweet,label\n" + "".join(f"text {i},positive\n" for i in range(40)))
    data = DataSettings(source="files", train_file=str(csv), test_file=str(csv),
                        cache_dir=spec.data.cache_dir)
    return dataclasses.replace(spec, data=data), [str(csv), "column 'text' not found",
                                                  "set data.text_column"]


def _unusable_model(tmp_path: Path, spec: TrainSpec) -> tuple[TrainSpec, list[str]]:
    folder = tmp_path / "model"  # valid JSON (the login-node check passes), no model in it
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "no-such-architecture"}')
    model = ModelSettings(name="mine", name_or_path=str(folder))
    return dataclasses.replace(spec, model=model), [f"model.name_or_path={folder}"]


@pytest.mark.parametrize("make", [_bad_column, _unusable_model], ids=["column", "model"])
def test_a_bad_input_fails_the_training_job_with_cause_input(
        tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch, make: object) -> None:
    assert callable(make)
    spec, fragments = make(tmp_path, train_spec(tmp_path / "trial", cache_dir))
    jobs = tmp_path / "jobs"
    in_a_local_job(monkeypatch, jobs, "31337")
    with pytest.raises(failures.JobInputError):
        in_job.call("jobs.train:run", spec)
    found = failures.read(layout.failure_path(jobs, "31337"))
    assert found is not None and found.cause == "input", found
    assert "\n" not in found.reason
    for fragment in fragments:
        assert fragment in found.reason, found.reason
    assert not (tmp_path / "trial" / "plan.json").exists()  # it never started training
