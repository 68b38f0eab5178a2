from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from orchestrator.model.events import Resumed, SearchExtended, decode
from orchestrator.model.state import SearchState
from orchestrator.view import dashboard
from orchestrator.view.live import PlainView, RichView, describe
from tests.support.journal import typed

EVENTS = [
    {"event": "search_started", "t": 0.0, "settings": {
        "search": {"dir": "runs/x", "metric": "accuracy", "target": 0.8, "mode": "max"},
        "executor": {"name": "local"}}},
    {"event": "trial_started", "t": 1.0, "trial": 1, "seed": 42, "output_dir": "/o",
     "params": {}, "sampler_trial": None},
    {"event": "submit_intent", "t": 2.0, "key": "train-t001-a0", "kind": "train", "trial": 1,
     "step": None, "attempt": 0, "folder": "/f", "name": "x-0123abcd-train-t001-a0",
     "overrides": {}},
    {"event": "submitted", "t": 2.0, "key": "train-t001-a0", "job_id": "77"},
    {"event": "checkpoint", "t": 3.0, "trial": 1, "step": 100, "path": "/o/checkpoint-100"},
    {"event": "evaluation", "t": 4.0, "trial": 1, "step": 100, "value": 0.7312, "job_id": "78",
     "checkpoint": "/o/checkpoint-100"},
]


def test_plain_view_prints_one_line_per_event() -> None:
    out = io.StringIO()
    view, state = PlainView(out), SearchState()
    for event in typed(EVENTS):
        state.apply(event)
        view.event(event, state)
    lines = out.getvalue().splitlines()
    assert len(lines) == 5  # submit_intent is bookkeeping
    assert lines[-1].endswith("trial 1 step 100: 0.7312 (job 78)")


def _rich_view_of(evs: list[dict[str, Any]], width: int) -> tuple[str, SearchState]:
    """What the rich live view printed for these journal events, and the state they fold to."""
    out = io.StringIO()
    view = RichView(Console(file=out, force_terminal=True, width=width, highlight=False,
                            color_system=None))
    state = SearchState()
    for event in typed(evs):
        state.apply(event)
        view.event(event, state)
    view.close()
    return out.getvalue(), state


def test_rich_view_shows_jobs_metrics_and_the_best_so_far() -> None:
    text, _ = _rich_view_of(EVENTS, width=100)
    assert "best so far: 0.7312" in text
    assert "train-t001-a0" in text and "77" in text


FINISHED = [*EVENTS, {"event": "search_ended", "t": 5.0, "status": "target_reached",
                      "reason": ""}]


@pytest.mark.parametrize(("history", "line"), [
    (EVENTS, "resumed from the journal"),
    (FINISHED, "already finished (target_reached): nothing to resume, nothing submitted; "
     "its outcome:"),
])
def test_a_rerun_of_a_finished_search_says_already_finished(
        history: list[dict[str, Any]], line: str) -> None:
    out = io.StringIO()
    view, state = PlainView(out), SearchState.replay(typed(history))
    resumed = Resumed(t=6.0)
    state.apply(resumed)
    view.event(resumed, state)
    view.refresh(state)  # a rerun of a finished search is told once nothing reopened it
    assert out.getvalue().splitlines() == [out.getvalue().splitlines()[0]]
    assert out.getvalue().rstrip().split(" ", 1)[1] == line
    assert state.resumes == (0 if history is FINISHED else 1)


@pytest.mark.parametrize(("event", "line"), [
    ({"event": "trial_ended", "t": 0.0, "trial": 1, "how": "metric_fell", "step": 300,
      "reason": "accuracy fell 0.7025 -> 0.6955 at step 300 (patience 1)"},
     "trial 1 ended: metric_fell: accuracy fell 0.7025 -> 0.6955 at step 300 (patience 1)"),
    ({"event": "trial_ended", "t": 0.0, "trial": 1, "how": "stopped", "step": None,
      "reason": ""}, "trial 1 ended: stopped"),
    ({"event": "evaluation", "t": 0.0, "trial": 1, "step": 100, "value": 0.5, "job_id": None,
      "checkpoint": "/o/checkpoint-100"},
     "trial 1 step 100: 0.5000 (job -)"),
])
def test_event_lines_carry_the_reason_and_no_none(event: dict[str, Any], line: str) -> None:
    assert describe(decode(event, "test")) == line


