"""N concurrent trials through the controller's real decision path (issue 25, item 2).

Theory of operation. The real `Controller` runs in this process on a search of N trials,
all training at once, with `InstantScheduler` (answers at once, from memory) and
`SimWorld`, which plays the jobs on the file system from the controller's sleep hook: every
training job writes a complete checkpoint every `checkpoint_every_s` of simulated time
(trials staggered evenly, so checkpoints arrive as a steady stream), and every inference job
writes its result file at the next tick and succeeds. Results stay below the target, so no
trial ends: the steady state of a large sweep. Time is simulated: the controller's clock
advances by `executor.fs_interval_s` per tick (its real sleep), so its own poll cadence
and scans run as they would; each tick's wall and CPU time are measured for real, and the
CPU per hour is the CPU of the measured ticks scaled by the simulated time they stand for
(the ticks' alone: the simulated jobs' writes, about a third of it before 2026-12-07, are
the jobs' work, not the controller's).
File-system metadata calls under search.dir are counted for the measured ticks only
(bench.phases.fs_ops). The sampler's cost is measured apart (`sampler_cost`).
"""

from __future__ import annotations

import contextlib
import json
import random
import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.phases.fs_ops import MetadataCounter
from orchestrator.common import layout
from orchestrator.common.causes import JobFailure
from orchestrator.common.checkpoints import write_marker
from orchestrator.config import compose as config
from orchestrator.config.settings import SamplerName, Settings
from orchestrator.decide.optuna_sampler import sampler_for
from orchestrator.decide.stop_rule import Rule
from orchestrator.engine import controller as controller_module
from orchestrator.engine.controller import Controller
from orchestrator.journal.jsonl import Journal
from orchestrator.model.events import Event
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import JobState
from orchestrator.reporting import files
from orchestrator.scheduler import JobRef, JobRequest

# a 10 x 10 x 10 grid: 1,000 distinct trials for every sampler
SPACE: dict[str, Any] = {
    "learning_rate": [1e-5 * (i + 1) for i in range(10)],
    "weight_decay": [0.01 * i for i in range(10)],
    "warmup_steps": [100 * i for i in range(10)],
}


class InstantScheduler:
    """Answers every call at once from memory; jobs run until the world ends them."""

    submit_settle_s = 0.0

    def __init__(self) -> None:
        self.requests: dict[str, JobRequest] = {}
        self.states: dict[str, JobState] = {}
        self.polls = 0

    def submit(self, request: JobRequest) -> str:
        job_id = str(1000 + len(self.requests))
        self.requests[job_id] = request
        self.states[job_id] = JobState.RUNNING
        return job_id

    def recover(self, request: JobRequest) -> str | None:
        return None

    def poll(self, jobs: Sequence[JobRef]) -> Mapping[str, JobState]:
        self.polls += 1
        return {ref.job_id: self.states[ref.job_id] for ref in jobs}

    def cancel(self, jobs: Sequence[JobRef]) -> None:
        for ref in jobs:
            if not self.states[ref.job_id].terminal:
                self.states[ref.job_id] = JobState.CANCELLED

    def failure(self, job: JobRef) -> JobFailure:
        return JobFailure(None, "")

    def log_paths(self, job: JobRef) -> list[Path]:
        return []

    def render(self, request: JobRequest) -> str:
        return ""


class NullView:
    def event(self, record: Event, state: SearchState) -> None:
        pass

    def refresh(self, state: SearchState) -> None:
        pass


