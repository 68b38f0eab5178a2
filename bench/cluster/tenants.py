"""The other tenants of a busy cluster: jobs that keep every slot of the node full, so that
every newly submitted job waits `wait_s` for one (bench/phases/busy.py's `busy` phase).

Theory of operation. A thread plays the other users. It submits a 1-CPU `sleep` job of its own
every `gap_s` seconds, so that the queue ahead of any measured job always holds tenants' jobs
submitted earlier (priority/basic: first come, first served), and its jobs hold every slot the
measured runs leave free. A slot comes free when a tenant job ends, and the thread ends one
(scancel of its oldest running job) exactly when the oldest pending job has waited `wait_s`
and no free slot fits it (`release_choice`, pure): the tenants' jobs end at the rate that makes
every job wait `wait_s`, whatever the measured runs hold meanwhile. It touches only its own
jobs; `stop()` cancels all of them (call it in a finally).
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bench.cluster.slurmtools import cancel, cancel_prefix, idle_cpus, sacct_time

QUEUED_REASONS = frozenset({"Priority", "Resources", "None"})  # waiting for a slot, no hold


@dataclass(frozen=True)
class QueueRow:
    job_id: str
    name: str
    state: str
    submit: float  # unix time
    cpus: int
    reason: str


def parse_queue(text: str) -> list[QueueRow]:
    """Rows of `squeue -h -o %i|%j|%T|%V|%C|%r` (a row that does not parse is skipped)."""
    rows = []
    for line in text.splitlines():
        cols = line.split("|")
        if len(cols) < 6:
            continue
        submit = sacct_time(cols[3].strip())
        try:
            cpus = int(cols[4])
        except ValueError:
            continue
        if submit is not None:
            rows.append(QueueRow(cols[0].strip(), cols[1], cols[2], submit, cpus, cols[5]))
    return rows


def _order(job_id: str) -> tuple[int, str]:
    head = job_id.split("_")[0]
    return (int(head) if head.isdigit() else 1 << 62, job_id)


def release_choice(rows: Sequence[QueueRow], now: float, wait_s: float, idle: int | None,
                   prefix: str, released: Iterable[str]) -> str | None:
    """Which tenant job to end now (None: none): the oldest running one, when the oldest
    pending job has waited `wait_s`, no free slot fits it, and no job ended before is still
    giving its slot back (COMPLETING) - else two slots would come free for one."""
    listed = {r.job_id for r in rows}
    if listed & set(released):
        return None
    pending = [r for r in rows if r.state == "PENDING" and r.reason in QUEUED_REASONS]
    if not pending:
        return None
    head = min(pending, key=lambda r: _order(r.job_id))  # priority/basic: submission order
    if now - head.submit < wait_s or (idle is not None and idle >= head.cpus):
        return None
    running = [r for r in rows if r.state == "RUNNING" and r.name.startswith(prefix)]
    return min(running, key=lambda r: _order(r.job_id)).job_id if running else None


def squeue_now() -> list[QueueRow]:
    proc = subprocess.run(["squeue", "-h", "-o", "%i|%j|%T|%V|%C|%r"], capture_output=True,
                          text=True, timeout=60, check=False)
    return parse_queue(proc.stdout)


class Tenants:
    """Other users' jobs that keep every slot full (see the module's theory of operation).
    A thread: start(), then stop() in a finally; stop() cancels every tenant job."""

    def __init__(self, prefix: str, wait_s: float, gap_s: float,
                 log: Callable[[str], None]) -> None:
        self.prefix, self.wait_s, self.gap_s, self.log = prefix, wait_s, gap_s, log
        self.submitted: list[str] = []
        self.releases: list[float] = []  # unix times a tenant job was ended
        self.errors: list[str] = []
        self._released: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tenants", daemon=True)

    def _submit(self) -> None:
        name = f"{self.prefix}{len(self.submitted):04d}"
        proc = subprocess.run(
            ["sbatch", "--parsable", f"--job-name={name}", "--cpus-per-task=1", "--time=60",
             "--output=/dev/null", "--wrap", "exec sleep 3000"],
            capture_output=True, text=True, timeout=60, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"tenant sbatch failed: {proc.stderr.strip()[:200]}")
        self.submitted.append(proc.stdout.strip().split(";")[0])

    def start(self) -> None:
        """Fill the free slots at once; the thread then builds the backlog."""
        for _ in range(idle_cpus() or 0):
            self._submit()
        self._thread.start()

    def _tick(self) -> None:
        rows = squeue_now()
        listed = {r.job_id for r in rows}
        self._released &= listed  # those gone have given their slot back
        victim = release_choice(rows, time.time(), self.wait_s, idle_cpus(), self.prefix,
                                self._released)
        if victim is not None:
            cancel([victim])
            self._released.add(victim)
            self.releases.append(time.time())

    def _loop(self) -> None:
        next_submit = time.monotonic()
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_submit:
                    self._submit()
                    next_submit = max(next_submit + self.gap_s, time.monotonic())
                self._tick()
            except Exception as exc:  # keep playing the tenants; the errors are reported
                if not self.errors:
                    self.log(f"tenants: {exc}")
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(0.5)

    def wait_warm(self, timeout_s: float) -> float:
        """Until the backlog is full (the first tenant job ended for a pending one)."""
        t0 = time.monotonic()
        while not self.releases and time.monotonic() - t0 < timeout_s:
            time.sleep(0.5)
        return time.monotonic() - t0

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        cancel(self.submitted)
        cancel_prefix(self.prefix)
