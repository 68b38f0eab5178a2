"""The login-node footprint (issue 11): the controller's CPU seconds per hour and its peak RSS
while it tracks 10 concurrent trials and 200 real SLURM jobs.

Theory of operation: as the `rss` phase does (bench.cluster.tracked), 200 held SLURM jobs are real
scheduler records that take no CPU; a journal is written as if a controller had started 10
trials and submitted them (one training job and 19 inference jobs each). The real CLI
resumed on it tracks exactly those jobs: it polls sacct on its back-off cadence and scans
10 trials' folders every executor.fs_interval_s, and never submits or decides anything:
the steady state of a long search, which is what a login node hosts for days. CPU time is
read from /proc after a warm-up (imports, the first polls) and scaled to an hour; peak RSS
is VmHWM over the whole run.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.cluster.slurmtools import STATUS_COMMANDS, make_counter
from bench.cluster.tracked import tracking_overrides
from bench.phases.scenario import launch_ours

TRIALS = 10
JOBS = 200
WARMUP_S = 20.0


def write_trials_journal(overrides: Sequence[str], job_ids: Sequence[str],
                         trials: int) -> Path:
    """A journal whose controller runs `trials` trials and tracks `job_ids`, spread evenly
    (each trial: its training job, then inference jobs of its checkpoints)."""
    from orchestrator.common import layout
    from orchestrator.config import compose as config
    from orchestrator.engine import job_requests
    from orchestrator.journal.jsonl import Journal

    settings = config.to_settings(config.compose(list(overrides)))
    search_dir = Path(settings.search.dir)
    search_dir.mkdir(parents=True, exist_ok=True)
    journal = Journal(search_dir / "journal.jsonl")
    per_trial = len(job_ids) // trials
    try:
        journal.append("search_started", settings=asdict(settings))
        for trial in range(1, trials + 1):
            trial_dir = layout.trial_dir(search_dir, trial)
            seed = layout.trial_seed(settings.train.seed, trial)
            journal.append("trial_started", trial=trial, seed=seed, output_dir=str(trial_dir),
                           params={}, sampler_trial=None)
            ids = job_ids[(trial - 1) * per_trial: trial * per_trial]
            for index, job_id in enumerate(ids):
                if index == 0:
                    request = job_requests.train_request(settings, search_dir, trial, seed, 0)
                    step = None
                else:
                    step = index * settings.train.save_steps
                    checkpoint = str(layout.checkpoint_dir(trial_dir, step))
                    journal.append("checkpoint", trial=trial, step=step, path=checkpoint)
                    request = job_requests.infer_request(settings, search_dir, trial, step,
                                                         checkpoint, 0)
                # no name: the held jobs have their own, which a named job would read as
                # an id SLURM gave to another job (LOST, then retried)
                journal.append("submit_intent", key=request.key, kind=request.kind,
                               trial=trial, step=step, attempt=0, folder=str(request.folder),
                               name="", overrides={})
                journal.append("submitted", key=request.key, job_id=job_id)
    finally:
        journal.close()
    return search_dir


def _cpu_s(pid: int) -> float | None:
    import os

    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def footprint(workdir: Path, prefix: str, held: Sequence[str], window_s: float,
              trials: int = TRIALS) -> dict[str, Any]:
    """The real CLI on a journal of `trials` trials tracking `held`, for `window_s`."""
    search_dir = workdir / f"{prefix}footprint"
    overrides = [*tracking_overrides(search_dir), f"search.max_trials={trials}",
                 f"search.max_concurrent_trials={trials}"]
    write_trials_journal(overrides, held, trials)
    counter = make_counter(workdir / "calls-footprint")
    run = launch_ours("footprint", overrides, workdir / "footprint-controller.log", counter)
    pid = run.process.pid
    warm: tuple[float, float] | None = None
    last: tuple[float, float] | None = None
    peak = 0.0
    while time.time() < run.t_launch + window_s and run.process.poll() is None:
        cpu, hwm, now = _cpu_s(pid), _hwm_mb(pid), time.time()
        peak = max(peak, hwm or 0.0)
        if cpu is not None:
            last = (now, cpu)
            if warm is None and now - run.t_launch >= WARMUP_S:
                warm = last
        time.sleep(1.0)
    alive = run.process.poll() is None
    run.process.send_signal(signal.SIGINT)
    try:
        run.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        run.process.kill()
        run.process.wait()
    steady = None
    if warm and last and last[0] > warm[0]:
        steady = (last[1] - warm[1]) / (last[0] - warm[0]) * 3600.0
    calls = counter.calls()
    return {"trials": trials, "jobs": len(held), "window_s": window_s, "warmup_s": WARMUP_S,
            "alive_for_the_whole_window": alive, "vm_hwm_mb": peak,
            "cpu_s_total": last[1] if last else None, "cpu_s_per_hour": steady,
            "status_calls": sum(1 for c in calls if c.command in STATUS_COMMANDS),
            "other_calls": sorted({c.command for c in calls
                                   if c.command not in STATUS_COMMANDS})}
