"""`python -m bench [--quick]`: measure the controller against the legacy loop, side by side,
on the real local SLURM cluster, and regenerate BENCHMARKS.md and bench/results.json.

Phases, in order (each one's failure is recorded and the others still run):
  scenario   the standard scenario: ours, legacy at its poll, legacy at our poll (concurrently)
  tiny       the real tiny model: ours, then the legacy loop
  infer      inference speed on the tiny run's deciding checkpoint
  sched      scheduler queries per hour at N = 1, 10, 200 tracked jobs (ours and legacy)
  rss        the real CLI tracking 1,000 jobs: memory, CPU, real-time query schedule
  resume     kill -9 mid-search, rerun, time to the first decision
  start      `orchestrator --help` wall time
  disk       a tiny-model search's peak and final disk, search.keep=all against the default
  footprint  the real CLI tracking 10 trials and 200 jobs: CPU s per hour, peak RSS
  busy       tenants keep every slot full (~60 s queue wait): legacy, job, worker, with_training
  placements the standard scenario with each infer.placement: overhead, ratio to the limit
  bertbase   a bert-base-shaped model: batched vs one at a time on CPU; bf16 on a GPU if any
Every job the bench submits is named `bench-<run tag>-...` and is cancelled at the end.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import bertbase, disk, footprint, measure, page, report
from bench import busy as busy_cluster
from bench.scenario import (
    ROOT,
    ByoScenario,
    Launched,
    RunResult,
    journal_events,
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
from bench.slurmtools import (
    cancel,
    cancel_prefix,
    make_counter,
    other_jobs,
    slurm_version,
    wait_for_idle,
)
from bench.tracked import submit_held

PHASES = ("scenario", "tiny", "infer", "sched", "rss", "resume", "start", "disk",
          "footprint", "bertbase", "busy", "placements")
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

    def busy(self) -> None:
        self.raw["busy"] = busy_cluster.busy(self.workdir, self.tag, self.plan.busy_plan,
                                             self._counter, self.log)

    def placements(self) -> None:
        self.raw["placements"] = busy_cluster.placements(self.workdir, self.tag,
                                                         self.plan.scenario, self._counter)

    def bertbase(self) -> None:
        # in children (bench.bertbase): the CPU figure with the GPU hidden, then the GPU's
        self.raw["bertbase"] = bertbase.phase(self.workdir, threads=1)

    def run(self, phases: Sequence[str]) -> None:
        bodies: dict[str, Callable[[], None]] = {
            "scenario": self.scenario, "tiny": self.tiny, "infer": self.infer,
            "sched": self.sched, "rss": self.rss, "resume": self.resume, "start": self.start,
            "disk": self.disk, "footprint": self.footprint, "bertbase": self.bertbase,
            "busy": self.busy, "placements": self.placements}
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


# ---------------------------------------------------------------------------- headline numbers
def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def headline(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    runs = raw.get("scenario", {}).get("runs", {})
    ours, legacy, legacyeq = runs.get("ours", {}), runs.get("legacy", {}), runs.get("legacyeq", {})
    out["time_to_decision_ratio"] = _ratio(legacy.get("time_to_decision_s"),
                                           ours.get("time_to_decision_s"))
    out["time_to_decision_ratio_equal_poll"] = _ratio(legacyeq.get("time_to_decision_s"),
                                                      ours.get("time_to_decision_s"))
    out["job_seconds_ratio"] = _ratio(legacy.get("job_seconds"), ours.get("job_seconds"))
    out["decision_latency_s"] = ours.get("extra", {}).get("decision_latency_s")
    sched = raw.get("sched")
    out["sched_queries_per_hour"] = (
        {n: sched[n]["per_hour"] for n in report.N_KEYS} if sched else None)
    legacy_sched = raw.get("legacy_sched")
    out["legacy_sched_queries_per_hour"] = (
        {n: legacy_sched[n]["per_hour"] for n in report.N_KEYS} if legacy_sched else None)
    out["inference_speedup_cpu"] = raw.get("inference", {}).get("speedup_vs_per_example")
    out["controller_start_s"] = raw.get("controller_start", {}).get("median_s")
    out["controller_rss_mb_1000_jobs"] = raw.get("rss", {}).get("vm_hwm_mb")
    out["resume_s"] = raw.get("resume", {}).get("resume_s")
    out["disk_peak_ratio"] = raw.get("disk", {}).get("peak_ratio")
    out["controller_cpu_s_per_hour"] = raw.get("footprint", {}).get("cpu_s_per_hour")
    out["controller_rss_mb_10_trials"] = raw.get("footprint", {}).get("vm_hwm_mb")
    out.update(busy_cluster.headline(raw))
    bert = raw.get("bertbase", {})
    out["inference_speedup_bertbase_cpu"] = bert.get("cpu", {}).get("speedup")
    out["inference_bf16_examples_per_s_gpu"] = bert.get("gpu", {}).get("examples_per_s")
    return out


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    cpu_model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    return {
        "cores": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
        "submitit": _version("submitit"),
        "hydra-core": _version("hydra-core"),
        "slurm": slurm_version(),
        "gpu": "none (this machine has no GPU; nothing was measured on a GPU)",
        "git_commit": _git_commit(),
    }


def _git_commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    return proc.stdout.strip() or "unknown"


def _cluster_ok() -> bool:
    proc = subprocess.run([str(ROOT / "scripts" / "local-slurm"), "status"], capture_output=True,
                          text=True, check=False, timeout=60)
    return proc.returncode == 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="a shorter scenario (a few minutes); the legacy poll is scaled down")
    parser.add_argument("--legacy-poll-s", type=float, default=30.0,
                        help="the legacy loop's squeue poll interval (default 30)")
    parser.add_argument("--legacy-settle-s", type=float, default=5.0,
                        help="the legacy loop's fixed sleep after a job leaves the queue")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md",
                        help="the Markdown page to write")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results.json",
                        help="the machine-readable results to write")
    parser.add_argument("--only", default=",".join(PHASES),
                        help=f"comma-separated phases to run (default all: {','.join(PHASES)})")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where runs go (default: a new folder in /tmp, removed at the end)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--busy-wait-s", type=float, default=None,
                        help="busy phase: the queue wait the tenants keep (default 60; 20 in "
                             "--quick)")
    parser.add_argument("--render-only", action="store_true",
                        help="measure nothing: rewrite --out from the existing --results")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.render_only:
        results = json.loads(args.results.read_text(encoding="utf-8"))
        report.write_markdown(args.out, page.render(results))
        print(f"wrote {args.out} from {args.results}")
        return 0
    phases = [p.strip() for p in args.only.split(",") if p.strip()]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phases {unknown}; choose from {', '.join(PHASES)}")
    if not _cluster_ok():
        print("error: the local SLURM cluster is not usable; start it with "
              "`scripts/local-slurm up` (as root) and run the bench again", file=sys.stderr)
        return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-", dir="/tmp"))
    workdir.mkdir(parents=True, exist_ok=True)
    bench = _measure(args, phases, workdir)
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        bench.log(f"kept {workdir}")
    return 0


def _measure(args: argparse.Namespace, phases: list[str], workdir: Path) -> Bench:
    """Run the phases, then write results.json and the page; the bench that ran them."""
    tag = f"bench-{uuid.uuid4().hex[:6]}"
    plan = make_plan(args.quick, args.legacy_poll_s, args.legacy_settle_s)
    if args.busy_wait_s is not None:
        plan = replace(plan, busy_plan=replace(plan.busy_plan, wait_s=args.busy_wait_s))
    bench = Bench(plan, workdir, tag)
    bench.log(f"mode {plan.mode}, work folder {workdir}, job names {tag}-*")
    started = time.time()
    bench.run(phases)
    raw = bench.raw
    raw["plan"] = asdict(plan)
    raw["phases_run"] = phases
    raw["wall_s"] = round(time.time() - started, 1)
    raw["tag"] = tag
    raw["slurm_poll_s"], raw["slurm_poll_cap_s"] = our_polls()
    generated = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    results = report.assemble(plan.mode, generated, machine(), headline(raw), raw)
    report.write_results(args.results, results)
    report.write_markdown(args.out, page.render(results))
    bench.log(f"wrote {args.out} and {args.results} in {raw['wall_s']:.0f} s")
    for key, met in results["met"].items():
        bench.log(f"  {key}: {report.fmt(results[key])} (target {results['targets'][key]}): "
                  f"{report.verdict(met)}")
    return bench


if __name__ == "__main__":
    raise SystemExit(main())
