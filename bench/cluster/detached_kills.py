"""The kill -9 campaign's cases for a detached controller (`run --detach`, issue 11).

Theory of operation: as `kills.kill_case`, at the same stratified point of the reference
search's timeline, but the controller runs as its own SLURM job: the case detaches the
search, waits for that job's controller process (the pid in `controller.json`, with the job
id beside it) to reach the kill point, and kill -9s it inside its job (the job then FAILS,
as a node that lost the controller would). Two cases in five kill the next detached
controller as well. The search is then detached once more and followed with `orchestrator
watch` to its end, and checked with the campaign's invariants: same decision, nothing
submitted or evaluated twice, nothing left queued (the controller jobs themselves, one per
detach, are the only jobs of the search that sacct holds beyond the journal's).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

from bench.cluster import faults, kills
from bench.cluster.journal import journal_events
from orchestrator.journal.lock import is_controller, read_holder


class _Detached:
    """The detached controller's process, found through controller.json, as a Popen-like
    object for kills.wait_for_kill_point."""

    def __init__(self, directory: Path, after: float) -> None:
        self.directory, self.after, self.pid = directory, after, 0
        self.returncode: int | None = None

    def poll(self) -> int | None:
        holder = read_holder(self.directory)
        if self.pid == 0 and holder and holder.get("slurm_job_id") and \
                holder.get("since", 0) >= self.after:
            self.pid = int(holder["pid"])
        if self.pid and not is_controller(self.pid):
            self.returncode = 0
        return self.returncode


def _detach(args: list[str], env: dict[str, str], out: Path) -> None:
    with open(out, "ab") as log:
        subprocess.run([faults.PY, "-m", "orchestrator", *args, "--detach"], env=env,
                       stdout=log, stderr=subprocess.STDOUT, check=False, timeout=120)


def _kill_detached(case: kills.KillCase, args: list[str], env: dict[str, str], out: Path,
                   directory: Path, lines: int, then_s: float, where: str) -> bool:
    """Detach the search (`args` start with `run`, as faults.overrides) and kill -9 its
    controller (inside its SLURM job) at the point."""
    started = time.time()
    _detach(args, env, out)
    proc = _Detached(directory, started)
    deadline = time.monotonic() + 180
    while proc.pid == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # the controller job is queued, then takes the lock
    if proc.pid and kills.wait_for_kill_point(proc, directory, lines, then_s):  # type: ignore[arg-type]
        os.kill(proc.pid, signal.SIGKILL)
        case.kills.append(f"detached {where} after {faults.last_event(directory)}")
        case.interrupted += sorted(faults.in_flight(journal_events(directory)))
        return True
    case.missed.append(f"detached {where}: ended first")
    return False


def detached_kill_case(workdir: Path, seed: int, reference: kills.Reference,
                       stratum: float) -> kills.KillCase:
    rng = random.Random(seed)
    case = kills.KillCase(seed)
    started = time.monotonic()
    at_s = stratum * reference.timeline_s
    lines, then_s = reference.point(at_s)
    directory = faults.new_search_dir(workdir, f"detached{seed:03d}")
    tools, log = faults.tool_wrappers(workdir / f"tools-{seed:03d}-detached")
    env = faults.controller_env(tools)
    args = faults.overrides(directory)
    out = workdir / f"detached{seed:03d}.log"
    case.runs += 1
    _kill_detached(case, args, env, out, directory, lines, then_s,
                   f"{at_s:.2f}s (line {lines} +{then_s:.2f}s)")
    if rng.random() < 0.4:
        before = faults.journal_lines(directory)
        lines = before + 1 + rng.randrange(max(1, reference.lines - before + 1))
        case.runs += 1
        _kill_detached(case, args, env, out, directory, lines, rng.uniform(0.0, 0.5),
                       f"rerun line {lines}")
    time.sleep(1)  # the killed controller's job ends; its lock is the OS's to release
    _detach(args, env, out)
    case.runs += 1
    watched = subprocess.run([faults.PY, "-m", "orchestrator", "watch", str(directory),
                              "--plain"], env=env, capture_output=True, text=True,
                             check=False, timeout=900)
    case.wall_s = time.monotonic() - started
    if watched.returncode != 0:
        case.problems.append(f"watch exit {watched.returncode} (log {out})")
    case.problems += faults.check_search(directory, reference.decision, log).problems
    return case
