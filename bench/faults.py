"""Fault injection on the real local SLURM cluster, shared by tests/slurm/test_faults.py and
scripts/reliability.py (so it lives outside tests/): the kill -9 campaign, scheduler-call
wrappers that can stall at an exact point, and the invariants every faulted search must keep
(the daemon and node faults are in bench.daemons).

Every search here runs the users' own fake scripts (tests/fixtures/byo): training writes a
checkpoint every `every_s` seconds, inference prints the legacy accuracy line from `CURVE`,
on which only checkpoint 5 (step 500) reaches the target. Whatever order results arrive
in, an uninterrupted search therefore ends `target_reached` at step 500: a fixed decision
that every faulted run must reproduce.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import stat
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.scenario import journal_events
from bench.slurmtools import SCHED_COMMANDS, cancel, sacct_since, squeue_rows, which
from orchestrator.common import layout

ROOT = Path(__file__).resolve().parents[1]

BYO = ROOT / "tests" / "fixtures" / "byo"
PY = sys.executable

# only checkpoint 5 reaches 80 and the curve falls after it: the decision cannot depend on
# which of two concurrent evaluations returns first
CURVE = (40.0, 55.0, 62.0, 70.0, 81.0, 76.0, 74.0, 72.0, 71.0, 70.0, 69.0, 68.0)
TARGET = 80.0
DECISION_STEP = 500
Decision = tuple[str, list[tuple[int, str, int | None]]]


# --------------------------------------------------------------------------- searches
def new_search_dir(parent: Path, label: str) -> Path:
    """A search.dir with a unique folder name: SLURM job names (and so sacct) derive from it."""
    return parent / f"{label}-{uuid.uuid4().hex[:8]}"


def overrides(directory: Path, *, checkpoints: int = 8, every_s: float = 0.7,
              infer_sleep_s: float = 1.0, linger_s: float = 0.0,
              extra: Sequence[str] = ()) -> list[str]:
    """The `orchestrator run` arguments of a fast BYO search on SLURM in `directory`."""
    curve = ",".join(f"{v:g}" for v in CURVE)
    train = (f"{PY} {BYO / 'fake_train.py'} {{output_dir}} --checkpoints {checkpoints} "
             f"--every-s {every_s} --linger-s {linger_s}")
    infer = f"{PY} {BYO / 'fake_infer.py'} {{checkpoint}} --curve {curve} --sleep-s {infer_sleep_s}"
    return [
        "run", "executor=slurm", f"search.dir={directory}", f"search.target={TARGET:g}",
        f"train.command='{train}'", f"infer.command='{infer}'",
        "executor.poll_interval_s=1", "executor.max_poll_interval_s=2",
        "executor.fs_interval_s=0.2", "search.drain_timeout_s=30", *extra, "--plain",
    ]


def controller_env(tools: Path | None = None, **knobs: str) -> dict[str, str]:
    """The controller's environment: offline, quiet, and the logging tool wrappers first."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1", **knobs}
    if tools is not None:
        env["PATH"] = f"{tools}:{os.environ['PATH']}"
    return env


