"""How often the controller asks the scheduler about its jobs.

One batched query per poll; between polls the interval grows by half while nothing changes,
from `executor.poll_interval_s` up to `executor.max_poll_interval_s`, so a long quiet
training costs the scheduler little. A change seen, a submission or a cancel brings the
next poll close again: that is when news is likely.

A budget bounds the polls whatever happens (issue 25): at 1,000 trials something changes
at nearly every poll, which would otherwise keep the controller at its shortest interval
(720 sacct calls an hour at 5 s). Polls spend tokens from a bucket of BURST that refills
one token per `max_poll_interval_s`, so in any hour the controller polls at most
`ceiling_per_hour` times (60 with the SLURM defaults, 75 s: 12 + 48), for any number of
jobs: a busy search's polls settle to one per `max_poll_interval_s` on average, after a
burst of fast ones. Results and checkpoints are read from files on each trial's own back-off
(engine/scan_cadence.py), not on the poll's.
"""

from __future__ import annotations

from collections.abc import Callable

from orchestrator.config.settings import ExecutorSettings

BURST = 12  # fast polls a search may spend at once (a start, a burst of submissions)
REPORT_EVERY_POLLS = 2.0  # report.md, metric.png: at most every 2 longest poll intervals,
REPORT_MAX_FLOOR_S = 30.0  # ... but that floor no longer than 30 s (a SLURM user's
                           # TensorBoard test/ scalars and report.md lag a result by <= 30 s)
REPORT_S_PER_TRIAL = 0.5  # ... and at most every 0.5 s per trial (500 s at 1,000 trials)


def report_every_s(executor: ExecutorSettings, trials: int) -> float:
    """How often at most the controller refreshes the report files while the search runs
    (after evaluations landed): REPORT_EVERY_POLLS x `max_poll_interval_s`, at most
    REPORT_MAX_FLOOR_S (30 s on SLURM, 10 s locally), longer for a large search. The report
    and TensorBoard's test/ scalars are read by people, who notice a result minutes late;
    `status` and `watch` read the journal and stay current; the end and `orchestrator report`
    always write it afresh.
    A refresh costs ~1.5 s at 10 trials and seconds at 1,000 (reporting.files also spaces it
    by its cost), so fewer than 1 % of the 1 s ticks pay for it: a tick's p99 is its
    decision work. It reads ~7 files per trial (log history, folder sizes), so REPORT_S_PER_TRIAL
    keeps that near 50 metadata calls per trial-hour on a large search (issue 25)."""
    floor = min(REPORT_EVERY_POLLS * executor.max_poll_interval_s, REPORT_MAX_FLOOR_S)
    return max(floor, REPORT_S_PER_TRIAL * trials)


def ceiling_per_hour(longest_s: float, burst: int = BURST) -> float:
    """The most polls (batched scheduler queries) in any hour: the full bucket, then its
    refill of one per `longest_s`."""
    return burst + 3600.0 / longest_s


class Cadence:
    def __init__(self, shortest_s: float, longest_s: float, clock: Callable[[], float],
                 burst: int = BURST) -> None:
        self.shortest_s = shortest_s
        self.longest_s = longest_s
        self.clock = clock
        self.interval_s = shortest_s
        self.next_poll = 0.0  # controller clock; 0: poll at once
        self.burst = burst
        self.tokens = float(burst)
        self._refilled_at: float | None = None

    def tokens_at(self, now: float) -> float:
        """The bucket at `now`: refilled by one per `longest_s` since the last poll."""
        if self._refilled_at is None:
            return self.tokens
        return min(float(self.burst), self.tokens + (now - self._refilled_at) / self.longest_s)

    def due(self, now: float) -> bool:
        return now >= self.next_poll and self.tokens_at(now) >= 1.0

    def polled(self, at: float, changed: bool) -> None:
        """A poll started `at` saw a change (back to the shortest interval) or none."""
        self.tokens, self._refilled_at = self.tokens_at(at) - 1.0, at
        self.interval_s = self.shortest_s if changed else min(self.interval_s * 1.5,
                                                              self.longest_s)
        # an empty bucket: no poll before the next token
        refill_s = max(0.0, 1.0 - self.tokens) * self.longest_s
        self.next_poll = at + max(self.interval_s, refill_s)

    def submitted(self) -> None:
        """A new job: see it start soon."""
        self.interval_s = self.shortest_s
        self.next_poll = min(self.next_poll, self.clock() + self.interval_s)

    def cancelled(self) -> None:
        """Jobs were cancelled: see them end at the next tick."""
        self.next_poll = self.clock()
