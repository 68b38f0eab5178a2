"""The bench's own thin SLURM helpers: counting wrappers, sacct accounting, clean-up.

Theory of operation. Every scheduler call that a measured program makes is counted by a
wrapper script of the same name placed first on that program's PATH: it appends one line
`<unix time> <command> <args>` to a log and execs the real binary, so the program cannot
tell the difference (tests/support/slurm.py counting_path uses the same wrappers). Job-seconds come
from sacct's Elapsed of every job allocation whose name starts with a run's prefix, read only
once every such job has a final state (sacct lags slurmctld by a few seconds).
"""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SCHED_COMMANDS = ("sacct", "squeue", "scontrol", "sbatch", "scancel")
STATUS_COMMANDS = ("sacct", "squeue", "scontrol")  # queries; sbatch/scancel are actions
FINAL_STATES = frozenset({"BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED",
                          "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED", "TIMEOUT", "REVOKED"})
SUBMITTED = re.compile(r"Submitted batch job (\d+)")


class SlurmError(RuntimeError):
    """A SLURM command the bench needs failed; the message names the command."""


def which(name: str, path: str | None = None) -> str:
    for folder in (path or os.environ.get("PATH", "")).split(os.pathsep):
        candidate = Path(folder) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise SlurmError(f"{name} is not on PATH; start the cluster with scripts/local-slurm up")


@dataclass(frozen=True)
class Call:
    t: float
    command: str
    args: tuple[str, ...]


@dataclass(frozen=True)
class CallCounter:
    """Wrappers in `bin_dir` that log every scheduler call to `log`."""

    bin_dir: Path
    log: Path

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        return env

    def calls(self) -> list[Call]:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        return parse_call_log(text)


def make_counter(folder: Path) -> CallCounter:
    folder.mkdir(parents=True, exist_ok=True)
    bin_dir = folder / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = folder / "scheduler-calls.log"
    log.touch()
    for name in SCHED_COMMANDS:
        real = which(name)
        script = bin_dir / name
        script.write_text(
            "#!/bin/sh\n"
            f'echo "$(date +%s.%N) {name} $*" >> {shlex.quote(str(log))}\n'
            f'exec {shlex.quote(real)} "$@"\n',
            encoding="utf-8",
        )
        script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return CallCounter(bin_dir, log)


def parse_call_log(text: str) -> list[Call]:
    calls: list[Call] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        try:
            t = float(parts[0])
        except ValueError:
            continue
        calls.append(Call(t, parts[1], tuple(parts[2:])))
    return calls


def count_calls(calls: Iterable[Call]) -> dict[str, int]:
    counts = Counter(c.command for c in calls)
    return {name: counts.get(name, 0) for name in SCHED_COMMANDS}


def submitted_id(stdout: str) -> str:
    """The job id in sbatch's `Submitted batch job 123` line."""
    match = SUBMITTED.search(stdout)
    if match is None:
        raise SlurmError(f"sbatch printed no job id: {stdout.strip()[:200]!r}")
    return match.group(1)


