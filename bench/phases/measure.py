"""The measurements besides the side-by-side runs: scheduler queries per hour, the controller's
start time, memory with 1,000 jobs, resume after kill -9, and inference speed.

Each function returns plain JSON-able data (raw numbers included) for results.json; the
headline values are picked out by bench.__main__.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.cluster.journal import journal_events
from bench.cluster.slurmtools import STATUS_COMMANDS, make_counter
from bench.cluster.tracked import tracking_overrides, write_tracking_journal
from bench.phases.legacy_loop import LegacyLoop
from bench.phases.scenario import (
    PY,
    ROOT,
    ByoScenario,
    Launched,
    child_env,
    launch_ours,
    ours_byo_overrides,
    wait_all,
)
from orchestrator.common import layout


def controller_start(runs: int = 5) -> dict[str, Any]:
    """Wall time of `orchestrator --help` (the installed console script), a few times."""
    exe = Path(sys.executable).parent / "orchestrator"
    argv = [str(exe), "--help"] if exe.exists() else [PY, "-m", "orchestrator", "--help"]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True, timeout=60)
        times.append(time.perf_counter() - t0)
    return {"command": " ".join(argv), "median_s": statistics.median(times), "runs_s": times}


# ---------------------------------------------------------------------------- queries per hour
def sched_queries(workdir: Path, prefix: str, held: Sequence[str], ns: Sequence[int],
                  hours: float = 1.0, extra: Sequence[str] = (),
                  label: str = "") -> dict[str, Any]:
    """Ours: the real Controller + SlurmScheduler over N held jobs for one virtual hour."""
    out: dict[str, Any] = {}
    for n in ns:
        search_dir = workdir / f"{prefix}sched-n{n}{label}"
        overrides = [*tracking_overrides(search_dir), *extra]
        write_tracking_journal(overrides, held[:n])
        counter = make_counter(workdir / f"calls-sched-n{n}{label}")
        result = workdir / f"sched-n{n}{label}.json"
        proc = subprocess.run([PY, "-m", "bench.phases.sched_probe", "--hours", f"{hours:g}",
                               "--result", str(result), *overrides], cwd=ROOT,
                              env=child_env(counter), capture_output=True, text=True,
                              timeout=1800, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"sched_probe N={n} failed: {proc.stderr[-2000:]}")
        data: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
        calls = counter.calls()
        status = [c for c in calls if c.command in STATUS_COMMANDS]
        data["status_calls"] = len(status)
        data["calls_by_command"] = {k: sum(1 for c in calls if c.command == k)
                                    for k in ("sacct", "squeue", "scontrol", "sbatch", "scancel")}
        data["per_hour"] = len(status) / hours
        data["overrides"] = list(extra)
        data["ids_in_largest_call"] = max(
            (len(c.args[c.args.index("-j") + 1].split(",")) for c in status if "-j" in c.args),
            default=0)
        out[str(n)] = data
    return out


def legacy_queries(workdir: Path, held: Sequence[str], ns: Sequence[int], poll_s: float = 30.0,
                   rounds: int = 2) -> dict[str, Any]:
    """The legacy loop's wait, one `squeue -j` per waiting job per poll, over N real jobs for a
    few rounds (the sleep between rounds is skipped); per hour = per round x 3600 / poll."""
    out: dict[str, Any] = {}
    for n in ns:
        counter = make_counter(workdir / f"calls-legacy-n{n}")
        env = counter.env()

        def run(argv: list[str], env: dict[str, str] = env) -> subprocess.CompletedProcess[str]:
            return subprocess.run(argv, capture_output=True, text=True, timeout=120,
                                  check=False, env=env)

        loop = LegacyLoop(Path("unused"), Path("unused"), "", Path("unused"), Path("unused"),
                          0.0, poll_s=poll_s, run=run, sleep=lambda _: None)
        t0 = time.perf_counter()
        loop.wait_all(list(held[:n]), rounds)
        wall = time.perf_counter() - t0
        squeue = sum(1 for c in counter.calls() if c.command == "squeue")
        per_round = squeue / rounds
        out[str(n)] = {"rounds": rounds, "squeue_calls": squeue, "per_poll": per_round,
                       "poll_s": poll_s, "per_hour": per_round * 3600.0 / poll_s,
                       "wall_s_per_round": wall / rounds}
    return out


# ---------------------------------------------------------------------------- memory, real time
def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of `pid`, in MB ({} once it is gone). VmHWM, not getrusage's
    ru_maxrss: on Linux that one carries the parent's high-water mark across fork and exec."""
    values: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = float(rest.split()[0]) / 1024.0  # kB -> MB
    except OSError:
        pass
    return values


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def rss_and_realtime(workdir: Path, prefix: str, held: Sequence[str],
                     window_s: float) -> dict[str, Any]:
    """The real CLI (`python -m orchestrator run ... --plain`) resumed on a journal that tracks
    len(held) real jobs, watched for `window_s`: VmRSS/VmHWM, CPU time, every sacct call."""
    search_dir = workdir / f"{prefix}rss"
    overrides = tracking_overrides(search_dir)
    t0 = time.perf_counter()
    write_tracking_journal(overrides, held)
    journal_s = time.perf_counter() - t0
    counter = make_counter(workdir / "calls-rss")
    run = launch_ours("rss", overrides, workdir / "rss-controller.log", counter)
    pid = run.process.pid
    samples: list[tuple[float, float]] = []
    peak = 0.0
    cpu = None
    deadline = run.t_launch + window_s
    while time.time() < deadline and run.process.poll() is None:
        status = proc_status(pid)
        if status:
            samples.append((round(time.time() - run.t_launch, 1), status.get("VmRSS", 0.0)))
            peak = max(peak, status.get("VmHWM", 0.0))
        cpu = _cpu_seconds(pid) or cpu
        time.sleep(1.0)
    alive = run.process.poll() is None
    run.process.send_signal(signal.SIGINT)  # the CLI's own "interrupted: run again to resume"
    try:
        run.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        run.process.kill()
        run.process.wait()
    calls = counter.calls()
    sacct_t = [round(c.t - run.t_launch, 2) for c in calls if c.command == "sacct"]
    events = journal_events(search_dir)
    resumed = next((e["t"] for e in events if e["event"] == "resumed"), None)
    return {
        "jobs": len(held),
        "window_s": window_s,
        "alive_for_the_whole_window": alive,
        "journal_write_s": journal_s,
        "vm_hwm_mb": peak,
        "vm_rss_mb_last": samples[-1][1] if samples else None,
        "rss_samples": samples[:: max(1, len(samples) // 10)],
        "cpu_s": cpu,
        "cpu_share": (cpu / window_s) if cpu is not None else None,
        "resumed_after_s": (resumed - run.t_launch) if resumed else None,
        "job_state_events": sum(1 for e in events if e["event"] == "job_state"),
        "status_calls": sum(1 for c in calls if c.command in STATUS_COMMANDS),
        "sacct_times_s": sacct_t,
        "other_calls": sorted({c.command for c in calls if c.command not in STATUS_COMMANDS}),
    }


# ---------------------------------------------------------------------------- resume
def resume(workdir: Path, prefix: str, scn: ByoScenario) -> dict[str, Any]:
    """kill -9 the controller while an evaluation is in flight; let that job finish; run the
    same command again; time from the rerun's launch to its first decision event."""
    search_dir = workdir / f"{prefix}resume"
    overrides = ours_byo_overrides(scn, search_dir)
    counter = make_counter(workdir / "calls-resume")
    first = launch_ours("resume-first", overrides, workdir / "resume-first.log", counter)
    _wait_in_flight(first, search_dir, 3 * scn.save_steps)
    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait()
    t_kill = time.time()
    pending = _wait_for_pending_results(search_dir)
    t_ready = time.time()
    second = launch_ours("resume-second", overrides, workdir / "resume-second.log", counter)
    wait_all([second], 600)
    return {"search_dir": str(search_dir), "killed_after_s": t_kill - first.t_launch,
            "in_flight_at_kill": pending, "waited_for_in_flight_s": t_ready - t_kill,
            **_rerun_figures(journal_events(search_dir), second)}


def _wait_in_flight(first: Launched, search_dir: Path, victim_step: int) -> None:
    """Until the evaluation of `victim_step` is submitted and not yet journaled (240 s)."""
    deadline = time.monotonic() + 240
    while True:
        events = journal_events(search_dir)
        submitted = any(e["event"] == "submitted" and e.get("job_id")
                        and layout.infer_key_stem(1, victim_step) in e["key"] for e in events)
        evaluated = {e["step"] for e in events if e["event"] == "evaluation"}
        if submitted and victim_step not in evaluated:
            return
        if time.monotonic() > deadline or first.process.poll() is not None:
            first.process.kill()
            raise RuntimeError(f"the first run never had step {victim_step} in flight")
        time.sleep(0.1)


def _wait_for_pending_results(search_dir: Path) -> list[int]:
    """The steps whose evaluation the kill left in flight, once their jobs have written their
    output (120 s at most)."""
    events = journal_events(search_dir)
    evaluated = {e["step"] for e in events if e["event"] == "evaluation"}
    pending = sorted({e["step"] for e in events if e["event"] == "submit_intent"
                      and e["kind"] == "infer"} - evaluated)
    wait_until = time.monotonic() + 120
    while any(not layout.output_path(search_dir, 1, s).exists() for s in pending):
        if time.monotonic() > wait_until:
            break
        time.sleep(0.1)
    return pending


def _rerun_figures(events: list[dict[str, Any]], second: Launched) -> dict[str, Any]:
    """What the rerun did, in seconds after its launch, from the journal."""
    resumed = next((e for e in events if e["event"] == "resumed"), None)
    if resumed is None:
        raise RuntimeError("the rerun journaled no `resumed` event")
    first_decision = next((e for e in events if e["t"] >= resumed["t"] and e["event"] in
                           ("evaluation", "trial_ended", "search_ended")), None)
    ended = next((e for e in events if e["event"] == "search_ended"), None)
    intents = [e["key"].rsplit("-a", 1)[0] for e in events if e["event"] == "submit_intent"]
    return {
        "rerun_resumed_after_s": resumed["t"] - second.t_launch,
        "first_decision_event": first_decision["event"] if first_decision else None,
        "first_decision_step": first_decision.get("step") if first_decision else None,
        "resume_s": (first_decision["t"] - second.t_launch) if first_decision else None,
        "final_status": ended["status"] if ended else None,
        "final_decision_after_s": (ended["t"] - second.t_launch) if ended else None,
        "rerun_returncode": second.returncode,
        "nothing_submitted_twice": len(intents) == len(set(intents)),
    }


# ---------------------------------------------------------------------------- inference
def inference_speed(workdir: Path, checkpoint: str, cache_dir: str, threads: int,
                    repeats: int) -> dict[str, Any]:
    result = workdir / "infer-probe.json"
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TQDM_DISABLE", "1")
    proc = subprocess.run(
        [PY, "-m", "bench.phases.infer_probe", "--checkpoint", checkpoint, "--cache-dir", cache_dir,
         "--threads", str(threads), "--repeats", str(repeats), "--workdir",
         str(workdir / "infer-probe"), "--result", str(result)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"infer_probe failed: {proc.stderr[-2000:]}")
    data: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
    speed = data["examples_per_s"]
    data["speedup_vs_per_example"] = speed["batched"] / speed["per_example"]
    data["speedup_vs_naive"] = speed["batched"] / speed["naive"]
    return data