def start(args: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as handle:
        return subprocess.Popen([PY, "-m", "orchestrator", *args], cwd=ROOT, env=env,
                                stdout=handle, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)


def run(args: Sequence[str], env: dict[str, str], log: Path,
        timeout: float = 300) -> int:
    """Run the controller to its end; its exit status (output appended to `log`)."""
    proc = start(args, env, log)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def journal_lines(directory: Path) -> int:
    try:
        return (directory / "journal.jsonl").read_bytes().count(b"\n")
    except OSError:
        return 0


def last_event(directory: Path) -> str:
    evs = journal_events(directory)
    return str(evs[-1]["event"]) if evs else "(no journal)"


def decision(directory: Path) -> Decision:
    summary = json.loads((directory / "summary.json").read_text())
    ended = [(e["trial"], e["how"], e.get("step")) for e in journal_events(directory)
             if e["event"] == "trial_ended"]
    return str(summary["status"]), ended


# --------------------------------------------------------------------------- tool wrappers
WRAPPER = """#!/bin/sh
# logs every call to {name}; see bench/faults.py (tool_wrappers)
log="{log}"
parent=$PPID
if [ "{name}" = sbatch ] && [ "$1" = --test-only ]; then  # the preflight: submits nothing
  echo "$(date +%s.%N) sbatch --test-only" >> "$log"
  exec "{real}" "$@"
fi
if [ "{name}" = sbatch ]; then
  jobname=$(sed -n 's/^#SBATCH --job-name=//p' "$1" 2>/dev/null | head -n 1)
  if [ -n "$FAULTKIT_DELAY_SBATCH" ]; then
    case "$jobname" in *"$FAULTKIT_DELAY_SBATCH"*)
      echo "$(date +%s.%N) delay sbatch name=$jobname" >> "$log"
      sleep "${{FAULTKIT_DELAY_S:-5}}";;
    esac
  fi
  out=$("{real}" "$@"); rc=$?
  echo "$(date +%s.%N) sbatch rc=$rc name=$jobname out=$out" >> "$log"
  if [ -n "$FAULTKIT_STALL_SBATCH" ] && [ $rc -eq 0 ]; then
    case "$jobname" in *"$FAULTKIT_STALL_SBATCH"*)
      echo "$(date +%s.%N) stall sbatch name=$jobname out=$out" >> "$log"
      sleep "${{FAULTKIT_STALL_S:-5}}";;
    esac
  fi
  printf '%s\\n' "$out"
  exit $rc
fi
if [ "{name}" = scancel ] && [ -n "$FAULTKIT_STALL_SCANCEL" ]; then
  echo "$(date +%s.%N) stall scancel $*" >> "$log"
  sleep "${{FAULTKIT_STALL_S:-5}}"
  if ! kill -0 "$parent" 2>/dev/null; then
    echo "$(date +%s.%N) scancel lost with its caller: $*" >> "$log"
    exit 1
  fi
fi
if [ "{name}" = sacct ] && [ -n "$FAULTKIT_SACCT_DOWN" ] && [ -e "$FAULTKIT_SACCT_DOWN" ]; then
  echo "$(date +%s.%N) sacct (down) $*" >> "$log"
  echo "sacct: error: Problem talking to the database: Connection refused" >&2
  exit 1
fi
echo "$(date +%s.%N) {name} $*" >> "$log"
exec "{real}" "$@"
"""


def tool_wrappers(folder: Path) -> tuple[Path, Path]:
    """A bin folder whose sbatch/scancel/sacct/squeue/scontrol log each call, and the log.

    sbatch logs the job name it submitted and the id it got. Knobs, read from the
    environment of each call: FAULTKIT_STALL_SBATCH=<part of a job name> stalls
    FAULTKIT_STALL_S seconds after that job was really submitted, before its id reaches the
    controller (the window between sbatch and the journal's `submitted`);
    FAULTKIT_DELAY_SBATCH=<part of a job name> waits FAULTKIT_DELAY_S seconds before that
    job is submitted (an sbatch on its way to a slow slurmctld: a killed caller leaves it
    running, and it lands later);
    FAULTKIT_STALL_SCANCEL=1 stalls before every scancel, and a caller killed meanwhile
    takes the scancel with it (it never reaches the scheduler); FAULTKIT_SACCT_DOWN=<file>
    makes sacct fail as it does with slurmdbd down, for as long as that file exists.
    """
    bin_dir = folder / "tool-bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    log = folder / "scheduler-calls.log"
    for name in SCHED_COMMANDS:
        script = bin_dir / name
        script.write_text(WRAPPER.format(name=name, log=log, real=which(name)))
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return bin_dir, log


def sbatch_names(log: Path) -> Counter[str]:
    """How many times each job name was really submitted (successful sbatch calls)."""
    if not log.exists():
        return Counter()
    names = [part.removeprefix("name=") for line in log.read_text().splitlines()
             if " sbatch rc=0 " in line for part in line.split() if part.startswith("name=")]
    return Counter(names)


# --------------------------------------------------------------------------- SLURM views
def sacct_rows(name_prefix: str, ids: Sequence[str] = ()) -> list[tuple[str, str, str]]:
    """(job id, job name, state) of the allocations whose name starts with `name_prefix`.

    A job that ended within seconds first has a placeholder row named `allocation`; it is
    replaced 1.5-5 s later, so this waits (up to 20 s) until every id in `ids` has its real
    row before matching on the name.
    """
    deadline = time.monotonic() + 20
    while True:
        mine = [(r.job_id, r.name, r.state) for r in sacct_since(time.time() - 3 * 3600)
                if r.name.startswith(name_prefix)]
        if {m[0] for m in mine} >= set(ids) or time.monotonic() > deadline:
            return mine
        time.sleep(1)


def squeue_jobs(name_prefix: str) -> list[tuple[str, str, str, str]]:
    """(job id, name, state, reason) of this search's jobs that slurmctld still holds."""
    return [r for r in squeue_rows() if r[1].startswith(name_prefix)]


def cancel_leftovers(directory: Path) -> list[str]:
    """scancel whatever job of this search slurmctld still holds (tests clean up after
    themselves); the ids cancelled."""
    ids = [r[0] for r in squeue_jobs(directory.name + "-")]
    cancel(ids)
    return ids


def wait_until_gone(name_prefix: str, timeout: float = 20) -> list[tuple[str, str, str, str]]:
    """Wait for slurmctld to hold no live job of this search; what is still there at the end.

    COMPLETING is not live: the job has ended and SLURM is cleaning up (after a slurmctld
    outage, a step that ended meanwhile retries its completion message for up to 60 s).
    """
    deadline = time.monotonic() + timeout
    left = _live_in_queue(name_prefix)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _live_in_queue(name_prefix)
    return left


def _live_in_queue(name_prefix: str) -> list[tuple[str, str, str, str]]:
    return [r for r in squeue_jobs(name_prefix) if r[2] != "COMPLETING"]


# --------------------------------------------------------------------------- invariants
@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)