def sbatch(args: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    proc = subprocess.run(["sbatch", *args], capture_output=True, text=True, timeout=60,
                          check=False, env=None if env is None else dict(env))
    if proc.returncode != 0:
        raise SlurmError(f"sbatch {' '.join(args)} failed: {proc.stderr.strip()[:300]}")
    return submitted_id(proc.stdout)


# ---------------------------------------------------------------------------- accounting
@dataclass(frozen=True)
class SacctRow:
    job_id: str
    name: str
    state: str  # first word: "CANCELLED by 0" -> CANCELLED
    elapsed_s: float
    partition: str
    alloc_cpus: int
    submit: str
    start: str
    end: str

    @property
    def final(self) -> bool:
        # a job that ended within seconds first shows a placeholder row with no partition
        return self.state in FINAL_STATES and bool(self.partition) and self.end != "Unknown"


SACCT_FIELDS = "JobID,JobName%120,State,Elapsed,Partition,AllocCPUS,Submit,Start,End"


def parse_elapsed(text: str) -> float:
    """sacct's Elapsed `[D-]HH:MM:SS` (or `MM:SS`) in seconds."""
    text = text.strip()
    days = 0
    if "-" in text:
        head, text = text.split("-", 1)
        days = int(head)
    parts = [int(p) for p in text.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    hours, minutes, seconds = parts[-3:]
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


def parse_sacct_rows(text: str) -> list[SacctRow]:
    """Rows of `sacct -X -n -P -o SACCT_FIELDS`."""
    rows: list[SacctRow] = []
    for line in text.splitlines():
        cols = line.split("|")
        if len(cols) < 9 or not cols[0]:
            continue
        state = cols[2].split()[0] if cols[2].split() else ""
        try:
            elapsed = parse_elapsed(cols[3])
            cpus = int(cols[5] or 0)
        except ValueError:
            continue
        rows.append(SacctRow(cols[0], cols[1], state, elapsed, cols[4], cpus, cols[6], cols[7],
                             cols[8]))
    return rows


def sacct_since(since: float) -> list[SacctRow]:
    start = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(since - 120))
    proc = subprocess.run(
        ["sacct", "-X", "-n", "-P", "-S", start, "-o", SACCT_FIELDS],
        capture_output=True, text=True, timeout=120, check=False,
    )
    if proc.returncode != 0:
        raise SlurmError(f"sacct failed: {proc.stderr.strip()[:300]}")
    return parse_sacct_rows(proc.stdout)


def final_rows(prefix: str, since: float, timeout_s: float = 90) -> list[SacctRow]:
    """Every job named `prefix...` since `since`, once all of them have a final row."""
    deadline = time.monotonic() + timeout_s
    rows: list[SacctRow] = []
    while True:
        rows = [r for r in sacct_since(since) if r.name.startswith(prefix)]
        if rows and all(r.final for r in rows):
            return rows
        if time.monotonic() > deadline:
            pending = [f"{r.job_id} {r.name} {r.state}" for r in rows if not r.final]
            raise SlurmError(f"sacct rows for {prefix}* not final after {timeout_s} s: {pending}")
        time.sleep(1.0)


def sacct_time(text: str) -> float | None:
    """A sacct timestamp (`2026-11-23T09:09:41`, local time) as unix time; None if unset."""
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def queue_wait_s(row: SacctRow) -> float | None:
    submit, start = sacct_time(row.submit), sacct_time(row.start)
    return start - submit if submit is not None and start is not None else None


def job_seconds(rows: Iterable[SacctRow]) -> float:
    return float(sum(r.elapsed_s for r in rows))


# ---------------------------------------------------------------------------- clean-up
def squeue_rows() -> list[tuple[str, str, str, str]]:
    """(job id, name, state, reason) of every job slurmctld holds (none if squeue fails)."""
    proc = subprocess.run(["squeue", "-h", "-o", "%i|%j|%T|%r"], capture_output=True,
                          text=True, timeout=60, check=False)
    rows = [line.split("|", 3) for line in proc.stdout.splitlines() if line.count("|") >= 3]
    return [(r[0].strip(), r[1], r[2], r[3]) for r in rows]


def live_jobs_with_prefix(prefix: str) -> list[str]:
    return [r[0] for r in squeue_rows() if r[1].startswith(prefix)]


def cancel(job_ids: Sequence[str]) -> None:
    for start in range(0, len(job_ids), 500):
        chunk = list(job_ids[start:start + 500])
        if chunk:
            subprocess.run(["scancel", *chunk], capture_output=True, timeout=120, check=False)


def cancel_prefix(prefix: str) -> list[str]:
    """scancel every queued or running job whose name starts with `prefix` (ours only)."""
    ids = live_jobs_with_prefix(prefix)
    cancel(ids)
    return ids


def idle_cpus() -> int | None:
    """Idle CPUs of the cluster (sinfo's %C is allocated/idle/other/total)."""
    # the host node only: the namespaced nodes n1..n3 are not in the default partition
    host = subprocess.run(["hostname", "-s"], capture_output=True, text=True,
                          check=False).stdout.strip()
    proc = subprocess.run(["sinfo", "-h", "-n", host, "-o", "%C"], capture_output=True,
                          text=True, timeout=60, check=False)
    try:
        return sum(int(line.split("/")[1]) for line in proc.stdout.split())
    except (IndexError, ValueError):
        return None


def wait_for_idle(cpus: int, timeout_s: float) -> float:
    """Wait (at most timeout_s) until `cpus` CPUs are idle: other people's jobs share this
    node, and a bench job that queues behind them measures their runtime, not ours.
    Returns the seconds waited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        idle = idle_cpus()
        if idle is None or idle >= cpus:
            break
        time.sleep(2.0)
    return time.monotonic() - t0


def other_jobs(prefix: str) -> list[str]:
    """Jobs in the queue that are not the bench's: they share the node and skew timings."""
    return [f"{job_id}|{name}|{state}" for job_id, name, state, _ in squeue_rows()
            if not name.startswith(prefix)]


def slurm_version() -> str:
    proc = subprocess.run(["sbatch", "--version"], capture_output=True, text=True, timeout=30,
                          check=False)
    return proc.stdout.strip() or "unknown"
