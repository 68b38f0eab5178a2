"""`orchestrator status DIR` over recorded journals: is a controller alive, the trials with
their settings, backlog and reasons, and the exit code; and what Ctrl-C prints."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator import exit_codes
from orchestrator.cli import cmd_status
from orchestrator.cli.main import main
from orchestrator.engine import run as app
from orchestrator.model.state import SearchState
from tests.support.journal import typed

SETTINGS = {"search": {"dir": "/runs/x", "metric": "accuracy", "target": 0.8, "mode": "max",
                       "patience": 1, "min_delta": 0.0}, "executor": {"name": "local"}}


def _running(t0: float) -> list[dict[str, Any]]:
    return [
        {"event": "search_started", "t": t0, "settings": SETTINGS},
        {"event": "trial_started", "t": t0 + 1, "trial": 1, "seed": 42, "output_dir": "/o/1",
         "params": {"learning_rate": 3e-5}, "sampler_trial": None},
        {"event": "submit_intent", "t": t0 + 2, "key": "train-t001-a0", "kind": "train",
         "trial": 1, "step": None, "attempt": 0, "folder": "/f/t",
         "name": "x-0123abcd-train-t001-a0", "overrides": {}},
        {"event": "submitted", "t": t0 + 2, "key": "train-t001-a0", "job_id": "501"},
        {"event": "job_state", "t": t0 + 3, "key": "train-t001-a0", "job_id": "501",
         "state": "RUNNING"},
        *[{"event": "checkpoint", "t": t0 + 4, "trial": 1, "step": s, "path": f"/o/1/c-{s}"}
          for s in (100, 200, 300, 400)],
        {"event": "evaluation", "t": t0 + 5, "trial": 1, "step": 100, "value": 0.6580,
         "job_id": "502", "checkpoint": "/o/1/c-100"},
        {"event": "submit_intent", "t": t0 + 6, "key": "infer-t001-s00000200-a0",
         "kind": "infer", "trial": 1, "step": 200, "attempt": 0, "folder": "/f/i2",
         "name": "x-0123abcd-infer-t001-s00000200-a0", "overrides": {}},
        {"event": "submitted", "t": t0 + 6, "key": "infer-t001-s00000200-a0", "job_id": "503"},
        {"event": "heartbeat", "t": t0 + 7},
    ]


def _ended(t0: float, status: str) -> list[dict[str, Any]]:
    how = {"target_reached": "target_reached", "metric_fell": "metric_fell",
           "failed": "train_failed"}[status]
    reason = {"target_reached": "accuracy 0.8105 reached the target 0.8 at step 300",
              "metric_fell": "accuracy fell 0.7025 -> 0.6955 at step 300 (patience 1)",
              "failed": "train job 501 ended FAILED: ValueError: no column 'text'"}[status]
    return [*_running(t0),
            {"event": "job_state", "t": t0 + 8, "key": "train-t001-a0", "job_id": "501",
             "state": "FAILED" if status == "failed" else "CANCELLED"},
            {"event": "job_state", "t": t0 + 8, "key": "infer-t001-s00000200-a0",
             "job_id": "503", "state": "CANCELLED"},
            {"event": "trial_ended", "t": t0 + 9, "trial": 1, "how": how, "step": 300,
             "reason": reason},
            {"event": "search_ended", "t": t0 + 10, "status": status, "reason": ""}]


def _record(directory: Path, events: list[dict[str, Any]], host: str | None, pid: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "journal.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    if host is not None:
        (directory / "controller.json").write_text(json.dumps(
            {"host": host, "pid": pid, "since": events[0]["t"], "argv": []}))


@pytest.fixture(scope="module")
def live_controller(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A live process that looks like a controller: the console script `orchestrator run`."""
    script = tmp_path_factory.mktemp("bin") / "orchestrator"
    script.write_text("import time\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, str(script), "run"])
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    while str(script).encode() not in cmdline.read_bytes():
        time.sleep(0.01)  # until it has exec'd
    yield proc.pid
    proc.kill()
    proc.wait()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


HERE = socket.gethostname()
CASES = [
    # (name, journal, holder host, holder alive, journal age s, exit code, lines shown)
    ("running, controller alive here", "running", HERE, True, 0, exit_codes.RUNNING,
     ["status: running", "controller: running (pid "]),
    ("running, controller dead here", "running", HERE, False, 0, exit_codes.INTERRUPTED,
     ["controller: not running (was pid", "interrupted: run the same command to resume"]),
    ("running, another host, fresh heartbeat", "running", "node-b", False, 30,
     exit_codes.RUNNING, ["controller: running, as far as", "last journal entry"]),
    ("running, another host, stale journal", "running", "node-b", False, 600,
     exit_codes.INTERRUPTED, ["controller: not running, as far as", "10 min 0",
                              "interrupted: run the same command to resume"]),
    ("no holder recorded", "running", None, False, 0, exit_codes.INTERRUPTED,
     ["controller: none recorded"]),
    ("target reached", "target_reached", HERE, False, 0, exit_codes.TARGET_REACHED,
     ["status: target_reached", "ended: accuracy 0.8105 reached the target 0.8 at step 300"]),
    ("metric fell", "metric_fell", HERE, False, 0, exit_codes.NOT_REACHED,
     ["ended: accuracy fell 0.7025 -> 0.6955 at step 300 (patience 1)"]),
    ("failed", "failed", HERE, False, 0, exit_codes.FAILED,
     ["ended: train job 501 ended FAILED: ValueError: no column 'text'"]),
    ("ended, still finishing", "target_reached", HERE, True, 0, exit_codes.RUNNING,
     ["status: target_reached"]),
]


@pytest.mark.parametrize(("journal", "host", "alive", "age", "code", "shown"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_status_says_whether_a_controller_runs_it_and_exits_accordingly(
        tmp_path: Path, live_controller: int, journal: str, host: str | None, alive: bool,
        age: float, code: int, shown: list[str]) -> None:
    t0 = time.time() - age - 10
    events = _running(t0) if journal == "running" else _ended(t0, journal)
    _record(tmp_path, events, host, live_controller if alive else _dead_pid())
    text, got = cmd_status.status(tmp_path)
    assert got == code, text
    for line in shown:
        assert line in text, text
    assert "None" not in text
    assert "trial 1 (seed 42; learning_rate=3e-05)" in text
    assert "elapsed " in text
    assert main(["status", str(tmp_path)]) == code


def test_status_shows_the_evaluation_backlog(tmp_path: Path) -> None:
    _record(tmp_path, _running(time.time() - 100), "node-b", 1)
    text, _ = cmd_status.status(tmp_path)
    assert "  checkpoints: 4 complete, 1 evaluated, 1 being evaluated, 2 waiting" in text
    _record(tmp_path, _ended(time.time() - 100, "target_reached"), "node-b", 1)
    text, _ = cmd_status.status(tmp_path)
    assert "4 complete, 1 evaluated, 0 being evaluated, 3 skipped (the trial ended)" in text
    # the top line counts every trial once none runs, as each trial's line does
    assert "\ncheckpoints: 4 complete, 1 evaluated, 3 skipped (their trial ended)\n" in text


def test_a_controller_journals_a_heartbeat_that_replay_accepts() -> None:
    state = SearchState.replay(typed(_running(0.0)))
    assert state.jobs["train-t001-a0"].live


@pytest.mark.parametrize(("events", "lines"), [
    (_running(0.0), ["interrupted; 2 job(s) keep running (a resume re-attaches to them):",
                     "  train-t001-a0: job 501 (RUNNING)",
                     "  infer-t001-s00000200-a0: job 503 (SUBMITTED)",
                     "run the same command again to resume"]),
    (_running(0.0)[:3], ["interrupted; no job is running", "run the same command again to resume"]),
])
def test_ctrl_c_names_the_jobs_that_keep_running(events: list[dict[str, Any]],
                                                 lines: list[str]) -> None:
    assert app.interrupted_lines(SearchState.replay(typed(events))) == lines


def test_the_cli_prints_the_interrupted_lines_and_exits_130(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from orchestrator.cli import cmd_run
    from orchestrator.errors import Interrupted

    def interrupted(_: Any) -> int:
        raise Interrupted(["interrupted; 1 job(s) keep running", "  train-t001-a0: job 7",
                           "run the same command again to resume"])

    monkeypatch.setattr(cmd_run, "run", interrupted)
    assert main(["run", "x=1"]) == 130
    assert "  train-t001-a0: job 7\n" in capsys.readouterr().err


def test_pid_check_needs_an_orchestrator_process(live_controller: int) -> None:
    from orchestrator.journal.lock import is_controller

    assert is_controller(live_controller)
    assert not is_controller(os.getpid())  # alive, but pytest, not a controller
    assert not is_controller(_dead_pid())


def _starting_folder(folder: Path, how: str, pid: int) -> None:
    """What `run --detach` leaves before the controller journals the search."""
    folder.mkdir()
    if how == "slurm":
        (folder / "controller-job.json").write_text(json.dumps(
            {"job_id": "77", "name": "x-controller", "folder": str(folder / "jobs"), "t": 0}))
    elif how == "log":
        (folder / "controller.log").write_text("")
    elif how == "lock":  # the controller holds the lock, its scheduler check runs
        (folder / "journal.jsonl").write_text("")
        (folder / "controller.json").write_text(json.dumps(
            {"host": socket.gethostname(), "pid": pid, "since": time.time()}))


@pytest.mark.parametrize(("how", "queued", "line", "who"), [
    ("slurm", "PENDING", "controller job 77 pending (run --detach): the search starts once "
     "it runs", "slurm job 77"),
    ("slurm", "RUNNING", "controller job 77 running (run --detach)", "slurm job 77"),
    ("log", None, "controller starting (run --detach; controller.log)", "starting"),
    ("lock", None, "controller starting (pid ", "@"),
])
def test_status_and_ls_right_after_detach_say_the_controller_is_starting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        live_controller: int, how: str, queued: str | None, line: str, who: str) -> None:
    from orchestrator.cli import cmd_ls
    from orchestrator.engine import detach

    monkeypatch.setattr(detach, "detached_state", lambda _: queued)
    folder = tmp_path / "s"
    _starting_folder(folder, how, live_controller)
    assert main(["status", str(folder)]) == exit_codes.RUNNING
    out = capsys.readouterr().out
    assert out.startswith("status: starting") and line in out, out
    row = cmd_ls.row(folder, tmp_path, time.time())
    assert row[:2] == ("s", "starting") and who in row[2], row
    assert json.loads(cmd_status.status(folder, as_json=True)[0])["status"] == "starting"


def test_a_detached_controller_job_that_ended_before_journaling_is_no_search(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from orchestrator.engine import detach

    monkeypatch.setattr(detach, "detached_state", lambda _: None)
    _starting_folder(tmp_path / "s", "slurm", 0)
    assert main(["status", str(tmp_path / "s")]) == exit_codes.USAGE
    assert "journal.jsonl does not exist" in capsys.readouterr().err