class SimWorld:
    """Plays the jobs from the controller's sleep hook; owns the simulated clock."""

    def __init__(self, sched: InstantScheduler, settings: Settings,
                 checkpoint_every_s: float) -> None:
        self.sched, self.settings = sched, settings
        self.every_s = checkpoint_every_s
        self.now = 0.0
        self.written: dict[str, int] = {}  # train job id -> checkpoints it wrote
        self.started: dict[str, float] = {}  # train job id -> simulated start time
        self.rng = random.Random(0)

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        for job_id, request in list(self.sched.requests.items()):
            if self.sched.states[job_id] is not JobState.RUNNING:
                continue
            if request.kind == "train":
                self._train(job_id, request)
            else:
                self._infer(job_id, request)

    def _train(self, job_id: str, request: JobRequest) -> None:
        trial = request.spec.trial
        # staggered: trial n of N writes its first checkpoint n/N of an interval in
        count = self.settings.search.max_trials
        start = self.started.setdefault(
            job_id, self.now - self.every_s * (trial % count) / count)
        due = int((self.now - start) // self.every_s)
        while self.written.get(job_id, 0) < due:
            step = (self.written.get(job_id, 0) + 1) * self.settings.train.save_steps
            path = layout.checkpoint_dir(Path(request.spec.output_dir), step)
            path.mkdir(parents=True, exist_ok=True)
            write_marker(path, step)
            self.written[job_id] = self.written.get(job_id, 0) + 1

    def _infer(self, job_id: str, request: JobRequest) -> None:
        result = Path(request.spec.result_path)
        result.parent.mkdir(parents=True, exist_ok=True)
        value = 0.5 + 0.3 * self.rng.random()  # below the target: no trial ends
        result.write_text(json.dumps({"accuracy": value}), encoding="utf-8")
        self.sched.states[job_id] = JobState.SUCCEEDED


def sim_settings(search_dir: Path, trials: int, sampler: str = "random") -> Settings:
    """The slurm executor's cadence (poll 5 s backing off to 75 s, a 1 s file-system scan),
    `trials` trials training at once, evaluations never waiting for a slot."""
    composed = config.to_settings(config.compose([
        "executor=slurm", "data=synthetic", "model=tiny", "search.target=0.99",
        f"search.dir={search_dir}", f"search.max_trials={trials}",
        f"search.max_concurrent_trials={trials}", f"search.max_concurrent_evals={trials}",
        "search.keep=all"]))
    search = replace(composed.search, space=SPACE, sampler=SamplerName(sampler))
    return replace(composed, search=search)


@dataclass(frozen=True)
class SimResult:
    trials: int
    measured_ticks: int
    simulated_s: float
    tick_ms_p50: float
    tick_ms_p99: float
    tick_ms_max: float
    cpu_s_per_hour: float
    fs_ops_per_hour: float
    fs_ops_per_trial_hour: float
    fs_ops_by_kind_per_trial_hour: dict[str, float]
    polls_per_hour: float
    checkpoints: int
    evaluations: int
    setup_s: float


def simulate(search_dir: Path, trials: int, measure_s: float = 600.0,
             warmup_s: float = 120.0, checkpoint_every_s: float = 600.0) -> SimResult:
    """`trials` concurrent trials for `warmup_s` then `measure_s` of simulated time."""
    settings = sim_settings(search_dir, trials)
    search_dir.mkdir(parents=True, exist_ok=True)
    sched = InstantScheduler()
    world = SimWorld(sched, settings, checkpoint_every_s)
    journal = Journal(search_dir / "journal.jsonl")
    controller = Controller(settings, journal, sched, NullView(), clock=world.clock,
                            sleep=world.sleep)
    with _refresh_on(world):
        return _measure(controller, world, sched, journal, trials, measure_s, warmup_s)


@contextlib.contextmanager
def _refresh_on(world: SimWorld) -> Iterator[None]:
    """The report refresh's throttle on the simulated clock, as the rest of the controller:
    on the real clock, fast simulated ticks would space refreshes out in simulated time."""
    real = files.refresh_outcome

    def on_world_clock(state: SearchState, rule: Rule, search_dir: Path) -> bool:
        return real(state, rule, search_dir, clock=world.clock)

    setattr(controller_module, "refresh_outcome", on_world_clock)  # noqa: B010
    try:
        yield
    finally:
        setattr(controller_module, "refresh_outcome", real)  # noqa: B010


def _measure(controller: Controller, world: SimWorld, sched: InstantScheduler,
             journal: Journal, trials: int, measure_s: float, warmup_s: float) -> SimResult:
    settings = controller.settings
    search_dir = controller.search_dir
    t0 = time.perf_counter()
    controller.start()
    step_s = settings.executor.fs_interval_s
    while world.now < warmup_s:
        controller.tick()
        world.sleep(step_s)
    setup_s = time.perf_counter() - t0
    ticks: list[float] = []
    polls_before = sched.polls
    cpu = 0.0  # the controller's ticks only: the simulated jobs' file writes are not its
    with MetadataCounter(search_dir) as counter:
        start = world.now
        while world.now < start + measure_s:
            t, cpu0 = time.perf_counter(), time.process_time()
            controller.tick()
            ticks.append(time.perf_counter() - t)
            cpu += time.process_time() - cpu0
            world.sleep(step_s)
    journal.close()
    hours = (world.now - start) / 3600.0
    ms = sorted(x * 1000.0 for x in ticks)
    state = controller.state
    return SimResult(
        trials=trials, measured_ticks=len(ticks), simulated_s=world.now - start,
        tick_ms_p50=statistics.median(ms), tick_ms_p99=ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        tick_ms_max=ms[-1], cpu_s_per_hour=cpu / hours,
        fs_ops_per_hour=counter.total / hours,
        fs_ops_per_trial_hour=counter.total / hours / trials,
        fs_ops_by_kind_per_trial_hour={k: v / hours / trials for k, v in counter.counts.items()},
        polls_per_hour=(sched.polls - polls_before) / hours,
        checkpoints=sum(len(t.checkpoints) for t in state.trials.values()),
        evaluations=len(state.evaluations), setup_s=setup_s)


def sampler_cost(search_dir: Path, sampler: str, trials: int) -> dict[str, float]:
    """Seconds per trial to ask `sampler` for a trial's parameters and tell it how the
    trial did, over `trials` trials: the mean and the mean of the last tenth."""
    settings = sim_settings(search_dir, trials, sampler)
    search_dir.mkdir(parents=True, exist_ok=True)
    chosen = sampler_for(settings.search)
    rng = random.Random(0)
    costs: list[float] = []
    for number in range(1, trials + 1):
        t = time.perf_counter()
        _, own = chosen.ask(number)
        if own is not None:
            chosen.tell(own, rng.random())
        costs.append(time.perf_counter() - t)
    tail = costs[-max(1, trials // 10):]
    return {"mean_s": statistics.fmean(costs), "last_tenth_mean_s": statistics.fmean(tail)}
