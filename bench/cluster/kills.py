"""The kill -9 campaign's cases for a controller run in the foreground: the uninterrupted
reference search, and a case that kill -9s the controller at a stratified point of the
reference's timeline (replayed as journal lines written plus seconds after the last), then
reruns the search to its end and checks it with the invariants of bench.cluster.faults.
bench.cluster.detached_kills does the same to a detached controller; bench.cluster.campaign
draws and runs the cases.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.cluster.faults import (
    Decision,
    check_search,
    controller_env,
    decision,
    in_flight,
    journal_lines,
    last_event,
    new_search_dir,
    overrides,
    run,
    start,
    tool_wrappers,
)
from bench.cluster.journal import journal_events

GAP_CAP_S = 1.5  # a longer pause of the reference (a busy queue) counts as this long


@dataclass
class Reference:
    decision: Decision
    duration_s: float
    lines: int
    times: list[float]  # when each journal line was written, seconds after the start

    @property
    def timeline_s(self) -> float:
        """The reference's duration with every pause between two journal lines (and before
        the first, and after the last until it exited) capped at GAP_CAP_S: a stall of the
        queue during the reference must not pile the kill points up in it."""
        edges = [0.0, *self.times, self.duration_s]
        return sum(min(b - a, GAP_CAP_S) for a, b in itertools.pairwise(edges))

    def point(self, at_s: float) -> tuple[int, float]:
        """A moment of the capped timeline as (journal lines written by then, seconds since
        the last of them): the same moment of another run, however fast it goes."""
        edges = [0.0, *self.times, self.duration_s]
        elapsed = 0.0
        for lines, (a, b) in enumerate(itertools.pairwise(edges)):
            gap = min(b - a, GAP_CAP_S)
            if at_s < elapsed + gap or lines == len(edges) - 2:
                return min(lines, self.lines), min(at_s - elapsed, gap)
            elapsed += gap
        return self.lines, 0.0


@dataclass
class KillCase:
    seed: int
    kills: list[str] = field(default_factory=list)  # where each kill landed
    runs: int = 0
    wall_s: float = 0.0
    interrupted: list[str] = field(default_factory=list)  # submissions a kill cut in two
    missed: list[str] = field(default_factory=list)  # kill points the run ended before
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def line(self) -> str:
        verdict = "ok" if self.passed else "FAILED: " + "; ".join(self.problems)
        missed = f" (kill points it ended before: {'; '.join(self.missed)})" if self.missed else ""
        return (f"seed {self.seed}: {len(self.kills)} kill(s) [{', '.join(self.kills)}]"
                f"{missed}, {self.runs} runs, {self.wall_s:.1f} s: {verdict}")


def reference_run(workdir: Path) -> Reference:
    """One uninterrupted search: its decision, wall time and journal timeline."""
    directory = new_search_dir(workdir, "ref")
    tools, log = tool_wrappers(workdir / "ref-tools")
    started, wall = time.monotonic(), time.time()
    code = run(overrides(directory), controller_env(tools), workdir / "reference.log")
    duration = time.monotonic() - started
    problems = [] if code == 0 else [f"exit {code}"]
    times = [float(e["t"]) - wall for e in journal_events(directory)]
    reference = Reference(decision(directory) if code == 0 else ("", []), duration,
                          len(times), times)
    found = check_search(directory, ("target_reached", [(1, "target_reached", 500)]), log)
    problems += found.problems
    if problems:
        raise AssertionError(f"the reference run itself is wrong: {problems}")
    return reference


def wait_for_kill_point(proc: subprocess.Popen[bytes], directory: Path, lines: int,
                         then_s: float) -> bool:
    """Wait (polling every 5 ms) until the journal has `lines` lines, then `then_s` seconds
    more; False if the controller ended first."""
    while proc.poll() is None and journal_lines(directory) < lines:
        time.sleep(0.005)
    deadline = time.monotonic() + then_s
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(min(0.005, max(0.0, deadline - time.monotonic())))
    return proc.poll() is None


def kill_case(workdir: Path, seed: int, reference: Reference, stratum: float) -> KillCase:
    """Kill the controller of one search once or twice with kill -9, then rerun it to its end.

    The first kill comes at the moment `stratum` (a fraction in [0, 1), drawn by the caller)
    of the reference search's (capped) timeline, startup and finish included. That moment is
    replayed as (journal lines written, seconds after the last one), so that a slower or
    faster run is still killed at the same point of its work; should this run end before
    it, the case starts over on a new search.dir with half the delay after that line (a
    kill must land). Two cases in five kill the rerun as well, at a random later line.
    """
    rng = random.Random(seed)
    case = KillCase(seed)
    started = time.monotonic()
    at_s = stratum * reference.timeline_s
    lines, then_s = reference.point(at_s)
    for attempt in range(4):
        directory = new_search_dir(workdir, f"kill{seed:03d}")
        tools, log = tool_wrappers(workdir / f"tools-{seed:03d}-{attempt}")
        env = controller_env(tools)
        args = overrides(directory)
        out = workdir / f"kill{seed:03d}-{attempt}.log"
        case.runs += 1
        where = f"{at_s:.2f}s (line {lines} +{then_s:.2f}s)"
        if _kill_at(case, args, env, out, directory, lines, then_s, where):
            break
        then_s = then_s / 2 if attempt < 2 else 0.0  # the last try kills right at the line
        if lines >= reference.lines:
            lines = reference.lines - 1
    if rng.random() < 0.4:  # kill the rerun too
        before = journal_lines(directory)
        lines = before + 1 + rng.randrange(max(1, reference.lines - before + 1))
        then_s = rng.uniform(0.0, 0.5)
        case.runs += 1
        _kill_at(case, args, env, out, directory, lines, then_s,
                 f"rerun line {lines} +{then_s:.2f}s")
    code = run(args, env, out)
    case.runs += 1
    case.wall_s = time.monotonic() - started
    if code != 0:
        case.problems.append(f"final run exit {code} (log {out})")
    found = check_search(directory, reference.decision, log)
    case.problems += found.problems
    return case


def _kill_at(case: KillCase, args: list[str], env: dict[str, str], out: Path,
             directory: Path, lines: int, then_s: float, where: str) -> bool:
    """Start (or resume) the search and kill -9 its controller at the point; True if the
    kill landed before the controller ended by itself."""
    proc = start(args, env, out)
    if wait_for_kill_point(proc, directory, lines, then_s):
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        case.kills.append(f"{where} after {last_event(directory)}")
        case.interrupted += sorted(in_flight(journal_events(directory)))
        return True
    case.missed.append(f"{where}: ended first (exit {proc.returncode})")
    return False