def in_flight(evs: Sequence[dict[str, Any]]) -> set[str]:
    """Keys whose submission was journaled as intended but not as done."""
    done = {e["key"] for e in evs if e["event"] == "submitted"}
    return {e["key"] for e in evs if e["event"] == "submit_intent"} - done


def cancelled_before_delivery(evs: Sequence[dict[str, Any]]) -> set[int]:
    """Steps of trial 1 whose last inference attempt the controller cancelled before it was
    seen to succeed. The decision at checkpoint 500 may come while an evaluation of 400 is
    in flight (two run at once; on a loaded machine 500's can end first): 400 is then
    cancelled, not lost. A job that delivered and was cancelled anyway is not listed."""
    last: dict[int, str] = {}
    for e in evs:
        if e["event"] == "submit_intent" and e["kind"] == "infer" and e["trial"] == 1:
            last[e["step"]] = e["key"]
    cancelled = {k for e in evs if e["event"] == "cancel" for k in e["keys"]}
    succeeded = {e["key"] for e in evs if e["event"] == "job_state"
                 and e["state"] == "SUCCEEDED"}
    return {step for step, key in last.items() if key in cancelled and key not in succeeded}


def check_search(directory: Path, reference: Decision, sbatch_log: Path | None,
                 *, max_attempts: int = 1, require_values: bool = True) -> Findings:
    """Everything that must hold after a search that faults interrupted but did not fail.

    The same decision as the reference; every journaled intent submitted once (and, when
    `max_attempts` is 1, every piece of work tried once); exactly one training job and no
    job that the journal does not know in sacct; no evaluation done twice; every complete
    checkpoint up to the decision evaluated, with the curve's value, unless the controller
    cancelled its evaluation before it delivered; nothing left queued.
    """
    found = Findings()
    problems = found.problems
    evs = journal_events(directory)
    raw = (directory / "journal.jsonl").read_text().splitlines()
    if len(raw) != len(evs):
        problems.append(f"journal has {len(raw) - len(evs)} unparsable line(s)")
    if not (directory / "summary.json").exists():
        problems.append("no summary.json: the search did not finish")
        return found
    got = decision(directory)
    if got != reference:
        problems.append(f"decision {got} differs from the reference {reference}")
    problems += _once_each(evs, max_attempts)
    problems += _checkpoints_evaluated(directory, evs, require_values)
    problems += _scheduler_clean(directory, evs, sbatch_log)
    best = directory / "best" / "best.json"
    if not best.exists() or json.loads(best.read_text())["step"] != DECISION_STEP:
        problems.append("best/ does not hold the deciding checkpoint")
    stale = sorted(p.name for p in directory.glob(".best-*"))
    if stale:
        problems.append(f"staging copies left behind: {stale}")
    return found


def _once_each(evs: Sequence[dict[str, Any]], max_attempts: int) -> list[str]:
    """Every intent journaled once, every piece of work tried at most `max_attempts` times,
    every checkpoint evaluated at most once."""
    intents = Counter(e["key"] for e in evs if e["event"] == "submit_intent")
    problems = [f"{k}: {n} submit_intent events" for k, n in intents.items() if n > 1]
    work = Counter((e["kind"], e["trial"], e.get("step")) for e in evs
                   if e["event"] == "submit_intent")
    problems += [f"{w}: submitted {n} times" for w, n in work.items() if n > max_attempts]
    evaluated = Counter((e["trial"], e["step"]) for e in evs if e["event"] == "evaluation")
    return problems + [f"{k}: evaluated {n} times" for k, n in evaluated.items() if n > 1]


