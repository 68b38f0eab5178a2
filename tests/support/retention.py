"""Checks that a search's retention (search.keep) kept what it must and journaled it right."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.common import layout
from orchestrator.common.checkpoints import is_complete
from orchestrator.engine.deletion import size_of
from orchestrator.model.transitions import JobState
from tests.support.journal import Event, events, summary


def check_deletions_came_after_evaluation(evs: list[Event]) -> None:
    """No checkpoint was deleted before its evaluation was journaled and its inference
    jobs were seen ending: an evaluation in flight is never deleted under."""
    evaluated: set[tuple[int, int]] = set()
    open_jobs: dict[str, tuple[int, int]] = {}
    for e in evs:
        key = (e.get("trial"), e.get("step"))
        if e["event"] == "evaluation":
            evaluated.add(key)  # type: ignore[arg-type]
        elif e["event"] == "submit_intent" and e["kind"] == "infer":
            open_jobs[e["key"]] = key  # type: ignore[assignment]
        elif e["event"] == "submitted" and e["job_id"] is None:
            open_jobs.pop(e["key"], None)
        elif e["event"] == "job_state" and JobState(e["state"]).terminal:
            open_jobs.pop(e["key"], None)
        elif e["event"] == "delete_intent":
            if e["what"] == "all" and key not in evaluated:
                trial_ended = any(x["event"] == "trial_ended" and x["trial"] == key[0]
                                  and x["t"] <= e["t"] for x in evs)
                assert trial_ended, f"checkpoint {key} deleted before its evaluation"
            assert key not in open_jobs.values(), f"{key} deleted under a live inference job"


def check_kept(directory: Path) -> dict[str, Any]:
    """An ended search with keep=1: each trial keeps exactly its best evaluated checkpoint
    (without its optimizer state), best/ is there, the journal's deletions are complete, and
    summary.json's disk figures match what is on disk."""
    evs = events(directory)
    intents = [(e["trial"], e["step"], e["what"]) for e in evs if e["event"] == "delete_intent"]
    done = [(e["trial"], e["step"], e["what"]) for e in evs if e["event"] == "deleted"]
    assert sorted(intents) == sorted(done) and len(set(done)) == len(done)
    check_deletions_came_after_evaluation(evs)
    data = summary(directory)
    left = 0
    for t in data["trials"]:
        values = {e["step"]: e["value"] for e in data["evaluations"]
                  if e["trial"] == t["trial"] and e["value"] is not None}
        best = min(values, key=lambda s: (-values[s], s)) if values else None
        trial_dir = layout.trial_dir(directory, t["trial"])
        on_disk = sorted(layout.step_of(p) or 0 for p in trial_dir.glob("checkpoint-*"))
        assert on_disk == ([] if best is None else [best]), (t["trial"], on_disk, values)
        for step in on_disk:
            path = layout.checkpoint_dir(trial_dir, step)
            assert is_complete(path) and not (path / "optimizer.pt").exists()
            left += size_of(path)
    assert (layout.best_dir(directory) / layout.BEST_INFO).is_file()
    disk = data["disk"]
    assert disk["final_bytes"] == left, (disk, left)
    assert disk["peak_bytes"] > disk["final_bytes"] and disk["freed_bytes"] > 0
    assert "disk (checkpoints): peak" in (directory / "report.md").read_text()
    return data
