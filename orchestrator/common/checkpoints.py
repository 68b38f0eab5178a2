"""Which checkpoints exist and which are complete.

Theory of operation: the Hugging Face Trainer creates `checkpoint-<step>/` first and fills it
over about a second; `trainer_state.json` is written last but not atomically, so it can be
seen empty. There is no completion marker of its own. Our training job therefore writes
`layout.COMPLETE_MARKER` atomically from a callback's `on_save`, after everything else; once a
plan names its run, only that marker says one of its checkpoints is complete. Checkpoints
written by the users' own scripts have no marker; for them a checkpoint counts as complete
when `trainer_state.json` parses and its `global_step` equals the folder's step. Anything
else is still being written and is left alone until a later poll.

A checkpoint's identity is more than its path: a training job that cannot resume (its
checkpoints were saved with save_only_model) starts over and writes `checkpoint-<step>` again
at paths the controller already evaluated. Our training job therefore names each run of it
(`new_run`) in plan.json and in every marker it writes; the controller takes a checkpoint
whose marker names another run than the one it journaled for that path as a new checkpoint.
A users' script's checkpoints have no marker, hence no run (""): they cannot be told apart.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path

from orchestrator.common.fsutil import atomic_write_json
from orchestrator.common.layout import COMPLETE_MARKER, step_in, step_of


@dataclass(frozen=True, order=True)
class Checkpoint:
    step: int
    path: Path
    run: str = ""  # the training run that wrote it (its marker's); "" when not said


def new_run() -> str:
    """A name for one run of a training job, unique to it (module docstring)."""
    return uuid.uuid4().hex[:12]


def write_marker(checkpoint_dir: str | Path, step: int, run: str = "") -> None:
    """Mark a checkpoint complete. Call after every file of the checkpoint is written."""
    marker: dict[str, int | str] = {"global_step": step}
    if run:
        marker["run"] = run
    atomic_write_json(Path(checkpoint_dir) / COMPLETE_MARKER, marker)


def run_of(path: Path) -> str | None:
    """The run its marker names: "" when it names none (an older marker), None without a
    readable marker (gone, being written, a users' script's checkpoint)."""
    try:
        marker = json.loads((path / COMPLETE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    run = marker.get("run", "") if isinstance(marker, dict) else ""
    return run if isinstance(run, str) else ""


def is_complete(path: Path, marked: bool = False) -> bool:
    """Complete by its marker; or, unless `marked` (our training job's checkpoints, which
    always get one), by its trainer_state.json. The Trainer writes that before our marker:
    taken then, our checkpoint was journaled with no run, and the marker's run, read a poll
    later, looked like a later run's rewrite, evaluated twice."""
    step = step_of(path)
    if step is None:
        return False
    if (path / COMPLETE_MARKER).is_file():
        return True
    if marked:
        return False
    try:
        state = json.loads((path / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(state, dict) and state.get("global_step") == step


def complete_checkpoints(output_dir: str | Path, known: Container[int] = (),
                         marked: bool = False) -> list[Checkpoint]:
    """Complete checkpoints under `output_dir`, in step order, leaving out the `known` steps
    (not opened again: a poll loop calls this often). A missing folder has none. `marked`:
    only a marker says complete (is_complete)."""
    found: list[Checkpoint] = []
    root = Path(output_dir)
    try:
        names = os.listdir(root)
    except OSError:
        return found
    for name in names:
        step = step_in(name)
        if step is None or step in known:
            continue  # a Path is made only for a new checkpoint: this runs every tick
        entry = root / name
        if entry.is_dir() and is_complete(entry, marked):
            found.append(Checkpoint(step, entry, run_of(entry) or ""))
    return sorted(found)


def last_complete(output_dir: str | Path) -> Checkpoint | None:
    found = complete_checkpoints(output_dir)
    return found[-1] if found else None
