"""The bench's phases in order: the plan (each phase's sizes, full or `--quick`) and Bench,
which runs the chosen phases one after the other into one `raw` dict (a phase's failure is
recorded there and the others still run), holding the held jobs the sched, rss and footprint
phases share, and cancelling every job of the run at the end.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.cluster.journal import journal_events
from bench.cluster.slurmtools import cancel, cancel_prefix, make_counter, other_jobs, wait_for_idle
from bench.cluster.tracked import submit_held
from bench.phases import (
    bertbase,
    disk,
    early_stop,
    early_stop_cluster,
    footprint,
    measure,
    multinode,
    scale,
)
from bench.phases import busy as busy_cluster
from bench.phases.scenario import (
    ROOT,
    ByoScenario,
    Launched,
    RunResult,
    launch_legacy,
    launch_ours,
    legacy_result,
    ours_byo_overrides,
    ours_result,
    predicted_legacy_s,
    predicted_ours_s,
    tiny_overrides,
    wait_all,
    write_byo_legacy,
    write_tiny_legacy,
)

PHASES = ("scenario", "tiny", "infer", "sched", "rss", "resume", "start", "disk",
          "footprint", "bertbase", "busy", "placements", "early_stop", "early_stop_cluster",
          "scale", "multinode")
FULL_EVERY_S = 20.0


@dataclass(frozen=True)
class Plan:
    mode: str
    scenario: ByoScenario
    legacy_poll_s: float  # the legacy loop's own poll (30 s; scaled down in --quick)
    legacy_poll_note: str
    equal_poll_s: float  # our slurm poll interval
    settle_s: float
    tiny_target: float
    rss_window_s: float
    rss_jobs: int
    sched_ns: tuple[int, ...]
    infer_repeats: int
    resume_scenario: ByoScenario
    busy_plan: busy_cluster.BusyPlan = field(default_factory=busy_cluster.BusyPlan)


def our_polls() -> tuple[float, float]:
    """The slurm executor's first poll interval and its back-off cap (conf/executor/slurm.yaml)."""
    from orchestrator.config import compose as config

    settings = config.to_settings(config.compose(["executor=slurm", "search.target=0.8"]))
    return settings.executor.poll_interval_s, settings.executor.max_poll_interval_s


def our_poll_interval() -> float:
    return our_polls()[0]


def make_plan(quick: bool, legacy_poll_s: float, settle_s: float) -> Plan:
    ours = our_poll_interval()
    resume_scn = ByoScenario(every_s=3.0, infer_s=2.0)
    if quick:
        scn = ByoScenario(every_s=5.0, infer_s=3.0)
        scale = scn.every_s / FULL_EVERY_S
        poll = legacy_poll_s * scale
        note = (f"{poll:g} s: --quick scales the legacy {legacy_poll_s:g} s poll by the "
                f"checkpoint interval ({scn.every_s:g} s / {FULL_EVERY_S:g} s)")
        return Plan("quick", scn, poll, note, ours, settle_s, 0.80, 40.0, 1000, (1, 10, 200),
                    1, resume_scn, busy_cluster.BusyPlan(wait_s=20.0, legacy_poll_s=poll,
                                                 settle_s=settle_s))
    scn = ByoScenario(every_s=FULL_EVERY_S, infer_s=10.0)
    return Plan("full", scn, legacy_poll_s, f"{legacy_poll_s:g} s (the legacy default)", ours,
                settle_s, 0.80, 150.0, 1000, (1, 10, 200), 3, resume_scn,
                busy_cluster.BusyPlan(legacy_poll_s=legacy_poll_s, settle_s=settle_s))


