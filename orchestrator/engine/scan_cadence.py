"""How often each trial's folder is read: a back-off per trial (issue 25).

On Lustre or GPFS every listdir and stat of a trial folder is a metadata-server call, and a
1,000-trial search that read every folder every 1 s tick made ~2,000 of them a second. So
each active trial has its own interval: the shortest (`executor.fs_interval_s`) after
anything new about it (a checkpoint, a result, a plan, a job of its submitted or changing
state at a poll), doubled after each read that found nothing, and never longer than the
longest (`executor.max_poll_interval_s`, the delay the controller already accepts before it
sees a job start or fail), so a new checkpoint or result is seen within that. A training
writes a checkpoint every few minutes: between them a quiet trial costs a read every
`longest` seconds, and the read that finds one resets it.
"""

from __future__ import annotations

import math

from orchestrator.model.state import TrialRecord


def backoff(interval_s: float, news: bool, shortest_s: float, longest_s: float) -> float:
    """The wait before a trial's next read: `shortest_s` after news of it, else the last
    wait doubled, within [shortest_s, max(shortest_s, longest_s)]."""
    longest_s = max(shortest_s, longest_s)
    if news:
        return shortest_s
    return min(longest_s, max(shortest_s, interval_s * 2.0))


class TrialScans:
    """When each trial's folder is next read (controller clock)."""

    def __init__(self, shortest_s: float, longest_s: float) -> None:
        self.shortest_s, self.longest_s = shortest_s, longest_s
        self._interval: dict[int, float] = {}
        self._next: dict[int, float] = {}  # trial -> when it is due; absent: at once
        self._news: set[int] = set()  # trials with news since their last read

    def due(self, trial: int, now: float) -> bool:
        return trial in self._news or now >= self._next.get(trial, -math.inf)

    def heard(self, trial: int) -> None:
        """News of `trial`: read it at the next tick, then back off from the shortest."""
        self._news.add(trial)

    def read(self, trial: int, now: float) -> None:
        """`trial`'s folder was read at `now`; news heard during the read counts too."""
        news = trial in self._news or trial not in self._interval
        self._news.discard(trial)
        interval = backoff(self._interval.get(trial, self.shortest_s), news, self.shortest_s,
                           self.longest_s)
        self._interval[trial], self._next[trial] = interval, now + interval


class Unjudged:
    """The trials with news since the stop rule last judged them (issue 25): a trial's
    verdict reads only its own checkpoints, results and training, each journaled as an event
    of that trial, so a trial without news would be judged the same again. Every trial is
    unjudged at first (a start, a resume, an extension's new rule)."""

    def __init__(self) -> None:
        self._judged: set[int] = set()

    def heard(self, trial: int) -> None:
        self._judged.discard(trial)

    def take(self, trials: list[TrialRecord]) -> list[TrialRecord]:
        """Those of `trials` to judge now; they count as judged from here on."""
        due = [t for t in trials if t.trial not in self._judged]
        self._judged.update(t.trial for t in due)
        return due
