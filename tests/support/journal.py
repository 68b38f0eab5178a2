"""Read what a search left in its folder: the journal's events and summary.json."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.model.events import Event as Recorded
from orchestrator.model.events import decode

Event = dict[str, Any]


def events(search_dir: Path) -> list[Event]:
    """The journal's events so far; a torn last line (the controller is writing) is skipped."""
    path = search_dir / "journal.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass  # a torn tail while the controller writes
    return out


def strict_events(search_dir: Path) -> list[Event]:
    """Every line of the journal, parsed: a line that does not parse raises."""
    path = search_dir / "journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_for(search_dir: Path, predicate: Callable[[list[Event]], Any],
             timeout: float = 300) -> list[Event]:
    """Poll the journal until `predicate(events)` holds; its events then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        evs = events(search_dir)
        if predicate(evs):
            return evs
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting in {search_dir}: {events(search_dir)[-5:]}")


def wait_until(predicate: Callable[[], Any], timeout: float, every_s: float = 0.2) -> None:
    """Poll `predicate` until it holds; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        time.sleep(every_s)


def summary(search_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((search_dir / "summary.json").read_text())
    return data


def by_step(search_dir: Path) -> dict[int, dict[str, Any]]:
    """summary.json's evaluations by checkpoint step."""
    return {e["step"]: e for e in summary(search_dir)["evaluations"]}


def submissions(evs: list[Event]) -> Counter[tuple[str, int, int | None]]:
    """How many jobs were submitted per piece of work (kind, trial, step)."""
    return Counter((e["kind"], e["trial"], e.get("step")) for e in evs
                   if e["event"] == "submit_intent")


def evaluations(evs: list[Event]) -> Counter[tuple[int, int]]:
    return Counter((e["trial"], e["step"]) for e in evs if e["event"] == "evaluation")


def typed(evs: list[Event]) -> list[Recorded]:
    """Event dicts (a journal written by hand) decoded as the controller's fold reads them."""
    return [decode(e, f"recorded journal:{n}") for n, e in enumerate(evs, start=1)]


def decision(directory: Path) -> tuple[str, list[tuple[int, str, int | None]]]:
    """What a finished search decided: summary.json's status and each trial's ending."""
    ended = [(e["trial"], e["how"], e.get("step")) for e in events(directory)
             if e["event"] == "trial_ended"]
    return summary(directory)["status"], ended
