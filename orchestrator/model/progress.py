"""A training job's progress file (`layout.progress_path`) read back: parsing and the words.

Theory of operation: the training job rewrites progress.json atomically at each logging step
({step, max_steps, epoch, steps_per_s, examples_per_s, loss, learning_rate, t}); the
controller only reads it, for people (plain lines, the live view, `orchestrator status`),
and never decides anything on it. So anything odd - no file yet, a torn or foreign file, a
field missing or of the wrong type - is "no progress known", never an error. Pure: the
callers read the text (`live.ProgressReader`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

# at most one plain progress line per trial this often (a line per logging step would
# drown the events)
PLAIN_EVERY_S = 15.0


@dataclass(frozen=True)
class Progress:
    step: int
    max_steps: int | None = None
    epoch: float | None = None
    steps_per_s: float | None = None
    examples_per_s: float | None = None
    loss: float | None = None
    learning_rate: float | None = None
    t: float | None = None  # wall time the job wrote it

    @property
    def fraction(self) -> float | None:
        if not self.max_steps:
            return None
        return min(1.0, max(0.0, self.step / self.max_steps))

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current speed, or None when it cannot be told."""
        if not self.max_steps or not self.steps_per_s:
            return None
        return max(0.0, (self.max_steps - self.step) / self.steps_per_s)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def parse(text: str) -> Progress | None:
    """The progress in a progress file's text; None for anything that is not one."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    step = _number(data.get("step"))
    if step is None or step < 0:
        return None
    max_steps = _number(data.get("max_steps"))
    return Progress(
        step=int(step),
        max_steps=int(max_steps) if max_steps is not None and max_steps > 0 else None,
        epoch=_number(data.get("epoch")), steps_per_s=_number(data.get("steps_per_s")),
        examples_per_s=_number(data.get("examples_per_s")), loss=_number(data.get("loss")),
        learning_rate=_number(data.get("learning_rate")), t=_number(data.get("t")))


def duration(seconds: float) -> str:
    """`16 s`, `4 min 05 s`, `2 h 03 min`."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def step_text(progress: Progress | None, max_steps: int | None = None) -> str:
    """`340/791 (43 %)`, `340`, or `-`; `max_steps` (the journaled plan) when the file has none."""
    if progress is None:
        return "-"
    total = progress.max_steps or max_steps
    if not total:
        return str(progress.step)
    return f"{progress.step}/{total} ({100 * min(1.0, progress.step / total):.0f} %)"


def describe(progress: Progress, max_steps: int | None = None) -> str:
    """`step 340/791 (43 %), 28 it/s, ETA 16 s, loss 0.41`: what is known of it."""
    parts = [f"step {step_text(progress, max_steps)}"]
    if progress.steps_per_s:
        speed = progress.steps_per_s
        parts.append(f"{speed:.0f} it/s" if speed >= 10 else f"{speed:.2g} it/s")
    total = progress.max_steps or max_steps
    if total and progress.steps_per_s:
        parts.append(f"ETA {duration(max(0.0, (total - progress.step) / progress.steps_per_s))}")
    if progress.loss is not None:
        parts.append(f"loss {progress.loss:.3g}")
    return ", ".join(parts)


def worth_a_line(new: Progress, last: Progress | None, last_line_t: float | None,
                 now: float, every_s: float = PLAIN_EVERY_S) -> bool:
    """Print a plain progress line? Only when the step moved, and at most every `every_s`
    per trial; the first one seen at once."""
    if last is not None and new.step == last.step:
        return False
    return last_line_t is None or now - last_line_t >= every_s
