"""The `multinode` bench phase's pure parts: the overrides keep the global batch, the journal
and sacct readers, the ratios, the headline key and the page section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import headline
from bench.page import report
from bench.page.multinode import multinode as section
from bench.phases import multinode, runner


def test_the_phase_is_registered_with_a_reference_key() -> None:
    assert "multinode" in runner.PHASES
    assert "multinode_examples_per_s_ratio" in report.REFERENCE_KEYS


@pytest.mark.parametrize(("nodes", "per_device"), [(1, 32), (2, 16)])
def test_every_node_count_trains_the_same_global_batch_and_steps(
        nodes: int, per_device: int) -> None:
    got = multinode.overrides(Path("/s"), nodes)
    assert f"train.per_device_batch_size={per_device}" in got
    assert f"executor.train.nodes={nodes}" in got
    assert f"train.max_steps={multinode.STEPS}" in got
    assert "executor.train.partition=nodes" in got and "search.dir=/s" in got


def test_a_node_count_that_does_not_split_the_batch_is_refused() -> None:
    with pytest.raises(ValueError, match="does not split"):
        multinode.overrides(Path("/s"), 3)


@pytest.mark.parametrize(("events", "expected"), [
    ([], None),
    ([{"event": "submitted", "key": "infer-t001-s200", "job_id": "9"}], None),
    ([{"event": "submitted", "key": "train-t001-a0", "job_id": "7"},
      {"event": "submitted", "key": "infer-t001-s200", "job_id": "9"}], "7"),
    ([{"event": "submitted", "key": "train-t001-a0", "job_id": "7"},
      {"event": "submitted", "key": "train-t001-a1", "job_id": "8"}], "8"),
])
def test_the_training_job_is_read_from_the_journal(
        events: list[dict[str, Any]], expected: str | None) -> None:
    assert multinode.training_job(events) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("00:01:05|n[1-2]|COMPLETED\n", {"elapsed_s": 65.0, "node_list": "n[1-2]",
                                     "state": "COMPLETED"}),
    ("", {"elapsed_s": None, "node_list": None, "state": None}),
])
def test_sacct_row(text: str, expected: dict[str, Any]) -> None:
    assert multinode.sacct_row(text) == expected


def _run(nodes: int, speed: float | None, elapsed: float) -> dict[str, Any]:
    done = {"global_step": 200, "examples_per_s": speed, "train_seconds": 10.0}
    sacct = {"elapsed_s": elapsed, "node_list": "n1", "state": "COMPLETED"}
    return multinode.run_result(nodes, done, sacct, "5", 1)


def test_the_ratios_are_two_nodes_over_one_and_reach_the_headline_and_page() -> None:
    raw = {"multinode": multinode.summarise({"1": _run(1, 400.0, 40.0),
                                             "2": _run(2, 300.0, 50.0)})}
    assert raw["multinode"]["examples_per_s_ratio"] == 0.75
    assert raw["multinode"]["job_elapsed_ratio"] == 1.25
    assert headline(raw)["multinode_examples_per_s_ratio"] == 0.75
    page = section(raw)
    assert "plumbing figure" in page and "| 2 | 16 | 300.0 |" in page and "0.75" in page
    assert "| none |" in page


def test_a_missing_figure_gives_no_ratio_and_no_phase_no_section() -> None:
    summary = multinode.summarise({"1": _run(1, None, 40.0), "2": _run(2, 300.0, 50.0)})
    assert summary["examples_per_s_ratio"] is None
    assert section({}) == ""


def test_only_other_peoples_running_jobs_count_as_load() -> None:
    rows = [("1", "bench-ab-multinode1-x-train", "RUNNING", "None"),
            ("2", "s90-train-t001-a0", "RUNNING", "None"),
            ("3", "s90-infer-t001-s20", "PENDING", "Priority")]
    assert multinode.running_others(rows, "bench-ab") == ["2|s90-train-t001-a0"]


def test_the_jobs_beside_a_run_do_not_split_the_table() -> None:
    run = {**_run(1, 400.0, 40.0), "others_running": ["22915|s6b-train-t001-a0"]}
    page = section({"multinode": multinode.summarise({"1": run})})
    assert "| 22915 (s6b-train-t001-a0) |" in page
