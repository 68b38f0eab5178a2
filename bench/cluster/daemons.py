"""The daemon and node faults of the local SLURM cluster, and their guaranteed repair, shared
by tests/slurm/test_faults.py and scripts/reliability.py: stop slurmctld or slurmdbd by its
pidfile, drain the node or set it DOWN, then `scripts/local-slurm up` and `resume` whatever
happened. Never under a running benchmark: they time this shared cluster.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

LOCAL_SLURM = Path(__file__).resolve().parents[2] / "scripts" / "local-slurm"


def benchmarks_running() -> bool:
    return subprocess.run(["pgrep", "-f", "python -m bench"], capture_output=True,
                          check=False).returncode == 0


def wait_for_benchmarks(timeout_s: float = 2700, poll_s: float = 30,
                        say: Callable[[str], None] | None = None) -> float:
    """Wait until no `python -m bench` runs (they time the shared cluster); seconds waited.

    Raises TimeoutError after `timeout_s`: never stop a daemon under a benchmark.
    """
    started = time.monotonic()
    while benchmarks_running():
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"benchmarks still running after {timeout_s:.0f} s")
        if say:
            say("waiting for `python -m bench` to finish before touching the daemons")
        time.sleep(poll_s)
    return time.monotonic() - started


def daemon_pid(name: str) -> int:
    """The pid in /run/<name>.pid, checked against /proc/PID/comm (pidfiles go stale)."""
    pid = int(Path(f"/run/{name}.pid").read_text().split()[0])
    comm = Path(f"/proc/{pid}/comm").read_text().strip()
    # 24.11's `scontrol reconfigure` re-executes slurmctld as slurmctld-wlm (REL_COMM_ALIAS in
    # scripts/local-slurm's "release differences")
    if comm not in (name, f"{name}-wlm"):
        raise RuntimeError(f"/run/{name}.pid holds {pid}, which is {comm!r}, not {name}")
    return pid


def stop_daemon(name: str, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
    """Stop one daemon by its pidfile; returns its pid once the process is gone."""
    pid = daemon_pid(name)
    os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z":
                break  # a zombie of whoever started it: gone for our purpose
        time.sleep(0.1)
    return pid


def node_name() -> str:
    return subprocess.run(["hostname", "-s"], capture_output=True, text=True,
                          check=True).stdout.strip()


def set_node(state: str, reason: str = "fault test") -> subprocess.CompletedProcess[str]:
    args = ["scontrol", "update", f"nodename={node_name()}", f"state={state}"]
    if state != "resume":
        args.append(f"reason={reason}")
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)


def node_state() -> str:
    """The node's state as sinfo shows it (once, though it is in two partitions)."""
    out = subprocess.run(["sinfo", "-h", "-N", "-n", node_name(), "-o", "%T"],
                         capture_output=True, text=True, check=False, timeout=60).stdout.split()
    return ",".join(sorted(set(out)))


def restore_cluster() -> None:
    """Bring every daemon back and the node into service: safe to call at any time."""
    subprocess.run([str(LOCAL_SLURM), "up"], capture_output=True, text=True, check=False,
                   timeout=900)
    set_node("resume")  # "Invalid node state" when it is already in service: harmless


@contextlib.contextmanager
def cluster_restored() -> Iterator[None]:
    try:
        yield
    finally:
        restore_cluster()
