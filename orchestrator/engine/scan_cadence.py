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

Trials started together back off together, so at the cap they would all be read in the
same tick, every `longest` seconds: a burst of 1,000 folder reads, and of the checkpoints
and submissions they find (issue 25: the tick's p99). So the wait that first reaches the cap
is shortened by the trial's own phase, one of PHASES fractions of `longest`, spread evenly
over the trial numbers (`phase`); later waits at the cap keep the trials that far apart.
Not one phase per trial: each tick that reads any trial costs its own journal writes and
submissions, so fewer, smaller bursts cost less CPU than a few reads every tick. No wait is ever
longer than before, and a quiet trial costs at most one read more per back-off.
"""

from __future__ import annotations

import math

from orchestrator.model.state import TrialRecord

GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0  # n * GOLDEN mod 1 spreads any run of n evenly over [0, 1)


def backoff(interval_s: float, news: bool, shortest_s: float, longest_s: float) -> float:
    """The wait before a trial's next read: `shortest_s` after news of it, else the last
    wait doubled, within [shortest_s, max(shortest_s, longest_s)]."""
    longest_s = max(shortest_s, longest_s)
    if news:
        return shortest_s
    return min(longest_s, max(shortest_s, interval_s * 2.0))


PHASES = 8  # groups read apart: a burst an eighth the size; few ticks with reads (CPU)


def phase(trial: int) -> float:
    """A trial's place among the cap's `longest` seconds: one of PHASES evenly spaced
    fractions of it, the trial numbers spread evenly over them (trial 1: 0)."""
    return math.floor(((trial - 1) * GOLDEN) % 1.0 * PHASES) / PHASES


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
        before = self._interval.get(trial, self.shortest_s)
        interval = backoff(before, news, self.shortest_s, self.longest_s)
        wait = interval
        if before < interval == max(self.shortest_s, self.longest_s):  # just reached the cap
            wait = max(self.shortest_s, interval * (1.0 - phase(trial)))
        self._interval[trial], self._next[trial] = interval, now + wait


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
