"""The lease that keeps one controller per search (journal.lease, journal.lock): the pure
judgement as a table, and SearchLock on a file system without flock (fcntl.flock raising
ENOSYS, as on Lustre `noflock`), in one process. The same with real processes and a second
host: tests/e2e/test_second_host.py."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.common import layout
from orchestrator.errors import SearchLocked
from orchestrator.journal import lease, lock
from orchestrator.journal.lock import SearchLock

NOW = 1_000_000.0
STALE = lease.STALE_AFTER_S


def _holder(host: str = "login1", pid: int = 7, beat: float | None = NOW - 2,
            **more: Any) -> dict[str, Any]:
    holder: dict[str, Any] = {"host": host, "pid": pid, "since": NOW - 500, **more}
    if beat is not None:
        holder["beat"] = beat
    return holder


ALIVE, OTHER, GONE = lease.Pid.CONTROLLER, lease.Pid.OTHER, lease.Pid.GONE
CASES = [
    # (name, holder, journal's last entry, its pid here, my job, alive, words in the line)
    ("none recorded", None, 0.0, GONE, None, False, "none recorded"),
    ("same host, pid a controller", _holder(), 0.0, ALIVE, None, True,
     "running (pid 7 on login1)"),
    ("same host, pid a controller, beat old", _holder(beat=NOW - 10 * STALE), 0.0, ALIVE, None,
     True, "running (pid 7"),
    ("same host, pid gone, beat fresh", _holder(), 0.0, GONE, None, False, "not running (was"),
    ("same host, pid another process, fresh beat (a controller in a wrapper)", _holder(), 0.0,
     OTHER, None, True, "lease renewed 2 s ago"),
    ("same host, pid another process, stale beat (a reused pid)",
     _holder(beat=NOW - STALE - 1), 0.0, OTHER, None, False, "not running, as far as"),
    ("other host, fresh beat", _holder("node-b"), 0.0, GONE, None, True,
     "lease renewed 2 s ago"),
    ("other host, beat just under the bound", _holder("node-b", beat=NOW - STALE + 1), 0.0,
     GONE, None, True, "running, as far as"),
    ("other host, stale beat", _holder("node-b", beat=NOW - STALE - 1), 0.0, GONE, None,
     False, "not running, as far as"),
    ("other host, stale beat, fresh journal", _holder("node-b", beat=NOW - 600), NOW - 5, GONE,
     None, True, "running, as far as"),
    ("other host, no beat (older controller), fresh journal", _holder("node-b", beat=None),
     NOW - 30, GONE, None, True, "last journal entry 30 s ago"),
    ("other host, released", _holder("node-b", released=NOW - 1), 0.0, GONE, None, False,
     "not running (was pid 7 on node-b)"),
    ("same host, released, pid a controller", _holder(released=NOW - 1), 0.0, ALIVE, None,
     False, "not running"),
    ("other host, my SLURM job before its requeue", _holder(
        "node-b", slurm_job_id="88", slurm_restart="0"), 0.0, GONE, ("88", "1"), False,
     "not running"),
    ("other host, my SLURM job, same run (two in one allocation)", _holder(
        "node-b", slurm_job_id="88", slurm_restart="1"), 0.0, GONE, ("88", "1"), True,
     "running"),
    ("other host, another SLURM job", _holder("node-b", slurm_job_id="91"), 0.0, GONE,
     ("88", "0"), True, "running"),
]


@pytest.mark.parametrize(("holder", "journal_t", "pid", "job", "alive", "words"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_lease_rule(holder: dict[str, Any] | None, journal_t: float, pid: lease.Pid,
                        job: tuple[str, str] | None, alive: bool, words: str) -> None:
    got, line = lease.judge(holder, journal_t, NOW, "login1", lambda _: pid, job)
    assert got is alive, line
    assert words in line, line


def test_what_a_pid_is_here() -> None:
    assert lease.pid_is(os.getpid()) is lease.Pid.OTHER  # pytest: alive, not a controller
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert lease.pid_is(gone.pid) is lease.Pid.GONE


@pytest.fixture
def no_flock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file system without flock: flock fails with ENOSYS, as on Lustre `noflock`."""
    def flock(fd: int, op: int) -> None:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))
    monkeypatch.setattr(fcntl, "flock", flock)
    monkeypatch.setattr(lock, "CONFIRM_S", 0.01)


def test_without_flock_a_second_holder_is_refused_by_the_lease_and_says_so_once(
        tmp_path: Path, no_flock: None, capsys: pytest.CaptureFixture[str]) -> None:
    with SearchLock(tmp_path), pytest.raises(SearchLocked) as refused, SearchLock(tmp_path):
        pass
    text = str(refused.value)
    assert f"is in use by pid {os.getpid()} on host" in text and "\n" not in text
    assert "its lease was renewed 0 s ago" in text and f"orchestrator cancel {tmp_path}" in text
    with SearchLock(tmp_path):  # released: taken again at once
        pass
    err = capsys.readouterr().err
    assert err.count("note: no flock on") == 1, err
    assert lease.read(tmp_path)["released"]  # type: ignore[index]


@pytest.mark.parametrize(("beat_age", "taken"), [(STALE + 5, True), (5.0, False)],
                         ids=["stale: taken over", "fresh: refused"])
def test_a_lease_of_another_host_is_taken_over_only_once_stale(
        tmp_path: Path, no_flock: None, beat_age: float, taken: bool) -> None:
    lease.write(tmp_path, _holder("node-b", pid=4242, beat=time.time() - beat_age,
                                  token="theirs"))
    if taken:
        with SearchLock(tmp_path) as held:
            assert lease.read(tmp_path)["token"] == held.token  # type: ignore[index]
    else:
        with pytest.raises(SearchLocked, match="pid 4242 on host node-b; its lease was "
                           "renewed 5 s ago"), SearchLock(tmp_path):
            pass


def test_the_lease_is_renewed_and_a_holder_that_lost_it_stops(tmp_path: Path,
                                                                no_flock: None) -> None:
    with pytest.raises(SearchLocked, match="taken over by pid 99 on node-c"):
        with SearchLock(tmp_path, beat_s=0.05):
            first = lease.read(tmp_path)["beat"]  # type: ignore[index]
            time.sleep(0.3)
            assert lease.read(tmp_path)["beat"] > first  # type: ignore[index]
            # another controller takes the lease over (this one was stalled past the bound)
            lease.write(tmp_path, _holder("node-c", pid=99, beat=time.time(), token="new"))
            time.sleep(5)  # interrupted at the next beat
    assert lease.read(tmp_path)["token"] == "new"  # type: ignore[index]


def test_forget_leaves_no_lease_behind(tmp_path: Path) -> None:
    with SearchLock(tmp_path, beat_s=0.01) as held:
        held.forget()
        time.sleep(0.1)
    assert not layout.holder_path(tmp_path).exists()
    assert not layout.lock_path(tmp_path).exists()
