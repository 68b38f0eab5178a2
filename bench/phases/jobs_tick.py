"""The controller's per-tick CPU with N live jobs, without SLURM (issue 25's 10k-jobs case).

Theory of operation. The scale phase's real-SLURM part holds 10,000 jobs for most of an
hour; its per-tick cost is the controller's own, so it can be reproduced in a minute: the
same journal (bench.phases.footprint.write_trials_journal: one trial, its training and
N - 1 inference jobs), a scheduler that answers every poll at once with PENDING, and the
controller's clock advanced 1 s a tick. Prints CPU per tick and per hour, and with
--profile the top of a cProfile of the measured ticks.

    PYTHONPATH=. .venv/bin/python -m bench.phases.jobs_tick --jobs 10000 --ticks 120
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench.cluster.tracked import tracking_overrides
from bench.phases.footprint import write_trials_journal
from bench.phases.scale_sim import InstantScheduler, NullView
from orchestrator.config import compose as config
from orchestrator.engine.controller import Controller
from orchestrator.journal.jsonl import Journal
from orchestrator.model.transitions import JobState
from orchestrator.scheduler import JobRef


class Pending(InstantScheduler):
    def poll(self, jobs: Sequence[JobRef]) -> Mapping[str, JobState]:
        self.polls += 1
        return {ref.job_id: JobState.PENDING for ref in jobs}


def measure(search_dir: Path, jobs: int, ticks: int,
            profile: cProfile.Profile | None = None) -> dict[str, float]:
    overrides = tracking_overrides(search_dir)
    write_trials_journal(overrides, [str(100000 + i) for i in range(jobs)], trials=1)
    settings = config.to_settings(config.compose(overrides))
    now = [0.0]
    scheduler = Pending()
    journal = Journal(search_dir / "journal.jsonl")
    try:
        controller = Controller(settings, journal, scheduler, NullView(),
                                clock=lambda: now[0], sleep=lambda _: None)
        controller.start()
        for _ in range(5):  # past the start's first reads
            controller.tick()
            now[0] += 1.0
        polls, cpu0 = scheduler.polls, time.process_time()
        if profile is not None:
            profile.enable()
        for _ in range(ticks):
            controller.tick()
            now[0] += 1.0
        if profile is not None:
            profile.disable()
        cpu = time.process_time() - cpu0
    finally:
        journal.close()
    return {"cpu_ms_per_tick": cpu / ticks * 1000.0, "cpu_s_per_hour": cpu / ticks * 3600.0,
            "polls": float(scheduler.polls - polls)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.phases.jobs_tick")
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--ticks", type=int, default=120)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
    profile = cProfile.Profile() if args.profile else None
    folder = Path(tempfile.mkdtemp(prefix="jobs-tick-"))
    try:
        print(measure(folder / "search", args.jobs, args.ticks, profile))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if profile is not None:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