@pytest.mark.parametrize(("params", "line"), [
    ({}, "trial 2 started (seed 43)"),
    ({"learning_rate": 3e-05, "per_device_batch_size": 16},
     "trial 2 started (seed 43; learning_rate=3e-05, per_device_batch_size=16)"),
    ({"weight_decay": 0.1, "scheduler": "cosine"},
     "trial 2 started (seed 43; scheduler=cosine, weight_decay=0.1)"),
])
def test_the_started_line_shows_the_sampled_hyperparameters(params: dict[str, Any],
                                                             line: str) -> None:
    event = typed([{"event": "trial_started", "t": 1.0, "trial": 2, "seed": 43,
                    "output_dir": "/o", "params": params, "sampler_trial": None}])[0]
    assert describe(event) == line


@pytest.mark.parametrize(("queue", "lines"), [
    ("trial-001", ["posted infer-t001-s00000100-a0 for an evaluator (infer.placement)",
                   "infer-t001-s00000100-a0 taken by the evaluator in job 77"]),
    ("", ["submitted infer-t001-s00000100-a0 as job 78",
          "job 78 (infer-t001-s00000100-a0) is RUNNING"]),
])
def test_a_task_is_told_from_a_job_by_its_journaled_queue(queue: str,
                                                          lines: list[str]) -> None:
    """The view reads what the journal says of the work (its queue), not the id's form."""
    job_id = "task:infer-t001-s00000100-a0" if queue else "78"
    key = "infer-t001-s00000100-a0"
    state, seen = SearchState(), []
    for event in typed([
            *EVENTS[:2],
            {"event": "submit_intent", "t": 2.0, "key": key,
             "kind": "infer", "trial": 1, "step": 100, "attempt": 0, "folder": "/q",
             "name": "x-0123abcd-infer-t001-s00000100-a0", "overrides": {}, "queue": queue},
            {"event": "submitted", "t": 2.0, "key": key, "job_id": job_id},
            {"event": "job_state", "t": 3.0, "key": key, "job_id": job_id, "state": "RUNNING",
             "runner": "77" if queue else ""}]):
        state.apply(event)
        seen.append(describe(event, state))
    assert seen[-2:] == lines


def test_a_finished_search_reopened_by_new_settings_is_not_said_to_submit_nothing() -> None:
    """--force-resume with a new target: the journal says resumed, then search_extended."""
    out = io.StringIO()
    view, state = PlainView(out), SearchState.replay(typed(FINISHED))
    for event in (Resumed(t=6.0), SearchExtended(
            t=6.1, settings=state.settings(), changed={"search.target": [0.8, 0.9]},
            reopened=True)):
        state.apply(event)
        view.event(event, state)
    view.refresh(state)
    view.close()
    text = out.getvalue()
    assert "nothing submitted" not in text and "already finished" not in text, text
    assert "the ended search continues with new settings: search.target 0.8 -> 0.9" in text


@pytest.mark.parametrize("text", ["[rank0]: CUDA error: an illegal memory access",
                                  "no such file: [/scratch/x]", "[bold]not bold[/bold]",
                                  "[red] C:\\runs\\"])
def test_error_text_is_shown_as_written_not_read_as_markup(text: str) -> None:
    """Job error text (a rank's prefix, a path in brackets) is not rich markup: `[rank0]`
    would vanish, `[/scratch/x]` raise MarkupError and freeze the live view."""
    failed: list[dict[str, Any]] = [*EVENTS,
              {"event": "job_failed", "t": 5.0, "key": "train-t001-a0", "cause": "other",
               "reason": text, "job_id": "77", "state": "FAILED", "detail": text},
              {"event": "trial_ended", "t": 6.0, "trial": 1, "how": "train_failed", "step": None,
               "reason": text}]
    printed, state = _rich_view_of(failed, width=400)
    console = Console(file=io.StringIO(), width=400, color_system=None)
    console.print(dashboard.render(state, {}, [describe(typed(failed)[-2], state) or ""]))
    screen = console.file.getvalue()  # type: ignore[attr-defined]
    assert f"FAILED: other: {text}" in screen
    assert text in printed
