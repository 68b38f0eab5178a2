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
  early_stop none/median/asha/hyperband on 32 prescribed curves (simulated; no cluster)
  early_stop_cluster  the same sweep for real: 32 trials of the users' fake scripts, 5 seeds
  scale      1,000 concurrent trials (instant scheduler), samplers, 10,000 held SLURM jobs,
             the long journal (bench.phases.scale; SCALE.md); BENCH_SCALE_PARTS=trials runs
             only the named parts, and with --fold the others keep their earlier figures
  multinode  a 200-step tiny training on 1 node, then on 2 (gloo, partition `nodes`): examples/s
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
import uuid
from collections.abc import Sequence
from dataclasses import asdict, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.cluster.slurmtools import (
    slurm_version,
)
from bench.page import render as page
from bench.page import report
from bench.phases import busy as busy_cluster
from bench.phases import early_stop, multinode, scale
from bench.phases.runner import PHASES, Bench, make_plan, our_polls
from bench.phases.scenario import ROOT


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
    out.update(early_stop.headline(raw))
    out.update(scale.headline(raw))
    out.update(multinode.headline(raw))
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
    parser.add_argument("--fold", action="store_true",
                        help="with --only: fold the phases run into the existing --results as a "
                             "later run on the same machine (said on the page), keeping every "
                             "other phase's figures")
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
    if args.fold and args.results.exists():
        return _fold(args, bench, phases)
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


def _fold(args: argparse.Namespace, bench: Bench, phases: list[str]) -> Bench:
    """The phases just run folded into the earlier full run's results: their raw entries
    replace that run's, the headline is recomputed, and `raw.later_phases` says which phases
    came from this later run (the page says so; nothing is passed off as the same run)."""
    old = json.loads(args.results.read_text(encoding="utf-8"))
    raw: dict[str, Any] = dict(old.get("raw", {}))
    errors = {**raw.get("errors", {}), **bench.raw.get("errors", {})}
    # scale run in part (BENCH_SCALE_PARTS): the parts not run keep their earlier figures
    merged = ({"scale": {**raw.get("scale", {}), **bench.raw["scale"]}}
              if "scale" in bench.raw else {})
    # each phase's wall time, this run's beside the earlier runs' (not in their place)
    merged["phase_s"] = {**raw.get("phase_s", {}), **bench.raw.get("phase_s", {})}
    raw.update({k: v for k, v in bench.raw.items() if k != "errors"} | merged)
    raw["errors"] = errors
    generated = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    later = raw.get("later_phases")
    runs = [later] if isinstance(later, dict) else list(later or [])
    if os.environ.get("BENCH_SCALE_PARTS") and "scale" in bench.raw:  # the page says which
        parts = ", ".join(bench.raw["scale"].get("parts_run", []))
        phases = [f"scale (its parts {parts} only)" if p == "scale" else p for p in phases]
    runs.append({"phases": phases, "generated": generated, "git_commit": _git_commit(),
                 "mode": bench.plan.mode, "errors": bench.raw.get("errors", {})})
    raw["later_phases"] = runs
    results = report.assemble(old.get("mode", bench.plan.mode), old.get("generated", generated),
                              old.get("machine", machine()), headline(raw), raw)
    report.write_results(args.results, results)
    report.write_markdown(args.out, page.render(results))
    bench.log(f"folded {', '.join(phases)} into {args.results}; wrote {args.out}")
    return bench


if __name__ == "__main__":
    raise SystemExit(main())

