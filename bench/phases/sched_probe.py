"""One hour of a controller's life on a virtual clock, with every scheduler call real.

Theory of operation. `orchestrator.engine.controller.Controller` takes its clock and its sleep as
arguments. Here both are virtual: each `sleep(fs_interval_s)` of the loop advances the clock
instantly, so an hour of ticks (3,600 at the slurm executor's 1 s) runs in seconds to a
minute, while every `poll` is the real `SlurmScheduler` calling the real sacct
(through the bench's counting wrapper on PATH) about the real tracked jobs. The back-off
schedule, which decides how many queries an hour costs, is the controller's own code,
unchanged. Real time spent inside a tick does not advance the virtual clock, so the count is
an upper bound for a real hour (a real loop drifts later, never earlier); the bench checks it
against a real-time run (bench.phases.measure.rss_and_realtime).

    python -m bench.phases.sched_probe --hours 1 --result R.json -- executor=slurm search.dir=...
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.phases.measure import proc_status
from orchestrator.common.causes import JobFailure
from orchestrator.config import compose as config
from orchestrator.engine.controller import Controller
from orchestrator.journal.jsonl import Journal
from orchestrator.journal.lock import SearchLock
from orchestrator.model.events import Event
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import JobState
from orchestrator.scheduler import JobRef, JobRequest
from orchestrator.scheduler.slurm import SlurmScheduler


class HorizonReached(Exception):
    """The virtual clock reached its end: the probe is over."""


class VirtualClock:
    def __init__(self, horizon_s: float) -> None:
        self.t = 0.0
        self.horizon_s = horizon_s
        self.ticks = 0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.ticks += 1
        if self.t >= self.horizon_s:
            raise HorizonReached


class QuietView:
    def event(self, record: Event, state: SearchState) -> None:
        pass

    def refresh(self, state: SearchState) -> None:
        pass


class PollTimes:
    """The real scheduler, with the virtual time of every poll written down."""

    def __init__(self, inner: SlurmScheduler, clock: VirtualClock) -> None:
        self.inner, self.clock = inner, clock
        self.submit_settle_s = inner.submit_settle_s
        self.times: list[float] = []
        self.sizes: list[int] = []

    def poll(self, jobs: Sequence[JobRef]) -> Mapping[str, JobState]:
        self.times.append(self.clock.now())
        self.sizes.append(len(jobs))
        return self.inner.poll(jobs)

    def submit(self, request: JobRequest) -> str:
        return self.inner.submit(request)

    def recover(self, request: JobRequest) -> str | None:
        return self.inner.recover(request)

    def cancel(self, jobs: Sequence[JobRef]) -> None:
        self.inner.cancel(jobs)

    def failure(self, job: JobRef) -> JobFailure:
        return self.inner.failure(job)

    def log_paths(self, job: JobRef) -> list[Path]:
        return self.inner.log_paths(job)

    def render(self, request: JobRequest) -> str:
        return self.inner.render(request)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.phases.sched_probe")
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--result", type=Path, required=True)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args(argv)
    settings = config.to_settings(config.compose(list(args.overrides)))
    search_dir = Path(settings.search.dir)
    clock = VirtualClock(args.hours * 3600.0)
    scheduler = PollTimes(SlurmScheduler(interactive=False), clock)
    wall0, cpu0 = time.monotonic(), time.process_time()
    with SearchLock(search_dir):
        journal = Journal(search_dir / "journal.jsonl")
        try:
            controller = Controller(settings, journal, scheduler, QuietView(),
                                    clock=clock.now, sleep=clock.sleep)
            try:
                controller.run()
            except HorizonReached:
                pass
            live = len(controller.state.live_jobs())
        finally:
            journal.close()
    result = {
        "virtual_s": clock.t,
        "ticks": clock.ticks,
        "polls": len(scheduler.times),
        "poll_times_s": [round(t, 3) for t in scheduler.times],
        "jobs_per_poll": scheduler.sizes,
        "sacct_calls_by_scheduler": scheduler.inner.sacct_calls,
        "live_jobs_at_end": live,
        "wall_s": time.monotonic() - wall0,
        "cpu_s": time.process_time() - cpu0,
        # its own peak: ru_maxrss would carry the bench's (the parent's) across fork and exec
        "max_rss_mb": proc_status(os.getpid()).get("VmHWM"),
        "pid": os.getpid(),
    }
    args.result.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
