"""One controller per search across hosts, on the real file system, with the real CLI: a
second "host" is a process in its own UTS namespace (`unshare --uts`, another hostname),
and its flock fails with ENOSYS (a `sitecustomize` patches fcntl.flock), as on a file system
whose locks one host cannot see of another (Lustre `noflock`, BeeGFS, NFS `local_lock`).
Only the lease (journal.lease) keeps the two apart."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from orchestrator import exit_codes
from orchestrator.common import layout
from orchestrator.journal import lease
from tests.support import badkit as bk
from tests.support.cli import PY, ROOT, start
from tests.support.journal import events, summary, wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                       reason="a second host needs `unshare --uts` as root"),
]

# training that runs for a minute unless cancelled: a search that is still running
LONG = f"{PY} {bk.BYO / 'fake_train.py'} {{output_dir}} --checkpoints 60 --every-s 1"
NO_FLOCK = """import errno, fcntl, os
def _no_flock(fd, op):
    raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))
fcntl.flock = _no_flock
"""


def on_node_b(tmp_path: Path, *args: str, timeout: float = 300
              ) -> subprocess.CompletedProcess[str]:
    """The CLI on host `node-b`, on a file system without flock."""
    site = tmp_path / "noflock"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(NO_FLOCK)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1",
           "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    return subprocess.run(
        ["unshare", "--uts", "sh", "-c", 'hostname node-b && exec "$@"', "sh",
         PY, "-m", "orchestrator", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
        stdin=subprocess.DEVNULL)


def _names(directory: Path) -> list[str]:
    return [e["event"] for e in events(directory)]


def test_a_second_host_is_refused_and_its_cancel_only_asks(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    args = bk.search(directory, train=LONG, target=99)
    proc = start(*args, log=tmp_path / "run.log")
    try:
        wait_for(directory, lambda evs: any(e["event"] == "submitted" for e in evs), 120)
        before = len(events(directory))
        second = on_node_b(tmp_path, *args)
        assert second.returncode == exit_codes.USAGE, second.stdout + second.stderr
        err = second.stderr
        assert "Traceback" not in err and "note: no flock on" in err, err
        refusal = next(line for line in err.splitlines() if "is in use by" in line)
        host = lease.read(directory)["host"]  # type: ignore[index]
        assert f"is in use by pid {proc.pid} on host {host}; its lease was renewed" in refusal
        assert f"orchestrator cancel {directory}" in refusal
        assert "resumed" not in _names(directory)[before:]  # it journaled nothing
        # cancel from node-b: it only asks; the first controller ends the search
        cancelled = on_node_b(tmp_path, "cancel", str(directory))
        assert cancelled.returncode == exit_codes.CANCELLED, cancelled.stdout + cancelled.stderr
        assert "asked it to cancel" in cancelled.stdout and "Traceback" not in cancelled.stderr
        assert proc.wait(timeout=120) == exit_codes.CANCELLED
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    names = _names(directory)
    assert "resumed" not in names and names.count("search_started") == 1
    request = next(e for e in events(directory) if e["event"] == "cancel_requested")
    assert "node-b" in request["by"]
    assert summary(directory)["status"] == "cancelled"
    assert lease.read(directory)["released"]  # type: ignore[index]
    # released: a rerun from node-b is not refused (no stale lock marker blocks it forever)
    rerun = on_node_b(tmp_path, *args)
    assert rerun.returncode == exit_codes.CANCELLED, rerun.stdout + rerun.stderr


def test_a_stale_lease_is_taken_over_by_a_second_host(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    args = bk.search(directory, train=LONG, target=99)
    proc = start(*args, log=tmp_path / "run.log")
    wait_for(directory, lambda evs: any(e["event"] == "submitted" for e in evs), 120)
    os.kill(proc.pid, signal.SIGKILL)  # its lease stays, unreleased
    proc.wait()
    # seen from node-b, the pid means nothing: fresh signs of life still refuse it
    early = on_node_b(tmp_path, "cancel", str(directory), "--wait", "3")
    assert early.returncode == exit_codes.RUNNING, early.stdout + early.stderr
    # the bound passes (the lease's beat and the journal's last write grow old)
    old = time.time() - lease.STALE_AFTER_S - 5
    held = lease.read(directory)
    assert held is not None
    lease.write(directory, {**held, "beat": old})
    os.utime(layout.journal_path(directory), (old, old))
    done = on_node_b(tmp_path, "cancel", str(directory))
    assert done.returncode == exit_codes.CANCELLED, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "resumed" in _names(directory)  # node-b ran the controller: the lease was free
    assert lease.read(directory)["host"] == "node-b"  # type: ignore[index]
    assert summary(directory)["status"] == "cancelled"
