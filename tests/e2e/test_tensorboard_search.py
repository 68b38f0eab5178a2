"""TensorBoard over a whole search on the local executor: `tensorboard --logdir <search.dir>`
finds, in each trial's run, the training loss and validation metrics the training job wrote
and the test metric the controller added, one point per checkpoint step; with the users' own
scripts, the test metric parsed from their inference log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orchestrator.common import layout
from tests.support.cli import cli
from tests.support.searches import CURVE, byo_overrides

pytestmark = pytest.mark.e2e

SHORT = ["executor=local", "data=synthetic", "model=tiny", "data.synthetic_train_size=2000",
         "data.synthetic_test_size=600", "train.max_steps=200", "train.save_steps=100",
         "train.eval_steps=100", "train.logging_steps=50", "search.target=0.99"]


def _loaded(run: Path) -> Any:
    """TensorBoard's own reader over the run (imported here only: never by the controller)."""
    from tensorboard.backend.event_processing.event_accumulator import (  # type: ignore[import-untyped]
        EventAccumulator,
    )

    accumulator = EventAccumulator(str(run), size_guidance={"scalars": 0})
    accumulator.Reload()
    return accumulator


def test_a_trials_run_holds_training_validation_and_test_scalars(tmp_path: Path) -> None:
    directory = tmp_path / "search"
    done = cli("run", *SHORT, f"search.dir={directory}", "--plain")
    assert done.returncode == 1, done.stdout + done.stderr  # ended without the 0.99 target
    trial = layout.trial_dir(directory, 1)
    acc = _loaded(layout.tensorboard_dir(trial))
    steps = {tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
    assert steps["train/loss"] == [50, 100, 150, 200]
    assert steps["validation/accuracy"] == steps["validation/f1_macro"] == [100, 200]
    assert steps["test/accuracy"] == steps["test/f1_macro"] == [100, 200]
    # the controller's points are the journal's values (float32 in the file)
    journal = json.loads((directory / "summary.json").read_text())["evaluations"]
    test_points = [e.value for e in acc.Scalars("test/accuracy")]
    assert test_points == pytest.approx([e["value"] for e in journal], abs=1e-6)
    assert json.loads(layout.progress_path(trial).read_text())["step"] == 200
    # a second look (`orchestrator report`, a resumed controller) adds no duplicate point
    assert cli("report", str(directory)).returncode == 0
    again = _loaded(layout.tensorboard_dir(trial))
    assert [e.step for e in again.Scalars("test/accuracy")] == [100, 200]


def test_a_users_own_scripts_get_the_test_metric_too(tmp_path: Path) -> None:
    directory = tmp_path / "search"
    overrides = [o.replace("executor=slurm", "executor=local") for o in byo_overrides(
        directory, checkpoints=3, every_s=0.5, target=99.0)]
    done = cli("run", *overrides, "--plain")
    assert done.returncode == 1, done.stdout + done.stderr
    trial = layout.trial_dir(directory, 1)
    acc = _loaded(layout.tensorboard_dir(trial))
    assert acc.Tags()["scalars"] == ["test/accuracy"]  # the number parsed from its log
    points = [(e.step, e.value) for e in acc.Scalars("test/accuracy")]
    curve = [float(v) for v in CURVE.split(",")[:3]]  # what fake_infer.py prints, in percent
    assert points == [(100, curve[0]), (200, curve[1]), (300, curve[2])]
    assert not layout.progress_path(trial).exists()  # only the built-in job writes one
