"""A job SLURM queued again under its id (a lost node, a preemption, `scontrol requeue`): the
adapter asks sacct -X -D once, on the RUNNING -> PENDING move, what ended the run, and the
view, `status` and the report say it. The real cluster: tests/slurm/test_held_and_lost.py."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestrator.cli.cmd_status import status_text
from orchestrator.engine.controller import Controller
from orchestrator.errors import SchedulerUnavailable
from orchestrator.journal import jsonl
from orchestrator.journal.jsonl import Journal, read_events
from orchestrator.model import events
from orchestrator.model.state import SearchState
from orchestrator.model.transitions import JobState
from orchestrator.scheduler import JobRef
from orchestrator.scheduler.commands import Commands
from orchestrator.scheduler.interface import Polled
from orchestrator.scheduler.slurm import SlurmScheduler
from orchestrator.scheduler.slurm_requeue import (
    UNSAID,
    Requeues,
    end_words,
    previous_runs,
    what_ended,
)
from orchestrator.view.live import PlainView
from tests.support.fake_cluster import FakeScheduler, World, settings_for

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
RECORDED = (FIXTURES / "sacct_requeued_runs.txt").read_text()
T0 = 1_000_000.0
NODE_LOST = "node n2 was lost (NODE_FAIL)"


class FakeCommands(Commands):
    """sacct (`sacct -D`: every run of the ids) and sinfo answer from recorded text; every
    call is kept."""

    def __init__(self, answers: Mapping[str, str | None]) -> None:
        super().__init__()
        self.answers = answers
        self.argv: list[list[str]] = []

    def output(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        self.argv.append(list(argv))
        answer = self.answers.get("sacct -D" if "-D" in argv else argv[0])
        if answer is None:
            raise SchedulerUnavailable(f"{argv[0]}: Unable to contact slurm controller")
        return answer


def test_the_recorded_runs_give_each_job_its_last_ended_run() -> None:
    assert previous_runs(RECORDED) == {
        "22762": ("NODE_FAIL", "n2"), "22767": ("PREEMPTED", "n2"),
        "22524": ("NODE_FAIL", "n[1-2]"), "22773": ("REQUEUED", "vm"),
        "13497": ("PREEMPTED", "n[1,3]")}  # requeued twice: the last run says


@pytest.mark.parametrize("state, nodes, listing, words", [
    ("NODE_FAIL", "n2", "", NODE_LOST),
    ("NODE_FAIL", "n[1-2]", "n1|alloc\nn2|down*\n",
     "node n2 was lost (NODE_FAIL; the job ran on n[1-2])"),
    ("NODE_FAIL", "n[1-2]", "n1|idle\nn2|idle\n", "a node of n[1-2] was lost (NODE_FAIL)"),
    ("PREEMPTED", "n2", "", "preemption (PREEMPTED)"),
    ("REQUEUED", "vm", "",
     "scontrol requeue (REQUEUED: a person, or submitit before the time limit)"),
    ("FAILED", "n1", "", "its run ended FAILED"),
])
def test_what_ended_a_run_in_words(state: str, nodes: str, listing: str, words: str) -> None:
    assert end_words(state, nodes, listing) == words


def test_one_sacct_for_all_the_moved_jobs_and_sinfo_only_for_a_several_node_run() -> None:
    commands = FakeCommands({"sacct -D": RECORDED, "sinfo": "n1|idle\nn2|down*\n"})
    words = what_ended(commands, ["22524", "22762", "22767", "22800"])
    assert words == {"22524": "node n2 was lost (NODE_FAIL; the job ran on n[1-2])",
                     "22762": NODE_LOST, "22767": "preemption (PREEMPTED)",
                     "22800": UNSAID}  # its ended run's record not in sacct yet
    assert [a[0] for a in commands.argv] == ["sacct", "sinfo"]
    assert commands.argv[0][-2:] == ["-j", "22524,22762,22767,22800"]
    assert "-D" in commands.argv[0]


def test_a_silent_sacct_still_says_the_job_was_requeued() -> None:
    assert what_ended(FakeCommands({}), ["7"]) == {"7": UNSAID}


R, P, U, D = JobState.RUNNING, JobState.PENDING, JobState.UNKNOWN, JobState.SUCCEEDED


@pytest.mark.parametrize("polls, asked", [
    ([{"1": R}, {"1": P}], [["1"]]),  # the move: asked once
    ([{"1": R}, {"1": P}, {"1": P}, {"1": P}], [["1"]]),  # never again while it waits
    ([{"1": R}, {"1": U}, {"1": P}], [["1"]]),  # an unanswered poll between: still the move
    ([{"1": P}, {"1": P}, {"1": R}, {"1": D}], []),  # a first wait, a run, an end: no sacct -D
    ([{"1": R, "2": R, "3": R}, {"1": P, "2": P, "3": R}], [["1", "2"]]),  # batched
    ([{"1": R}, {"1": P}, {"1": R}, {"1": P}], [["1"], ["1"]]),  # requeued twice: asked twice
], ids=["moved", "asked-once", "unknown-between", "no-move", "batched", "twice"])
def test_sacct_d_is_asked_only_on_the_running_to_pending_move(
        polls: list[dict[str, JobState]], asked: list[list[str]]) -> None:
    commands, requeues = FakeCommands({"sacct -D": RECORDED}), Requeues()
    for states in polls:
        requeues.seen(commands, states)
    assert [a[-1].split(",") for a in commands.argv] == asked


def test_the_slurm_adapter_says_what_ended_the_run_in_its_poll(tmp_path: Path) -> None:
    header = "JobID|State|Reason|JobName\n"
    backend = SlurmScheduler(interactive=False)
    ref = JobRef("22762", tmp_path, "j")
    backend.commands = FakeCommands({"sacct": header + "22762|RUNNING|None|j\n"})
    assert backend.poll([ref]).requeued == {}
    commands = FakeCommands({"sacct": header + "22762|PENDING|BeginTime|j\n",
                             "sacct -D": RECORDED})
    backend.commands = commands
    polled = backend.poll([ref])
    assert polled == {"22762": JobState.PENDING}
    assert polled.requeued == {"22762": NODE_LOST}
    assert polled.reasons == {"22762": "BeginTime"}
    assert backend.poll([ref]).requeued == {}  # still waiting: not asked again
    assert sum(1 for a in commands.argv if "-D" in a) == 1


class RequeuingScheduler(FakeScheduler):
    """SLURM requeues the training under its id after a lost node: PENDING for a while
    (the poll says what ended the run once), then RUNNING again."""

    def __init__(self) -> None:
        super().__init__()
        self.words: dict[str, str] = {}

    def requeue(self) -> None:
        job_id, _ = self.by_kind("train")[-1]
        self.states[job_id] = JobState.PENDING
        self.words[job_id] = NODE_LOST

    def resume(self) -> None:
        self.states[self.by_kind("train")[-1][0]] = JobState.RUNNING

    def poll(self, jobs: Sequence[JobRef]) -> Mapping[str, JobState]:
        states = super().poll(jobs)
        words, self.words = self.words, {}
        return Polled(states, requeued=words)


def test_the_view_status_and_report_say_which_node_was_lost(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sched = RequeuingScheduler()
    world = World(sched, tmp_path)
    wall = lambda: T0 + 10.0 * world.ticks  # noqa: E731
    monkeypatch.setattr(jsonl, "time", SimpleNamespace(time=wall))
    world.auto_results = {100: 0.5, 200: 0.9}
    seen: dict[str, str] = {}

    def look() -> None:
        seen["status"] = status_text(tmp_path)

    world.script = {1: lambda: world.checkpoint(100), 3: sched.requeue, 5: look,
                    6: sched.resume, 8: lambda: world.checkpoint(200)}
    journal, out = Journal(tmp_path / "journal.jsonl"), io.StringIO()
    Controller(settings_for(tmp_path), journal, sched, PlainView(out),
               clock=lambda: float(world.ticks), sleep=world.sleep, wall=wall).run()
    journal.close()
    evs = read_events(tmp_path / "journal.jsonl")[0]
    moved = [e for e in evs if isinstance(e, events.JobStateChanged) and e.requeued]
    assert [(e.state, e.requeued) for e in moved] == [(JobState.PENDING, NODE_LOST)]
    said = (f"job {moved[0].job_id} requeued by SLURM under its id after node n2 was lost "
            "(NODE_FAIL); it resumes from its last checkpoint")
    assert said in out.getvalue()
    assert said in seen["status"]
    assert said in (tmp_path / "report.md").read_text()
    assert not any(isinstance(e, events.JobFailed) for e in evs)  # the same id went on


def test_a_journal_without_the_field_still_folds() -> None:
    line = {"event": "job_state", "t": 1.0, "key": "k", "job_id": "7", "state": "PENDING"}
    event = events.decode(line, "old journal:1")
    assert isinstance(event, events.JobStateChanged) and event.requeued == ""
    assert SearchState.replay([]).jobs == {}
