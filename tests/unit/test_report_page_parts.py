"""report.html's parts from recorded journals and files the test writes: the x axis
(report.x), the job timeline's queue wait and run time, the devices, the per-class scores,
and a page that says what went wrong instead of a failed search."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from orchestrator.decide.stop_rule import Rule
from orchestrator.model.events import Event, decode
from orchestrator.model.state import SearchState
from orchestrator.reporting import files as reports
from orchestrator.reporting import report_data, report_html

SETTINGS = {"search": {"dir": "/x", "metric": "accuracy", "target": 0.8, "mode": "max",
                       "patience": 1, "min_delta": 0.0, "split": "test"},
            "executor": {"name": "local", "train": {"nodes": 2, "tasks_per_node": 2}},
            "train": {"per_device_batch_size": 16, "grad_accum_steps": 2},
            "report": {"x": "examples"}}


def _search(tmp_path: Path, result: dict[str, Any] | str) -> SearchState:
    out = tmp_path / "trials" / "001"
    (out / "checkpoint-100").mkdir(parents=True)
    (out / "evals").mkdir()
    path = out / "evals" / "step-00000100.json"
    path.write_text(result if isinstance(result, str) else json.dumps(result))
    (out / "checkpoint-100" / "trainer_state.json").write_text(json.dumps({"log_history": [
        {"step": 50, "loss": 1.0}, {"step": 100, "loss": 0.7, "eval_loss": 0.8,
                                     "eval_f1": 0.6, "eval_runtime": 3.0}]}))
    raw: list[dict[str, Any]] = [
        {"event": "search_started", "t": 100.0, "settings": SETTINGS},
        {"event": "trial_started", "t": 101.0, "trial": 1, "seed": 42, "output_dir": str(out),
         "params": {"per_device_batch_size": 8}, "sampler_trial": None},
        {"event": "submit_intent", "t": 102.0, "key": "train-t001-a0", "kind": "train",
         "trial": 1, "step": None, "attempt": 0, "folder": "/f", "name": "n", "overrides": {}},
        {"event": "submitted", "t": 102.0, "key": "train-t001-a0", "job_id": "7"},
        {"event": "job_state", "t": 112.0, "key": "train-t001-a0", "job_id": "7",
         "state": "RUNNING"},
        {"event": "job_state", "t": 142.0, "key": "train-t001-a0", "job_id": "7",
         "state": "SUCCEEDED"},
        {"event": "checkpoint", "t": 120.0, "trial": 1, "step": 100,
         "path": str(out / "checkpoint-100")},
        {"event": "evaluation", "t": 130.0, "trial": 1, "step": 100, "value": 0.75,
         "job_id": "8", "checkpoint": str(out / "checkpoint-100"), "result": str(path)},
    ]
    events: list[Event] = [decode(e, f"recorded:{n}") for n, e in enumerate(raw, start=1)]
    return SearchState.replay(events)


RESULT: dict[str, Any] = {"accuracy": 0.75, "device": "cuda:0", "device_name": "NVIDIA H200",
          "peak_gpu_memory_bytes": 3 * 2**30, "examples_per_s": 812.5,
          "metrics": {"test": {"accuracy": 0.75, "labels": ["neg", "pos"],
                               "per_class": {"neg": {"precision": 0.8, "recall": 0.6,
                                                     "f1": 0.6857, "support": 10},
                                             "pos": {"precision": 0.7, "recall": 0.9,
                                                     "f1": 0.7875, "support": 10}},
                               "confusion_matrix": [[6, 4], [1, 9]]}}}


def test_the_parts_of_the_report(tmp_path: Path) -> None:
    state = _search(tmp_path, RESULT)
    c = report_data.collect(state, Rule(0.8), tmp_path, now=150.0)
    assert c["x"] == "examples"
    assert c["examples_per_step"] == {1: 8 * 2 * 4}  # the trial's batch x accumulation x 4
    assert c["timeline"] == [{"key": "train-t001-a0", "kind": "train", "job_id": "7",
                              "state": "SUCCEEDED", "submitted": 102.0, "started": 112.0,
                              "ended": 142.0}]
    assert c["best_scores"]["matrix"] == [[6, 4], [1, 9]]
    assert [h["step"] for h in c["curves"][1]] == [50, 100]
    assert c["gpu"] == [{"job": "infer trial 1 step 100", "device": "cuda:0",
                         "device_name": "NVIDIA H200", "peak_gpu_memory_bytes": 3 * 2**30,
                         "examples_per_s": 812.5}]
    assert c["disk"]["total"] == c["disk"]["trials"] > 0
    page = report_html.render(c)
    for words in ("queue wait 10.0 s", "ran 30.0 s", "NVIDIA H200", "3.00 GiB", "812.5",
                  "60.0 %", "90.0 %", "0.6857", "per_device_batch_size=8"):
        assert words in page, words


def test_the_curves_come_from_the_log_history_kept_outside_the_checkpoints(
        tmp_path: Path) -> None:
    """Retention deleted checkpoint-100 and its trainer_state.json: the trial folder's
    log_history.json still has every point, to the last step trained."""
    state = _search(tmp_path, RESULT)
    kept = [{"step": s, "loss": 1.0 / s} for s in range(10, 101, 10)]
    kept.append({"step": 100, "eval_loss": 0.8, "eval_f1": 0.6})
    (tmp_path / "trials" / "001" / "log_history.json").write_text(json.dumps(kept))
    shutil.rmtree(tmp_path / "trials" / "001" / "checkpoint-100")
    c = report_data.collect(state, Rule(0.8), tmp_path, now=150.0)
    assert c["curves"][1] == kept
    assert "trial 1: 11 log entries, steps 10 to 100" in report_html.render(c)


def test_without_a_kept_log_history_the_newest_checkpoint_gives_the_curves(
        tmp_path: Path) -> None:
    state = _search(tmp_path, RESULT)  # a user's own training script writes no log history
    (tmp_path / "trials" / "001" / "log_history.json").write_text("{not json")
    c = report_data.collect(state, Rule(0.8), tmp_path, now=150.0)
    assert [h["step"] for h in c["curves"][1]] == [50, 100]


@pytest.mark.parametrize(("device", "shown"), [
    ({"device": "cpu"}, "CPU"), ({"device": "cuda:0", "device_name": "A100"}, "A100"),
    ({"device": "cuda:1"}, "cuda:1"), ({}, "-")])
def test_the_device_column_says_cpu_on_cpu(device: dict[str, Any], shown: str) -> None:
    assert report_html._device(device) == shown


def test_a_result_without_scores_or_an_odd_one_still_gives_a_page(tmp_path: Path) -> None:
    plain = _search(tmp_path / "a", {"accuracy": 0.75})  # a foreign script's JSON
    path = report_html.write_html(plain, Rule(0.8), tmp_path / "a")
    assert "No per-class scores" in path.read_text()
    odd = dict(RESULT, metrics={"test": {**RESULT["metrics"]["test"],
                                         "per_class": {"neg": {"precision": "x"}}}})
    page = report_html.write_html(_search(tmp_path / "b", odd), Rule(0.8), tmp_path / "b")
    assert "report.html could not be drawn" in page.read_text()


def test_a_search_with_nothing_yet_gives_a_page(tmp_path: Path) -> None:
    events = [decode({"event": "search_started", "t": 1.0, "settings": SETTINGS}, "r:1")]
    page = report_html.write_html(SearchState.replay(events), Rule(0.8), tmp_path)
    text = page.read_text()
    assert "No job submitted yet" in text and "best none yet" in text


def test_while_running_report_html_is_rewritten_at_most_every_30_s(tmp_path: Path) -> None:
    state = _search(tmp_path, RESULT)
    page = tmp_path / "report.html"
    times = iter([1000.0, 1010.0, 1031.0])
    for expected in (True, False, True):
        page.unlink(missing_ok=True)
        # each refresh "costs" 0 s: the 30-s rule alone, however slow this machine draws
        reports.refresh_outcome(state, Rule(0.8), tmp_path, clock=lambda: next(times),
                                timer=lambda: 0.0)
        assert page.exists() is expected
        assert (tmp_path / "report.md").exists()  # report.md each time
    page.unlink()
    reports.write_outcome(state, Rule(0.8), tmp_path)  # the end: always
    assert page.exists()
