"""watch, cancel, ls, search.notify and `run --detach` on the local executor, with the real
CLI in subprocesses and users' fake scripts (fast)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from orchestrator import exit_codes
from tests.support import badkit as bk
from tests.support.cli import PY, cli, start
from tests.support.journal import events, summary, wait_for

pytestmark = pytest.mark.e2e

# training that runs for a minute unless cancelled: a search that is still running
LONG = f"{PY} {bk.BYO / 'fake_train.py'} {{output_dir}} --checkpoints 60 --every-s 1"


def _live_jobs_gone(directory: Path) -> bool:
    """No process of the search's jobs runs any more (their command lines name its folder)."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(directory) in cmd and "fake_" in cmd:
                return False
    return True


def _wait_gone(directory: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not _live_jobs_gone(directory):
        assert time.monotonic() < deadline, "a job of the cancelled search still runs"
        time.sleep(0.5)


def test_watch_follows_a_running_search_to_its_end_with_its_exit_status(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    proc = start(*bk.search(directory), log=tmp_path / "run.log")
    try:
        wait_for(directory, lambda evs: any(e["event"] == "trial_started" for e in evs), 60)
        watched = cli("watch", str(directory), "--plain", timeout=300)
    finally:
        code = proc.wait(timeout=300)
    assert watched.returncode == code == exit_codes.TARGET_REACHED, watched.stdout
    lines = watched.stdout.splitlines()
    # the whole history, replayed from the journal, then the end
    assert "search started in" in watched.stdout and "search ended: target_reached" in lines[-1]
    assert "trial 1 step 500: 81.0000" in watched.stdout
    # a finished search: watch replays it and exits at once with the same status
    again = cli("watch", str(directory), "--plain", timeout=60)
    assert again.returncode == exit_codes.TARGET_REACHED


def test_watch_of_a_folder_without_a_search_is_a_usage_error(tmp_path: Path) -> None:
    done = cli("watch", str(tmp_path), timeout=60)
    assert done.returncode == exit_codes.USAGE and "does not exist" in done.stderr


def test_watch_ends_with_5_when_the_controller_dies(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    proc = start(*bk.search(directory, train=LONG, target=99), log=tmp_path / "run.log")
    wait_for(directory, lambda evs: any(e["event"] == "submitted" for e in evs), 60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    watched = cli("watch", str(directory), "--plain", timeout=120)
    assert watched.returncode == exit_codes.INTERRUPTED, watched.stdout
    assert "no controller runs this search" in watched.stdout
    assert cli("cancel", str(directory), timeout=120).returncode == exit_codes.CANCELLED


def test_cancel_with_a_live_controller(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    proc = start(*bk.search(directory, train=LONG, target=99), log=tmp_path / "run.log")
    wait_for(directory, lambda evs: any(e["event"] == "evaluation" for e in evs), 120)
    done = cli("cancel", str(directory), timeout=180)
    assert done.returncode == exit_codes.CANCELLED, done.stdout + done.stderr
    assert "asked it to cancel" in done.stdout
    assert proc.wait(timeout=120) == exit_codes.CANCELLED  # the controller's own run ends so
    evs = events(directory)
    requests = [e for e in evs if e["event"] == "cancel_requested"]
    assert len(requests) == 1
    # journal first: the request, then the end, then the cancel of every job
    names = [e["event"] for e in evs]
    assert names.index("cancel_requested") < names.index("search_ended") < \
        max(i for i, n in enumerate(names) if n == "cancel")
    data = summary(directory)
    assert data["status"] == "cancelled" and all(t["ended"] for t in data["trials"])
    _wait_gone(directory)
    # idempotent: again, and status, say cancelled (exit 6)
    again = cli("cancel", str(directory), timeout=60)
    assert again.returncode == exit_codes.CANCELLED and "already ended" in again.stdout
    assert cli("status", str(directory)).returncode == exit_codes.CANCELLED
    assert len([e for e in events(directory) if e["event"] == "cancel_requested"]) == 1


def test_cancel_with_no_controller_alive_cancels_the_journals_jobs(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    proc = start(*bk.search(directory, train=LONG, target=99), log=tmp_path / "run.log")
    wait_for(directory, lambda evs: any(e["event"] == "evaluation" for e in evs), 120)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not _live_jobs_gone(directory)  # the training job outlives its controller
    done = cli("cancel", str(directory), timeout=180)
    assert done.returncode == exit_codes.CANCELLED, done.stdout + done.stderr
    _wait_gone(directory)
    evs = events(directory)
    train = next(e for e in evs if e["event"] == "submitted" and e["key"] == "train-t001-a0")
    assert any(e["event"] == "cancel" and train["job_id"] in e["job_ids"] for e in evs)
    assert summary(directory)["status"] == "cancelled"
    # a rerun of the same command afterwards resumes nothing: the search ended, cancelled
    rerun = cli(*bk.search(directory, train=LONG, target=99), timeout=120)
    assert rerun.returncode == exit_codes.CANCELLED, rerun.stdout + rerun.stderr
    assert sum(e["event"] == "submit_intent" for e in events(directory)) == sum(
        e["event"] == "submit_intent" for e in evs)


def test_ls_lists_every_search_under_a_root(tmp_path: Path) -> None:
    done_dir = tmp_path / "lab" / "a"
    assert cli(*bk.search(done_dir), timeout=300).returncode == 0
    running = tmp_path / "lab" / "deep" / "b"
    proc = start(*bk.search(running, train=LONG, target=99), log=tmp_path / "run.log")
    try:
        wait_for(running, lambda evs: any(e["event"] == "evaluation" for e in evs), 120)
        listed = cli("ls", str(tmp_path / "lab"), timeout=60)
        as_json = json.loads(cli("ls", str(tmp_path / "lab"), "--json", timeout=60).stdout)
    finally:
        cli("cancel", str(running), timeout=180)
        proc.wait(timeout=120)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:3] == ["search", "status", "controller"]
    rows = {r["search"]: r for r in as_json}
    assert set(rows) == {"a", "deep/b"}  # nothing inside a search's own folders
    assert rows["a"]["status"] == "target_reached" and rows["a"]["controller"] == "none"
    assert rows["a"]["best"] == "81.0000" and rows["a"]["trials"] == "1"
    assert rows["deep/b"]["status"] == "running"
    assert rows["deep/b"]["controller"] == f"{proc.pid}@{os.uname().nodename}"
    assert int(rows["deep/b"]["running"]) + int(rows["deep/b"]["pending"]) >= 1
    assert rows["deep/b"]["last event"].endswith("ago")


def test_notify_runs_once_and_a_failing_one_is_a_warning(tmp_path: Path) -> None:
    directory, sink = tmp_path / "s", tmp_path / "notified.txt"
    append = f"import sys; open({str(sink)!r}, 'a').write(' '.join(sys.argv[1:]) + chr(10))"
    notify = json.dumps([PY, "-c", append, "{status}", "{best_value}", "{report}"])
    args = bk.search(directory, extra=(f"search.notify={notify}",))
    done = cli(*args, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sink.read_text() == f"target_reached 81 {directory / 'report.md'}\n"
    assert cli(*args, timeout=120).returncode == 0  # a rerun of the ended search
    assert sink.read_text().count("\n") == 1  # journaled: not run twice
    failing = tmp_path / "f"
    done = cli(*bk.search(failing, extra=('search.notify=["/no/such/notifier"]',)),
               timeout=300)
    assert done.returncode == 0 and "warning: search.notify" in done.stderr, done.stderr


@pytest.mark.parametrize("notify, problem", [
    ('["echo", "{nope}"]', "search.notify[1]: unknown placeholder {nope}"),
    ('"echo {status}"', "search.notify: expected a list"),
])
def test_notify_is_checked_at_config_time(tmp_path: Path, notify: str, problem: str) -> None:
    done = cli(*bk.search(tmp_path / "s", extra=(f"search.notify={notify}",)), timeout=120)
    assert done.returncode == exit_codes.USAGE and problem in done.stderr, done.stderr
    assert not (tmp_path / "s" / "journal.jsonl").exists()


def test_detach_local_returns_at_once_and_the_search_completes(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    started = time.monotonic()
    slow = f"{PY} {bk.BYO / 'fake_train.py'} {{output_dir}} --checkpoints 6 --every-s 2"
    done = cli(*bk.search(directory, train=slow), "--detach", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert time.monotonic() - started < 30  # it did not wait for the search
    assert f"orchestrator watch {directory}" in done.stdout
    pid = int(done.stdout.split("pid ")[1].split()[0])
    # detached: its own session, no terminal, stdin /dev/null
    assert os.getsid(pid) == pid
    assert os.readlink(f"/proc/{pid}/fd/0") == "/dev/null"
    watched = cli("watch", str(directory), "--plain", timeout=300)
    assert watched.returncode == exit_codes.TARGET_REACHED, watched.stdout
    deadline = time.monotonic() + 30  # the outcome is written; its last lines follow
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    log = (directory / "controller.log").read_text()
    assert "search ended: target_reached" in log and "status: target_reached" in log
