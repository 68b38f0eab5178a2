"""The `scale` phase (issue 25): what the controller costs at sweep scale.

- trials: N = 10, 100, 1,000 concurrent trials through the real controller on an instant
  scheduler and a simulated file tree (bench.phases.scale_sim): tick time, CPU per hour,
  file-system metadata calls per trial-hour, scheduler polls per hour; the slopes between
  the sizes are SCALE.md's cost model.
- samplers: seconds per trial to ask random, grid and optuna for 1,000 trials' parameters.
- slurm: up to 10,000 held jobs of the bench's own on the local cluster (fewer where
  MaxJobCount leaves no room: HEADROOM jobs stay free for the other users of the cluster),
  tracked by the real controller and SlurmScheduler for one virtual hour
  (bench.phases.sched_probe: every sacct real): queries per hour, CPU, peak RSS; and one
  poll's sacct over all of them, timed alone. The jobs are cancelled right after, always.
- journal: bench.phases.long_journal's `measure(tmp)` (another change delivers it): a
  month-long journal's resume, status, watch and report.html; "not measured" without it.
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.cluster.slurmtools import STATUS_COMMANDS, cancel, cancel_prefix, make_counter
from bench.cluster.tracked import submit_held, tracking_overrides
from bench.phases import scale_sim
from bench.phases.footprint import write_trials_journal
from bench.phases.scenario import PY, ROOT, child_env
from orchestrator.model.transitions import JobState
from orchestrator.scheduler.slurm_parse import SACCT_FORMAT, SLURM_STATES

SIZES = (10, 100, 1000)
PARTS = ("trials", "samplers", "journal", "slurm")
SAMPLERS = ("random", "grid", "optuna")
JOBS = 10_000
HEADROOM = 1_000  # job slots left to the cluster's other users while ours are queued
PURGE_WAIT_S = 420.0
# the bound on the controller's file-system metadata calls: 0.1 a second per trial, so a
# 1,000-trial search costs a Lustre MDS 100 ops/s (SCALE.md says why that is acceptable)
FS_OPS_PER_TRIAL_HOUR_BOUND = 360.0
LONG_JOURNAL_KEYS = ("resume_s_1m_events", "status_s_1m_events",
                     "watch_first_frame_s_1m_events", "report_html_s_1000_trials")


def trials(workdir: Path, measure_s: float, log: Callable[[str], None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in SIZES:
        log(f"scale: {n} concurrent trials, {measure_s:g} s simulated")
        out[str(n)] = asdict(scale_sim.simulate(workdir / f"scale-trials-{n}", n, measure_s))
    return out


def samplers(workdir: Path, count: int = 1000) -> dict[str, Any]:
    return {name: scale_sim.sampler_cost(workdir / f"scale-sampler-{name}", name, count)
            for name in SAMPLERS}


def long_journal(workdir: Path) -> dict[str, Any]:
    """The long-journal figures, or a note where that measurement is not there yet."""
    try:
        module = importlib.import_module("bench.phases.long_journal")
    except ImportError:
        return {"note": "not measured: bench.phases.long_journal is not there"}
    folder = workdir / "scale-long-journal"
    folder.mkdir(parents=True, exist_ok=True)
    figures: dict[str, float] = module.measure(folder)
    return dict(figures)


def room_for_jobs(wanted: int = JOBS) -> tuple[int, int, int, int]:
    """How many jobs the bench may queue: (count, MaxJobCount, jobs slurmctld holds now, how
    many of those have ended: held until MinJobAge after their end, then purged)."""
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                            timeout=60, check=True).stdout
    limit = next((int(line.split("=", 1)[1]) for line in config.splitlines()
                  if line.split("=", 1)[0].strip() == "MaxJobCount"), wanted)
    states = subprocess.run(["squeue", "-h", "-t", "all", "-o", "%T"], capture_output=True,
                            text=True, timeout=60, check=True).stdout.split()
    # the adapter's one table of raw states says which have ended (one it does not know: live)
    ended = sum(1 for state in states if SLURM_STATES.get(state, JobState.PENDING).terminal)
    return max(0, min(wanted, limit - len(states) - HEADROOM)), limit, len(states), ended


def purge_would_help(count: int, limit: int, held: int, ended: int,
                     wanted: int = JOBS) -> bool:
    """Would the purge of the ended jobs slurmctld still holds make room for a tenth more of
    the jobs wanted? (A scale run just after another found room for 20 of 10,000: the last
    run's, cancelled minutes before.) Not for a few: other users' live jobs take the rest."""
    after = max(0, min(wanted, limit - (held - ended) - HEADROOM))
    return after - count >= wanted // 10


def room_after_purge(log: Callable[[str], None]) -> tuple[int, int, int]:
    """`room_for_jobs`, once the ended jobs that would make room are purged (at most
    PURGE_WAIT_S: MinJobAge, 300 s by default, and the purge's own period)."""
    deadline, said = time.monotonic() + PURGE_WAIT_S, -1
    while True:
        count, limit, held, ended = room_for_jobs()
        if not purge_would_help(count, limit, held, ended) or time.monotonic() >= deadline:
            return count, limit, held
        if count != said:  # once per change, not every 15 s
            log(f"scale: room for {count} jobs; {ended} ended jobs still in slurmctld until "
                "it purges them (MinJobAge): waiting")
            said = count
        time.sleep(15)


def sacct_s(job_ids: list[str], repeats: int = 3) -> list[float]:
    """One poll's sacct over `job_ids`, as SlurmScheduler.poll sends it, timed alone."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        subprocess.run(["sacct", "-X", "-o", SACCT_FORMAT, "--parsable2", "-j",
                        ",".join(job_ids)], capture_output=True, timeout=300, check=True)
        times.append(time.perf_counter() - t)
    return times


def slurm(workdir: Path, tag: str, log: Callable[[str], None]) -> dict[str, Any]:
    count, limit, before = room_after_purge(log)
    out: dict[str, Any] = {"jobs_wanted": JOBS, "max_job_count": limit,
                           "jobs_in_slurmctld_before": before, "jobs": count}
    if count == 0:
        out["note"] = "no room under MaxJobCount: not measured"
        return out
    name = f"{tag}-scale"
    held: list[str] = []
    try:
        t0 = time.monotonic()
        log(f"scale: submitting {count} held jobs named {name}")
        held = submit_held(count, name)
        out["submit_s"] = time.monotonic() - t0
        time.sleep(6)  # sacct lags slurmctld for pending jobs: let their rows appear
        times = sacct_s(held)
        out["sacct_s"], out["sacct_s_each"] = statistics.median(times), times
        log("scale: one virtual hour of the real controller tracking them")
        out["probe"] = probe(workdir, f"{tag}-scale-", held)
    finally:
        t1 = time.monotonic()
        cancel(held)
        cancel_prefix(name)
        out["cancel_s"] = time.monotonic() - t1
    return out


def probe(workdir: Path, prefix: str, held: list[str]) -> dict[str, Any]:
    """bench.phases.sched_probe on a journal tracking `held`, written without job names
    (a named journal would read the held jobs' own names as ids SLURM gave to other jobs:
    LOST, then resubmitted) and with search.held_grace_s=0 (held on purpose: never
    released, never replaced)."""
    search_dir = workdir / f"{prefix}probe"
    overrides = tracking_overrides(search_dir)
    write_trials_journal(overrides, held, trials=1)
    counter = make_counter(workdir / "calls-scale-probe")
    result = workdir / "scale-probe.json"
    proc = subprocess.run([PY, "-m", "bench.phases.sched_probe", "--hours", "1", "--result",
                           str(result), *overrides], cwd=ROOT, env=child_env(counter),
                          capture_output=True, text=True, timeout=1800, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"sched_probe failed: {proc.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
    calls = counter.calls()
    data["calls_by_command"] = {k: sum(1 for c in calls if c.command == k)
                                for k in ("sacct", "squeue", "scontrol", "sbatch", "scancel")}
    data["per_hour"] = sum(1 for c in calls if c.command in STATUS_COMMANDS)
    data.pop("poll_times_s", None)
    data.pop("jobs_per_poll", None)
    return data


def parts() -> list[str]:
    """The parts to run: all, or those BENCH_SCALE_PARTS names (comma-separated, of PARTS):
    the simulated trials take minutes, the 10,000 held SLURM jobs most of an hour; with
    `--fold`, the parts not run keep the earlier run's figures."""
    named = [p.strip() for p in os.environ.get("BENCH_SCALE_PARTS", "").split(",") if p.strip()]
    unknown = sorted(set(named) - set(PARTS))
    if unknown:
        raise ValueError(f"BENCH_SCALE_PARTS names {unknown}; choose from {', '.join(PARTS)}")
    return named or list(PARTS)


def phase(workdir: Path, tag: str, quick: bool, log: Callable[[str], None],
          out: dict[str, Any]) -> None:
    """Into `out`, part by part: a failed part leaves the others' figures."""
    out["fs_ops_bound_per_trial_hour"] = FS_OPS_PER_TRIAL_HOUR_BOUND
    chosen = parts()
    out["parts_run"] = chosen
    if "trials" in chosen:
        out["trials"] = trials(workdir, 120.0 if quick else 300.0, log)
    if "samplers" in chosen:
        out["samplers"] = samplers(workdir)
    if "journal" in chosen:
        out["journal"] = long_journal(workdir)
    if "slurm" in chosen:
        out["slurm"] = slurm(workdir, tag, log)


def headline(raw: dict[str, Any]) -> dict[str, Any]:
    scale = raw.get("scale", {})
    at_1000 = scale.get("trials", {}).get("1000", {})
    probe = scale.get("slurm", {}).get("probe", {})
    hours = probe.get("virtual_s", 0.0) / 3600.0
    journal = scale.get("journal", {})
    out: dict[str, Any] = {
        "tick_ms_p99_1000_trials": at_1000.get("tick_ms_p99"),
        "controller_cpu_s_per_hour_1000_trials": at_1000.get("cpu_s_per_hour"),
        "fs_metadata_ops_per_trial_hour": at_1000.get("fs_ops_per_trial_hour"),
        "sched_queries_per_hour_10k_jobs": probe.get("per_hour")
        or probe.get("queries_per_hour_projected"),
        "sacct_s_10k_jobs": scale.get("slurm", {}).get("sacct_s"),
        "controller_cpu_s_per_hour_10k_jobs": (
            probe["cpu_s"] / hours if hours >= 1 and "cpu_s" in probe
            else probe.get("cpu_s_per_hour_projected")),
        "controller_rss_mb_10k_jobs": probe.get("max_rss_mb"),
    }
    for name in SAMPLERS:
        out[f"sampler_s_per_trial_{name}_1000_trials"] = (
            scale.get("samplers", {}).get(name, {}).get("mean_s"))
    for key in LONG_JOURNAL_KEYS:
        out[key] = journal.get(key)
    return out
