"""The parts of watch, cancel, ls, notify and --detach that need no running search: the
cancel request's protocol, notify's placeholders, the journal tail, the listing, the
controller's job, and SLURM_* scrubbing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from orchestrator import exit_codes
from orchestrator.cli import cmd_ls as listing
from orchestrator.cli.cmd_watch import JournalTail
from orchestrator.common import layout
from orchestrator.config.compose import compose, to_settings
from orchestrator.engine import cancel_request as cancelling
from orchestrator.engine import detach, notify
from orchestrator.errors import ConfigError
from orchestrator.model.events import CancelRequested, Event, Notified, SearchEnded, encode
from orchestrator.model.transitions import SEARCH, SearchStatus, move
from orchestrator.scheduler.slurm import outside_allocation


def test_cancelled_is_an_end_with_its_own_exit_status_and_may_be_reopened() -> None:
    assert move(SEARCH, "the search", SearchStatus.RUNNING, SearchStatus.CANCELLED)
    assert move(SEARCH, "the search", SearchStatus.CANCELLED, SearchStatus.RUNNING)
    assert exit_codes.of_status("cancelled") == exit_codes.CANCELLED == 6
    assert len({exit_codes.CANCELLED, exit_codes.RUNNING, exit_codes.INTERRUPTED,
                exit_codes.FAILED, exit_codes.USAGE}) == 5


def _recorder(journal: list[Event]) -> Any:
    def record(event: Event) -> Event:
        journal.append(event)
        return event
    return record


def test_a_cancel_request_is_journaled_once_and_spent_by_the_searchs_end(tmp_path: Path) -> None:
    journal: list[Event] = []
    record = _recorder(journal)
    assert not cancelling.requested(tmp_path, journal, record)  # no file: nothing
    request = cancelling.write_request(tmp_path)
    assert cancelling.requested(tmp_path, journal, record)
    assert [type(e) for e in journal] == [CancelRequested]
    assert journal[0].request == request  # type: ignore[attr-defined]
    # a controller killed before it ended the search: the next one ends it, journals nothing
    assert cancelling.requested(tmp_path, journal, record) and len(journal) == 1
    journal.append(SearchEnded(status=SearchStatus.CANCELLED, reason="x"))
    # spent: a search reopened later by a rerun is not cancelled again by the old file
    assert not cancelling.requested(tmp_path, journal, record)
    cancelling.write_request(tmp_path)  # a new `cancel`
    assert cancelling.requested(tmp_path, journal, record) and len(journal) == 3


@pytest.mark.parametrize("content", ["", "{not json", '{"request": 3}', "[]"])
def test_an_unreadable_request_file_is_no_request(tmp_path: Path, content: str) -> None:
    layout.cancel_request_path(tmp_path).write_text(content)
    journal: list[Event] = []
    assert not cancelling.requested(tmp_path, journal, _recorder(journal)) and not journal


@pytest.mark.parametrize("argv, problems", [
    ((), []),
    (("notify-send", "search {status}: {best_value}", "{search_dir}", "{report}"), []),
    (("echo", "{{literal}}"), []),
    (("echo", "{nope}"), ["search.notify[1]: unknown placeholder {nope}; known: {status} "
                          "{best_value} {search_dir} {report}"]),
    (("echo", "{status", "{0}"), ["search.notify[1]: expected '}' before end of string; "
                                  "write {{ and }} for a literal brace",
                                  "search.notify[2]: unknown placeholder {0}; known: {status} "
                                  "{best_value} {search_dir} {report}"]),
])
def test_notify_placeholders_are_checked(argv: tuple[str, ...], problems: list[str]) -> None:
    assert notify.problems(argv) == problems


def test_notify_fills_its_placeholders_and_is_due_once_per_end(tmp_path: Path) -> None:
    summary = {"status": "target_reached", "best": {"value": 0.8123456}}
    assert notify.fill(("x", "{status}={best_value}", "{report}"), summary, tmp_path) == [
        "x", "target_reached=0.812346", str(tmp_path / "report.md")]
    assert notify.fill(("{best_value}",), {"status": "failed", "best": None}, tmp_path) == [""]
    ended = SearchEnded(status=SearchStatus.FAILED, reason="")
    told = Notified(argv=["x"], status="failed")
    assert not notify.due(("x",), [])  # still running
    assert notify.due(("x",), [ended]) and not notify.due((), [ended])
    assert not notify.due(("x",), [ended, told])
    assert notify.due(("x",), [ended, told, ended])  # reopened and ended again


@pytest.mark.parametrize("argv, warning", [
    (["/no/such/program"], "did not run"),
    (["sh", "-c", "echo bad >&2; exit 4"], "exited with 4: bad"),
    (["true"], None),
])
def test_a_failing_notification_is_a_warning(argv: list[str], warning: str | None) -> None:
    text = notify.run(argv)
    assert (text is None) if warning is None else (text is not None and warning in text)


def test_the_journal_tail_reads_complete_lines_only(tmp_path: Path) -> None:
    import json

    path = tmp_path / "journal.jsonl"
    lines = [json.dumps(encode(e)) for e in (
        CancelRequested(t=1.0, request="a"), Notified(t=2.0, argv=["x"], status="failed"))]
    tail = JournalTail(path)
    assert tail.new_events() == []  # no journal yet
    path.write_text(lines[0] + "\n" + lines[1][:10])  # a torn (still written) last line
    assert [e.t for e in tail.new_events()] == [1.0]
    with open(path, "a") as handle:
        handle.write(lines[1][10:] + "\n")
    assert [e.t for e in tail.new_events()] == [2.0]
    assert tail.new_events() == []


def test_ls_finds_searches_but_not_inside_one(tmp_path: Path) -> None:
    for folder in ("a", "b/c", "a/trials/001", ".hidden/d"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "journal.jsonl").write_text("")
    assert sorted(p.relative_to(tmp_path).as_posix() for p in listing.searches(tmp_path)) == [
        "a", "b/c"]
    assert listing.listing(tmp_path / "b" / "c").splitlines()[1].split()[:2] == [".", "empty"]
    assert listing.listing(tmp_path / "none") == f"no search under {tmp_path / 'none'}\n"


@pytest.mark.parametrize("seconds, text", [(5, "5s ago"), (300, "5m ago"), (7300, "2h ago"),
                                           (200000, "2d ago")])
def test_ls_ages(seconds: float, text: str) -> None:
    assert listing._age(seconds) == text


def test_the_detached_controller_runs_the_same_command_plain() -> None:
    assert detach.controller_argv(["run", "a=1", "--detach"]) == ["run", "a=1", "--plain"]
    assert detach.controller_argv(["run", "--plain", "--detach"]) == ["run", "--plain"]


def test_the_controller_job_asks_for_one_cpu_and_the_shared_settings(tmp_path: Path) -> None:
    settings = to_settings(compose([
        "executor=slurm", "search.target=0.8", f"search.dir={tmp_path}",
        "executor.partition=login", "executor.account=lab", "executor.setup=[module load x]",
        "executor.controller.timeout_min=30", "executor.controller.mem_gb=2",
        "executor.controller.qos=long", "executor.controller.mail_user=me@x",
        "executor.controller.mail_type=END,FAIL"]))
    request = detach.controller_request(settings, ["run", "executor=slurm", "--detach"])
    res = request.resources
    assert request.key == request.kind == "controller"
    assert request.name == layout.job_name(Path(settings.search.dir), "controller")
    assert (res.cpus_per_task, res.timeout_min, res.mem_gb) == (1, 30, 2)
    assert (res.partition, res.account, res.qos) == ("login", "lab", "long")
    assert res.setup == ("module load x",)
    assert res.additional == {"mail_user": "me@x", "mail_type": "END,FAIL"}
    assert request.spec == ["run", "executor=slurm", "--plain"]
    assert request.target == "orchestrator.engine.detach:controller_job"


@pytest.mark.parametrize(("code", "ended"), [
    (exit_codes.TARGET_REACHED, True), (exit_codes.NOT_REACHED, True), (exit_codes.FAILED, True),
    (exit_codes.CANCELLED, True), (exit_codes.CRASHED, False), (exit_codes.USAGE, False),
    (exit_codes.KEYBOARD_INTERRUPT, False),
])
def test_a_detached_controller_that_crashed_did_not_end_the_search(
        monkeypatch: pytest.MonkeyPatch, code: int, ended: bool) -> None:
    """The controller's job succeeds (the search ended) only on the search's own statuses; a
    crash fails the job, so nothing reads it as "search ended"."""
    monkeypatch.setattr("subprocess.call", lambda *a, **k: code)
    if ended:
        assert detach.controller_job(["run"]) == code
    else:
        with pytest.raises(RuntimeError, match=f"status {code}"):
            detach.controller_job(["run"])


@pytest.mark.parametrize("overrides, problem", [
    (["executor.controller.mail_type=END,SOMETIMES", "executor.controller.mail_user=me@x"],
     "executor.controller.mail_type=END,SOMETIMES: unknown SOMETIMES"),
    (["executor.controller.mail_type=END"], "mail_type needs executor.controller.mail_user"),
    (["executor.controller.timeout_min=0"], "executor.controller: timeout_min must be >= 1"),
    (["search.notify=[echo, '{bad}']"], "search.notify[1]: unknown placeholder {bad}"),
])
def test_controller_and_notify_settings_are_checked(overrides: list[str], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        to_settings(compose(["executor=slurm", "search.target=0.8", *overrides]))
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_submissions_leave_the_allocations_slurm_variables_out(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "8")
    monkeypatch.setenv("SLURM_MEM_PER_NODE", "64000")
    monkeypatch.setenv("SLURM_CONF", "/etc/slurm/slurm.conf")
    monkeypatch.setenv("SBATCH_ACCOUNT", "lab")  # the user's own sbatch defaults stay
    with outside_allocation():
        assert "SLURM_CPUS_PER_TASK" not in os.environ
        assert "SLURM_MEM_PER_NODE" not in os.environ
        assert os.environ["SLURM_CONF"] == "/etc/slurm/slurm.conf"
        assert os.environ["SBATCH_ACCOUNT"] == "lab"
    assert os.environ["SLURM_CPUS_PER_TASK"] == "8"  # put back for the controller itself