# ---------------------------------------------------------------------------- phases
class Bench:
    def __init__(self, plan: Plan, workdir: Path, tag: str) -> None:
        self.plan, self.workdir, self.tag = plan, workdir, tag
        self.raw: dict[str, Any] = {"errors": {}}
        self.held: list[str] = []

    def prefix(self, run: str) -> str:
        return f"{self.tag}-{run}-"

    def log(self, text: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {text}", flush=True)

    def phase(self, name: str, body: Callable[[], None]) -> None:
        self.log(f"phase {name}")
        t0 = time.monotonic()
        try:
            body()
        except Exception as exc:  # a failed phase is reported, the others still run
            self.raw["errors"][name] = f"{type(exc).__name__}: {exc}"
            self.log(f"phase {name} FAILED: {exc}\n{traceback.format_exc()}")
        self.raw.setdefault("phase_s", {})[name] = round(time.monotonic() - t0, 1)

    def _counter(self, name: str) -> Any:
        return make_counter(self.workdir / f"calls-{name}")

    def scenario(self) -> None:
        plan, scn = self.plan, self.plan.scenario
        self.raw["scenario_waited_for_idle_s"] = wait_for_idle(4, 300)
        ours_dir = self.workdir / f"{self.tag}-ours"
        runs: list[Launched] = []
        legacy: list[tuple[Launched, Path, str, float]] = []
        for run, poll in (("legacy", plan.legacy_poll_s), ("legacyeq", plan.equal_poll_s)):
            setup = write_byo_legacy(scn, self.workdir / run, self.prefix(run))
            result = self.workdir / f"{run}-result.json"
            launched = launch_legacy(run, setup, scn.target, poll, plan.settle_s, result,
                                     self.workdir / f"{run}.log", self._counter(run))
            legacy.append((launched, result, self.prefix(run), poll))
            runs.append(launched)
        ours = launch_ours("ours", ours_byo_overrides(scn, ours_dir), self.workdir / "ours.log",
                           self._counter("ours"))
        runs.append(ours)
        self.raw["scenario_other_jobs_at_start"] = other_jobs(self.tag)
        budget = predicted_legacy_s(scn, plan.legacy_poll_s, plan.settle_s) * 2 + 300
        wait_all(runs, budget)
        self.raw["scenario_other_jobs_at_end"] = other_jobs(self.tag)
        results: dict[str, RunResult] = {
            "ours": ours_result(ours, ours_dir, f"{ours_dir.name}-", scn.infer_s)}
        for launched, result, prefix, poll in legacy:
            results[launched.name] = legacy_result(launched, result, prefix, poll)
        self.raw["scenario"] = {
            "parameters": asdict(scn),
            "legacy_poll_s": plan.legacy_poll_s,
            "legacy_poll_note": plan.legacy_poll_note,
            "equal_poll_s": plan.equal_poll_s,
            "settle_s": plan.settle_s,
            "predicted_s": {
                "legacy": predicted_legacy_s(scn, plan.legacy_poll_s, plan.settle_s),
                "legacyeq": predicted_legacy_s(scn, plan.equal_poll_s, plan.settle_s),
                "ours": predicted_ours_s(scn)},
            "runs": {k: asdict(v) for k, v in results.items()},
        }

    def tiny(self) -> None:
        plan = self.plan
        self.raw["tiny_waited_for_idle_s"] = wait_for_idle(4, 300)
        self.raw["tiny_other_jobs_at_start"] = other_jobs(self.tag)
        ours_dir = self.workdir / f"{self.tag}-tinyours"
        overrides = tiny_overrides(ours_dir, plan.tiny_target)
        ours = launch_ours("tinyours", overrides, self.workdir / "tinyours.log",
                           self._counter("tinyours"))
        wait_all([ours], 1200)
        wait_for_idle(3, 300)
        runs = {"ours": asdict(ours_result(ours, ours_dir, f"{ours_dir.name}-", None))}
        legacy_dir = self.workdir / f"{self.tag}-tinylegacy"
        setup = write_tiny_legacy(legacy_dir, self.prefix("tinylegacy"),
                                  tiny_overrides(legacy_dir, plan.tiny_target))
        result = self.workdir / "tinylegacy-result.json"
        legacy = launch_legacy("tinylegacy", setup, plan.tiny_target * 100, plan.legacy_poll_s,
                               plan.settle_s, result, self.workdir / "tinylegacy.log",
                               self._counter("tinylegacy"), model="tiny")
        wait_all([legacy], 1800)
        runs["legacy"] = asdict(legacy_result(legacy, result, self.prefix("tinylegacy"),
                                              plan.legacy_poll_s))
        self.raw["tiny"] = {"overrides": overrides, "legacy_poll_s": plan.legacy_poll_s,
                            "runs": runs}

    def infer(self) -> None:
        tiny = self.raw.get("tiny")
        if not tiny:
            raise RuntimeError("no tiny run to take a checkpoint from")
        search_dir = Path(tiny["runs"]["ours"]["extra"]["search_dir"])
        events = journal_events(search_dir)
        checkpoints = {e["step"]: e["path"] for e in events if e["event"] == "checkpoint"}
        step = tiny["runs"]["ours"]["decided_step"] or max(checkpoints)
        self.raw["inference"] = measure.inference_speed(
            self.workdir, checkpoints[step], str(search_dir / "assets"), threads=1,
            repeats=self.plan.infer_repeats)

    def _ensure_held(self, count: int) -> list[str]:
        if len(self.held) < count:
            t0 = time.monotonic()
            self.held += submit_held(count - len(self.held), f"{self.tag}-held")
            self.raw.setdefault("held_submit_s", []).append(round(time.monotonic() - t0, 1))
        return self.held[:count]

    def sched(self) -> None:
        held = self._ensure_held(max(self.plan.sched_ns))
        time.sleep(6)  # sacct lags slurmctld for pending jobs: let their rows appear
        self.raw["sched"] = measure.sched_queries(self.workdir, f"{self.tag}-", held,
                                                  self.plan.sched_ns)
        self.raw["legacy_sched"] = measure.legacy_queries(self.workdir, held, self.plan.sched_ns,
                                                          poll_s=30.0)

    def rss(self) -> None:
        held = self._ensure_held(self.plan.rss_jobs)
        time.sleep(6)
        self.raw["rss"] = measure.rss_and_realtime(self.workdir, f"{self.tag}-", held,
                                                   self.plan.rss_window_s)

    def release_held(self) -> None:
        if self.held:
            cancel(self.held)
            self.held = []

    def resume(self) -> None:
        self.raw["resume"] = measure.resume(self.workdir, f"{self.tag}-",
                                            self.plan.resume_scenario)

    def start(self) -> None:
        self.raw["controller_start"] = measure.controller_start()

    def disk(self) -> None:
        self.raw["disk"] = disk.measure(self.workdir, self.tag, ROOT)

    def footprint(self) -> None:
        held = self._ensure_held(footprint.JOBS)
        time.sleep(6)
        window = 600.0 if self.plan.mode == "full" else 120.0
        self.raw["footprint"] = footprint.footprint(self.workdir, f"{self.tag}-", held, window)

    def early_stop(self) -> None:
        self.raw["early_stop"] = early_stop.measure()  # simulated: see bench.phases.early_stop

    def early_stop_cluster(self) -> None:
        # none vs asha for real: 12 trials of the users' fake scripts, one seed
        self.raw["early_stop_cluster"] = early_stop_cluster.phase(self.workdir, self.tag,
                                                                  self._counter, self.log)

    def busy(self) -> None:
        self.raw["busy"] = busy_cluster.busy(self.workdir, self.tag, self.plan.busy_plan,
                                             self._counter, self.log)

    def placements(self) -> None:
        self.raw["placements"] = busy_cluster.placements(self.workdir, self.tag,
                                                         self.plan.scenario, self._counter)

    def scale(self) -> None:
        self.raw["scale"] = {}
        scale.phase(self.workdir, self.tag, self.plan.mode == "quick", self.log,
                    self.raw["scale"])

    def multinode(self) -> None:
        # 1 node, then 2 (gloo) on partition `nodes`: a plumbing figure (bench.phases.multinode)
        self.raw["multinode"] = multinode.phase(self.workdir, self.tag, self._counter, self.log)

    def bertbase(self) -> None:
        # in children (bench.phases.bertbase): the CPU figure with the GPU hidden, then the GPU's
        self.raw["bertbase"] = bertbase.phase(self.workdir, threads=1)

    def run(self, phases: Sequence[str]) -> None:
        bodies: dict[str, Callable[[], None]] = {
            "scenario": self.scenario, "tiny": self.tiny, "infer": self.infer,
            "sched": self.sched, "rss": self.rss, "resume": self.resume, "start": self.start,
            "disk": self.disk, "footprint": self.footprint, "bertbase": self.bertbase,
            "busy": self.busy, "placements": self.placements,
            "early_stop": self.early_stop, "early_stop_cluster": self.early_stop_cluster,
            "scale": self.scale, "multinode": self.multinode}
        try:
            for name in PHASES:
                if name in phases:
                    self.phase(name, bodies[name])
                if name == "rss":
                    self.release_held()
        finally:
            self.release_held()
            left = cancel_prefix(self.tag)
            if left:
                self.log(f"cancelled {len(left)} leftover bench jobs")
