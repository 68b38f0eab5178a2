from __future__ import annotations

import io

from rich.console import Console

from orchestrator.state import SearchState
from orchestrator.view import PlainView, RichView

EVENTS = [
    {"event": "search_started", "t": 0.0, "settings": {
        "search": {"dir": "runs/x", "metric": "accuracy", "target": 0.8, "mode": "max"},
        "executor": {"name": "local"}}},
    {"event": "trial_started", "t": 1.0, "trial": 1, "seed": 42, "output_dir": "/o"},
    {"event": "submit_intent", "t": 2.0, "key": "train-t001-a0", "kind": "train", "trial": 1,
     "step": None, "attempt": 0, "folder": "/f"},
    {"event": "submitted", "t": 2.0, "key": "train-t001-a0", "job_id": "77"},
    {"event": "checkpoint", "t": 3.0, "trial": 1, "step": 100, "path": "/o/checkpoint-100"},
    {"event": "evaluation", "t": 4.0, "trial": 1, "step": 100, "value": 0.7312, "job_id": "78"},
]


def test_plain_view_prints_one_line_per_event() -> None:
    out = io.StringIO()
    view, state = PlainView(out), SearchState()
    for event in EVENTS:
        state.apply(event)
        view.event(event, state)
    lines = out.getvalue().splitlines()
    assert len(lines) == 5  # submit_intent is bookkeeping
    assert lines[-1].endswith("trial 1 step 100: 0.7312 (job 78)")


def test_rich_view_shows_jobs_metrics_and_the_best_so_far() -> None:
    out = io.StringIO()
    view = RichView(Console(file=out, force_terminal=True, width=100, highlight=False,
                            color_system=None))
    state = SearchState()
    for event in EVENTS:
        state.apply(event)
        view.event(event, state)
    view.close()
    text = out.getvalue()
    assert "best so far: 0.7312" in text
    assert "train-t001-a0" in text and "77" in text
