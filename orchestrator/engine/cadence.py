"""How often the controller asks the scheduler about its jobs.

One batched query per poll; between polls the interval grows by half while nothing changes,
from `executor.poll_interval_s` up to `executor.max_poll_interval_s`, so a long quiet
training costs the scheduler little. A change seen, a submission or a cancel brings the
next poll close again: that is when news is likely.
"""

from __future__ import annotations

from collections.abc import Callable


class Cadence:
    def __init__(self, shortest_s: float, longest_s: float, clock: Callable[[], float]) -> None:
        self.shortest_s = shortest_s
        self.longest_s = longest_s
        self.clock = clock
        self.interval_s = shortest_s
        self.next_poll = 0.0  # controller clock; 0: poll at once

    def due(self, now: float) -> bool:
        return now >= self.next_poll

    def polled(self, at: float, changed: bool) -> None:
        """A poll started `at` saw a change (back to the shortest interval) or none."""
        self.interval_s = self.shortest_s if changed else min(self.interval_s * 1.5,
                                                              self.longest_s)
        self.next_poll = at + self.interval_s

    def submitted(self) -> None:
        """A new job: see it start soon."""
        self.interval_s = self.shortest_s
        self.next_poll = min(self.next_poll, self.clock() + self.interval_s)

    def cancelled(self) -> None:
        """Jobs were cancelled: see them end at the next tick."""
        self.next_poll = self.clock()
