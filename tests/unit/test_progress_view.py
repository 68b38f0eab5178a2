"""Training progress read back (progress.json), the trials table, the backlog, pinned live
jobs and SLURM's pending reasons: in the plain lines, the live view and `status`."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from orchestrator.cli import cmd_status
from orchestrator.common import layout
from orchestrator.engine.observe import Observer
from orchestrator.model import trials_table
from orchestrator.model.events import Event, decode, encode
from orchestrator.model.progress import Progress, describe, parse, worth_a_line
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import JobState
from orchestrator.scheduler.interface import JobRef, Polled, pending_reasons
from orchestrator.scheduler.slurm_parse import parse_sacct
from orchestrator.view import dashboard
from orchestrator.view.live import PlainView, RichView
from orchestrator.view.progress_reader import ProgressReader

FIXTURES = Path(__file__).parent.parent / "fixtures"
GOOD = {"step": 340, "max_steps": 791, "epoch": 1.3, "steps_per_s": 28.2,
        "examples_per_s": 1804.0, "loss": 0.4112, "learning_rate": 2e-5, "t": 1.0}


@pytest.mark.parametrize(("text", "expected"), [
    (json.dumps(GOOD), Progress(340, 791, 1.3, 28.2, 1804.0, 0.4112, 2e-5, 1.0)),
    ('{"step": 12}', Progress(12)),  # a partial file: what is known of it
    ('{"step": 12, "max_steps": 0, "loss": "x"}', Progress(12)),  # wrong types: unknown
    ('{"step": 12, "loss": NaN}', Progress(12)),
    ('{"step": 34', None),  # torn
    ("", None), ("[1, 2]", None), ('{"loss": 0.3}', None), ('{"step": -1}', None),
    ('{"step": true}', None), ("\x00garbage", None),
], ids=["full", "partial", "wrong-types", "nan", "torn", "empty", "list", "no-step",
        "negative", "bool", "garbage"])
def test_a_progress_file_is_parsed_or_is_no_progress(text: str, expected: Progress | None) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(("progress", "plan", "line"), [
    (Progress(340, 791, steps_per_s=28.0, loss=0.41), None,
     "step 340/791 (43 %), 28 it/s, ETA 16 s, loss 0.41"),
    (Progress(340, None, steps_per_s=2.5), 1000, "step 340/1000 (34 %), 2.5 it/s, ETA 4 min 24 s"),
    (Progress(7), None, "step 7"),
])
def test_the_progress_line(progress: Progress, plan: int | None, line: str) -> None:
    assert describe(progress, plan) == line


@pytest.mark.parametrize(("new", "last", "at", "now", "tell"), [
    (Progress(10), None, None, 0.0, True),  # first seen: at once
    (Progress(20), Progress(10), 0.0, 5.0, False),  # too soon
    (Progress(20), Progress(10), 0.0, 15.0, True),
    (Progress(10), Progress(10), 0.0, 99.0, False),  # no change: nothing to say
])
def test_plain_progress_lines_are_rare_and_only_on_change(
        new: Progress, last: Progress | None, at: float | None, now: float, tell: bool) -> None:
    assert worth_a_line(new, last, at, now) is tell


def _events(output_dir: Path, train_state: str = "RUNNING",
            extra: list[dict[str, Any]] | None = None) -> list[Event]:
    raw: list[dict[str, Any]] = [
        {"event": "search_started", "t": 0.0, "settings": {
            "search": {"dir": str(output_dir.parent), "metric": "accuracy", "target": 0.8,
                       "mode": "max", "split": "test", "patience": 1, "min_delta": 0.0},
            "executor": {"name": "slurm"}}},
        {"event": "trial_started", "t": 1.0, "trial": 1, "seed": 42,
         "output_dir": str(output_dir), "params": {"learning_rate": 3e-5},
         "sampler_trial": None},
        {"event": "submit_intent", "t": 2.0, "key": "train-t001-a0", "kind": "train",
         "trial": 1, "step": None, "attempt": 0, "folder": "/f", "name": "n-train",
         "overrides": {}},
        {"event": "submitted", "t": 2.0, "key": "train-t001-a0", "job_id": "77"},
        {"event": "job_state", "t": 3.0, "key": "train-t001-a0", "job_id": "77",
         "state": train_state, **({"reason": "Resources"} if train_state == "PENDING" else {})},
        {"event": "plan", "t": 3.5, "trial": 1, "max_steps": 791},
        *(extra or []),
    ]
    return [decode(e, f"recorded:{n}") for n, e in enumerate(raw, start=1)]


def _state(events: list[Event]) -> SearchState:
    return SearchState.replay(events)


def test_the_reader_reads_running_trials_only_and_tolerates_any_file(tmp_path: Path) -> None:
    out = tmp_path / "trials" / "001"
    out.mkdir(parents=True)
    reader, state = ProgressReader(), _state(_events(out))
    assert reader.read(state) == {}  # no file yet
    layout.progress_path(out).write_text('{"step": 3', encoding="utf-8")
    assert reader.read(state) == {}
    layout.progress_path(out).write_text(json.dumps(GOOD), encoding="utf-8")
    os.utime(layout.progress_path(out), ns=(1, 2))  # a new mtime: read again
    assert reader.read(state)[1].step == 340
    pending = _state(_events(out, "PENDING"))
    assert ProgressReader().read(pending) == {}  # an old attempt's file is not news


def test_plain_view_prints_progress_lines_when_it_moves(tmp_path: Path) -> None:
    out = tmp_path / "trials" / "001"
    out.mkdir(parents=True)
    layout.progress_path(out).write_text(json.dumps(GOOD), encoding="utf-8")
    stream = io.StringIO()
    view, state = PlainView(stream), _state(_events(out))
    view.refresh(state)
    view.refresh(state)  # the same step: nothing new
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("trial 1: step 340/791 (43 %), 28 it/s, ETA 16 s, loss 0.411")


def _many_ended_inference(n: int) -> list[dict[str, Any]]:
    extra: list[dict[str, Any]] = []
    for step in range(1, n + 1):
        key = f"infer-t001-s{step:08d}-a0"
        extra += [
            {"event": "checkpoint", "t": 4.0, "trial": 1, "step": step, "path": f"/c-{step}"},
            {"event": "submit_intent", "t": 4.0, "key": key, "kind": "infer", "trial": 1,
             "step": step, "attempt": 0, "folder": "/f", "name": f"n-{key}", "overrides": {}},
            {"event": "submitted", "t": 4.0, "key": key, "job_id": str(100 + step)},
            {"event": "job_state", "t": 5.0, "key": key, "job_id": str(100 + step),
             "state": "SUCCEEDED"},
            {"event": "evaluation", "t": 5.0, "trial": 1, "step": step, "value": 0.5 + step / 100,
             "job_id": str(100 + step), "checkpoint": f"/c-{step}"},
        ]
    return extra


def test_the_live_view_pins_running_jobs_and_shows_what_matters(tmp_path: Path) -> None:
    out = tmp_path / "trials" / "001"
    out.mkdir(parents=True)
    layout.progress_path(out).write_text(json.dumps(GOOD), encoding="utf-8")
    state = _state(_events(out, extra=_many_ended_inference(20)))
    shown = dashboard.shown_jobs(state)
    assert shown[0].key == "train-t001-a0" and len(shown) == dashboard.JOB_ROWS
    console = Console(file=io.StringIO(), force_terminal=True, width=160, color_system=None)
    view = RichView(console)
    view.refresh(state)
    view.close()
    text = console.file.getvalue()  # type: ignore[attr-defined]
    for words in ("accuracy >= 0.8 on test", "best so far: 0.7000", "elapsed",
                  "train-t001-a0", "20 complete, 20 evaluated, 0 being evaluated, 0 waiting",
                  "learning_rate=3e-05", "training RUNNING", "step 340/791 (43 %), 28 it/s"):
        assert words in text, words


def _write_journal(search_dir: Path, events: list[Event]) -> None:
    lines = [json.dumps(encode(e)) for e in events]
    layout.journal_path(search_dir).write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_pending_job_shows_why_in_the_view_and_status(tmp_path: Path) -> None:
    out = tmp_path / "trials" / "001"
    state = _state(_events(out, "PENDING"))
    row = trials_table.rows(state, {})[0]
    assert row.state == "training PENDING (Resources)"
    search = tmp_path
    _write_journal(search, _events(out, "PENDING"))
    text, _ = cmd_status.status(search)
    assert "train-t001-a0: job 77 PENDING (Resources)" in text
    assert "training PENDING (Resources)" in text
    data = json.loads(cmd_status.status(search, as_json=True)[0])
    assert data["pending_reasons"] == {"train-t001-a0": "Resources"}
    assert data["trials_table"][0]["state"] == "training PENDING (Resources)"
    assert data["backlog"] == {"complete": 0, "evaluated": 0, "running": 0, "waiting": 0}


def test_status_shows_the_trials_table_and_progress(tmp_path: Path) -> None:
    out = tmp_path / "trials" / "001"
    out.mkdir(parents=True)
    layout.progress_path(out).write_text(json.dumps(GOOD), encoding="utf-8")
    _write_journal(tmp_path, _events(out, extra=_many_ended_inference(2)))
    text, _ = cmd_status.status(tmp_path)
    table = text[text.index("trial  params"):].splitlines()
    assert table[1].split()[:2] == ["1", "learning_rate=3e-05"]
    assert "340/791 (43 %)" in table[1] and "0.5200" in table[1]
    assert "trial 1: step 340/791 (43 %), 28 it/s, ETA 16 s, loss 0.411" in text


def test_recorded_sacct_reasons_are_kept_for_pending_jobs_only() -> None:
    rows = parse_sacct((FIXTURES / "sacct_reasons.txt").read_text())
    assert {i: (r.state, r.reason) for i, r in rows.items()} == {
        "61": (JobState.PENDING, "Resources"), "62": (JobState.PENDING, "JobHeldUser"),
        "63": (JobState.PENDING, ""), "64": (JobState.RUNNING, ""),
        "65": (JobState.SUCCEEDED, ""), "66": (JobState.PENDING, "Priority")}
    assert rows["66"].name == "someone's|odd name"
    old = parse_sacct((FIXTURES / "sacct_mixed.txt").read_text())  # a header without Reason
    assert old["47"].state is JobState.PENDING and old["47"].reason == ""


class _Answers:
    """The poll's answers, in turn (a unit test of the observer's journaling)."""

    def __init__(self, *answers: Polled) -> None:
        self.answers = list(answers)
        self.polls = 0

    def poll(self, jobs: list[JobRef]) -> Polled:
        self.polls += 1
        return self.answers.pop(0)


def test_the_observer_journals_a_pending_reason_when_it_changes(tmp_path: Path) -> None:
    state = _state(_events(tmp_path / "trials" / "001", "PENDING")[:4])  # submitted
    recorded: list[Event] = []

    def record(event: Event) -> Event:
        recorded.append(event)
        state.apply(event)
        return event

    answers = _Answers(Polled({"77": JobState.PENDING}, {"77": "Priority"}),
                       Polled({"77": JobState.PENDING}, {"77": "Priority"}),
                       Polled({"77": JobState.PENDING}, {"77": "Resources"}),
                       Polled({"77": JobState.RUNNING}))
    observer = Observer(None, answers, state, record, lambda: 0.0)  # type: ignore[arg-type]
    for _ in range(4):
        observer.poll(state.live_jobs())
    assert [(e.state.value, e.reason) for e in recorded] == [  # type: ignore[attr-defined]
        ("PENDING", "Priority"), ("PENDING", "Resources"), ("RUNNING", "")]
    assert answers.polls == 4 and state.jobs["train-t001-a0"].reason == ""
    assert pending_reasons({"77": JobState.PENDING}) == {}  # a plain mapping says no reason