def _checkpoints_evaluated(directory: Path, evs: Sequence[dict[str, Any]],
                           require_values: bool) -> list[str]:
    """Every complete checkpoint up to the decision journaled and evaluated (with the curve's
    value), unless the controller cancelled its evaluation before it delivered."""
    problems = []
    values = {(e["trial"], e["step"]): e.get("value") for e in evs if e["event"] == "evaluation"}
    on_disk = sorted(int(p.name.split("-")[1]) for p in
                     layout.trial_dir(directory, 1).glob("checkpoint-*")
                     if (p / "trainer_state.json").exists())
    journaled = {e["step"] for e in evs if e["event"] == "checkpoint"}
    unneeded = cancelled_before_delivery(evs)
    for step in [s for s in on_disk if s <= DECISION_STEP]:
        if step not in journaled:
            problems.append(f"checkpoint {step} is on disk but not journaled")
        if (1, step) not in values:
            if step not in unneeded:
                problems.append(f"checkpoint {step} has no evaluation: a result was lost")
        elif require_values and values[(1, step)] != CURVE[step // 100 - 1]:
            problems.append(f"checkpoint {step}: value {values[(1, step)]}, "
                            f"expected {CURVE[step // 100 - 1]}")
    return problems


def _scheduler_clean(directory: Path, evs: Sequence[dict[str, Any]],
                     sbatch_log: Path | None) -> list[str]:
    """sacct knows only journaled jobs (the expected training jobs among them), sbatch ran
    once per job name, and nothing of the search is left in the queue (cancelled if so)."""
    problems = []
    prefix = directory.name + "-"
    job_ids = {e["job_id"] for e in evs if e["event"] == "submitted" and e.get("job_id")}
    # a detached controller's own jobs (one per `run --detach`) are not the journal's
    rows = [r for r in sacct_rows(prefix, sorted(job_ids)) if not r[1].endswith("-controller")]
    orphans = [r for r in rows if r[0] not in job_ids]
    if orphans:
        problems.append(f"sacct holds jobs the journal does not know: {orphans}")
    trains = [r for r in rows if "-train-" in r[1] and r[0] in job_ids]
    expected = len({e["key"] for e in evs if e["event"] == "submit_intent"
                    and e["key"].startswith("train-")})
    if len(trains) != expected:
        problems.append(f"sacct holds {len(trains)} journaled training jobs, expected "
                        f"{expected}: {trains}")
    if sbatch_log is not None:
        twice = {n: c for n, c in sbatch_names(sbatch_log).items()
                 if n.startswith(prefix) and c > 1 and not n.endswith("-controller")}
        if twice:
            problems.append(f"sbatch ran more than once for {twice}")
    left = wait_until_gone(prefix)
    if left:
        problems.append(f"jobs still queued after the search ended: {left}")
        cancel_leftovers(directory)  # ours: do not leave them to the next test
    return problems


# --------------------------------------------------------------------------- kill -9 campaign
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


def _wait_for_kill_point(proc: subprocess.Popen[bytes], directory: Path, lines: int,
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
    if _wait_for_kill_point(proc, directory, lines, then_s):
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        case.kills.append(f"{where} after {last_event(directory)}")
        case.interrupted += sorted(in_flight(journal_events(directory)))
        return True
    case.missed.append(f"{where}: ended first (exit {proc.returncode})")
    return False


def run_campaign(workdir: Path, kills: int, seed: int = 20261123,
                 progress: Callable[[str], None] | None = None) -> tuple[Reference, list[KillCase]]:
    """N kill cases with stratified random kill points over a reference search."""
    workdir.mkdir(parents=True, exist_ok=True)
    reference = reference_run(workdir)
    if progress:
        progress(f"reference: {reference.decision}, {reference.duration_s:.1f} s, "
                 f"{reference.lines} journal lines")
    rng = random.Random(seed)
    order = list(range(kills))
    rng.shuffle(order)
    cases = []
    from bench.detached_kills import detached_kill_case

    for index in range(kills):
        stratum = (order[index] + rng.random()) / kills
        # every third case: the controller detached as a SLURM job (run --detach)
        one_case = detached_kill_case if index % 3 == 2 else kill_case
        case = one_case(workdir, seed + index, reference, stratum)
        cases.append(case)
        if progress:
            progress(case.line())
    return reference, cases


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
