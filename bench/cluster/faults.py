"""Fault injection on the real local SLURM cluster, shared by tests/slurm/test_faults.py and
scripts/reliability.py (so it lives outside tests/): the searches every fault runs,
scheduler-call wrappers that can stall at an exact point, and the invariants every faulted
search must keep (the kill -9 campaign built on them is in bench.cluster.kills and campaign,
the daemon and node faults in bench.cluster.daemons).

Every search here runs the users' own fake scripts (tests/fixtures/byo): training writes a
checkpoint every `every_s` seconds, inference prints the legacy accuracy line from `CURVE`,
on which only checkpoint 5 (step 500) reaches the target. Whatever order results arrive
in, an uninterrupted search therefore ends `target_reached` at step 500: a fixed decision
that every faulted run must reproduce.
"""

from __future__ import annotations

import json
import os
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

from bench.cluster.journal import journal_events
from bench.cluster.slurmtools import SCHED_COMMANDS, cancel, sacct_since, squeue_rows, which
from orchestrator.common import layout

ROOT = Path(__file__).resolve().parents[2]

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
# logs every call to {name}; see bench/cluster/faults.py (tool_wrappers)
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


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
