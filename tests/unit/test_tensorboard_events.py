"""The controller's TensorBoard writer: files TensorBoard's own reader accepts, no duplicate
point however often it syncs, a torn tail (a kill mid-append) repaired. TensorBoard is
imported here only: the controller never imports it."""

from __future__ import annotations

import functools
import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from orchestrator.common import layout
from orchestrator.decide.stop_rule import Rule
from orchestrator.model.events import Event, decode
from orchestrator.model.state import SearchState
from orchestrator.reporting import tensorboard_events as tbe
from orchestrator.reporting.outcome import write_outcome

SETTINGS = {"search": {"dir": "/runs/x", "metric": "accuracy", "target": 0.8, "mode": "max",
                       "patience": 1, "min_delta": 0.0}, "executor": {"name": "local"}}


def _journal(evaluations: list[tuple[int, int, float | None, dict[str, Any]]]) -> SearchState:
    raw: list[dict[str, Any]] = [{"event": "search_started", "t": 1.0, "settings": SETTINGS}]
    for trial in sorted({e[0] for e in evaluations}):
        raw.append({"event": "trial_started", "t": 2.0, "trial": trial, "seed": 41 + trial,
                    "output_dir": f"/o/{trial:03d}", "params": {}, "sampler_trial": None})
    for trial, step, value, metrics in evaluations:
        raw.append({"event": "evaluation", "t": 3.0, "trial": trial, "step": step,
                    "value": value, "job_id": None, "checkpoint": f"/o/c-{step}",
                    **({"metrics": metrics} if metrics else {})})
    typed: list[Event] = [decode(e, f"journal:{n}") for n, e in enumerate(raw, start=1)]
    return SearchState.replay(typed)


def _scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import (  # type: ignore[import-untyped]
        EventAccumulator,
    )

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.mark.parametrize(("data", "crc"), [
    (b"", 0x00000000), (b"123456789", 0xE3069283), (b"\x00" * 32, 0x8A9136AA),
])
def test_crc32c_matches_the_castagnoli_check_values(data: bytes, crc: int) -> None:
    assert tbe.crc32c(data) == crc


def test_tensorboards_reader_reads_what_the_writer_wrote(tmp_path: Path) -> None:
    path = tmp_path / "run" / tbe.EVENTS_FILE
    points = [("test/accuracy", 100, 0.5), ("test/accuracy", 200, 0.75),
              ("test/f1", 100, 0.25), ("test/accuracy", 5_000_000_000, 0.125)]
    assert tbe.append_scalars(path, points) == 4
    assert _scalars(tmp_path / "run") == {
        "test/accuracy": [(100, 0.5), (200, 0.75), (5_000_000_000, 0.125)],
        "test/f1": [(100, 0.25)],
    }


def test_a_second_append_writes_only_new_points(tmp_path: Path) -> None:
    path = tmp_path / tbe.EVENTS_FILE
    assert tbe.append_scalars(path, [("test/accuracy", 100, 0.5)]) == 1
    size = path.stat().st_size
    assert tbe.append_scalars(path, [("test/accuracy", 100, 0.5)]) == 0
    assert path.stat().st_size == size  # untouched: a running TensorBoard reads on from here
    assert tbe.append_scalars(path, [("test/accuracy", 100, 0.5),
                                     ("test/accuracy", 200, 0.75)]) == 1
    assert _scalars(tmp_path) == {"test/accuracy": [(100, 0.5), (200, 0.75)]}


@pytest.mark.parametrize("cut", [1, 5, 13, 20])
def test_a_torn_last_record_is_cut_off_and_rewritten(tmp_path: Path, cut: int) -> None:
    path = tmp_path / tbe.EVENTS_FILE
    tbe.append_scalars(path, [("test/accuracy", 100, 0.5), ("test/accuracy", 200, 0.75)])
    path.write_bytes(path.read_bytes()[:-cut])  # a kill in the middle of the last append
    assert tbe.append_scalars(path, [("test/accuracy", 100, 0.5),
                                     ("test/accuracy", 200, 0.75)]) == 1
    assert _scalars(tmp_path) == {"test/accuracy": [(100, 0.5), (200, 0.75)]}


def test_writers_at_the_same_time_write_each_point_once(tmp_path: Path) -> None:
    # the controller and `orchestrator report` may sync the same trial at once (measured:
    # without the lock this failed 4 runs in 5: 6 processes added the same points twice or more)
    path = tmp_path / tbe.EVENTS_FILE
    points = [("test/accuracy", step, step / 1e5) for step in range(100, 100_100, 100)]
    with multiprocessing.get_context("fork").Pool(6) as pool:
        added = pool.map(functools.partial(tbe.append_scalars, path), [points] * 6)
    assert sum(added) == 1000
    assert [s for s, _ in _scalars(tmp_path)["test/accuracy"]] == list(range(100, 100_100, 100))


def test_sync_writes_every_test_metric_per_trial_once(tmp_path: Path) -> None:
    both = {"test": {"accuracy": 0.75, "f1": 0.5, "n": 300.0}, "validation": {"accuracy": 0.8}}
    state = _journal([(1, 100, 0.75, both), (1, 200, None, {}), (2, 100, 0.625, {})])
    assert tbe.sync_test_scalars(state, tmp_path) == 3
    assert tbe.sync_test_scalars(state, tmp_path) == 0  # a resumed controller, a report
    trial_run = layout.tensorboard_dir(layout.trial_dir(tmp_path, 1))
    assert _scalars(trial_run) == {"test/accuracy": [(100, 0.75)], "test/f1": [(100, 0.5)]}
    # a user's script: the one parsed value, under the search's metric name
    assert _scalars(layout.tensorboard_dir(layout.trial_dir(tmp_path, 2))) == {
        "test/accuracy": [(100, 0.625)]}


def test_a_search_decided_on_validation_by_a_script_adds_no_test_point(tmp_path: Path) -> None:
    state = _journal([(1, 100, 0.75, {"validation": {"accuracy": 0.75}})])
    state.evaluations[(1, 100)].split = "validation"
    assert tbe.sync_test_scalars(state, tmp_path) == 0


def test_the_outcome_writes_the_test_scalars_too(tmp_path: Path) -> None:
    write_outcome(_journal([(1, 100, 0.75, {})]), Rule(0.8), tmp_path)
    run = layout.tensorboard_dir(layout.trial_dir(tmp_path, 1))
    assert _scalars(run) == {"test/accuracy": [(100, 0.75)]}


def test_an_unwritable_run_is_no_error(tmp_path: Path) -> None:
    trial = layout.trial_dir(tmp_path, 1)
    trial.mkdir(parents=True)
    layout.tensorboard_dir(trial).write_text("a file where the folder should be")
    assert tbe.sync_test_scalars(_journal([(1, 100, 0.75, {})]), tmp_path) == 0
