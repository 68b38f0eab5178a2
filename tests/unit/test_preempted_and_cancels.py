"""The SLURM adapter on recorded outputs: a job sacct shows PREEMPTED is requeued or gone as
squeue says, cancels are sent again until the job is seen ended, and a limit on queued jobs
is told apart from a refusal (the real cluster: tests/slurm/test_hostile_slurm.py)."""

from __future__ import annotations

import subprocess
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from orchestrator.errors import SchedulerUnavailable
from orchestrator.model.transitions import JobState
from orchestrator.scheduler import JobRef
from orchestrator.scheduler.commands import submit_limit
from orchestrator.scheduler.slurm import SlurmScheduler
from orchestrator.scheduler.slurm_cancel import RESEND_S, Cancels
from orchestrator.scheduler.slurm_parse import parse_squeue_states

UNAVAILABLE = SchedulerUnavailable("scancel: Unable to contact slurm controller")
Answer = str | tuple[int, str] | Exception  # stdout; (exit status, stderr); raised


def sacct(*rows: str) -> str:
    return "JobID|State|Reason|JobName\n" + "".join(f"{row}\n" for row in rows)


class _Commands:
    """Scripted answers per program, in order (the last one repeats), and what was run."""

    def __init__(self, **answers: list[Answer]) -> None:
        self.answers = {name: deque(script) for name, script in answers.items()}
        self.calls: Counter[str] = Counter()
        self.argv: list[list[str]] = []

    def _next(self, program: str) -> Answer:
        script = self.answers[program]
        return script.popleft() if len(script) > 1 else script[0]

    def run(self, argv: Sequence[str], stdin: str | None = None,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        self.calls[argv[0]] += 1
        self.argv.append(list(argv))
        answer = self._next(argv[0])
        if isinstance(answer, Exception):
            raise answer
        rc, out, err = (answer[0], "", answer[1]) if isinstance(answer, tuple) else (0, answer, "")
        return subprocess.CompletedProcess(list(argv), rc, out, err)

    def output(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        return self.run(argv, env=env).stdout


def _backend(commands: _Commands) -> SlurmScheduler:
    backend = SlurmScheduler(interactive=False)
    backend.commands = commands  # type: ignore[assignment]
    return backend


@pytest.mark.parametrize(("squeue", "seen"), [
    ("70|PENDING\n", JobState.PENDING),  # PreemptMode=REQUEUE: queued again, same id
    ("70|REQUEUED\n", JobState.REQUEUED),
    ("70|RUNNING\n", JobState.RUNNING),  # already running again
    ("70|PREEMPTED\n", JobState.PREEMPTED),  # PreemptMode=CANCEL: for good
    ("", JobState.PREEMPTED),  # slurmctld forgot it (MinJobAge): it ended
    ((1, "slurm_load_jobs error: Invalid job id specified"), JobState.PREEMPTED),
    ((1, "slurm_load_jobs error: Socket timed out"), JobState.UNKNOWN),  # cannot say
    (SchedulerUnavailable("squeue: Unable to contact slurm controller"), JobState.UNKNOWN),
], ids=["requeued-pending", "requeued", "running-again", "cancel-mode", "forgotten",
        "invalid-id", "squeue-error", "squeue-down"])
def test_a_preempted_job_is_what_slurmctld_says(squeue: Answer, seen: JobState,
                                                tmp_path: Path) -> None:
    commands = _Commands(sacct=[sacct("70|PREEMPTED|None|j70", "71|RUNNING|None|j71")],
                         squeue=[squeue])
    states = _backend(commands).poll([JobRef("70", tmp_path, "j70"), JobRef("71", tmp_path, "j71")])
    assert dict(states) == {"70": seen, "71": JobState.RUNNING}
    # one squeue call for its state, for 70 only (and, pending again, one for its reason)
    assert commands.calls == {"sacct": 1, "squeue": 2 if seen is JobState.PENDING else 1}
    assert commands.argv[1][:4] == ["squeue", "--noheader", "-t", "all"]
    assert "--jobs=70" in commands.argv[1]


def test_no_squeue_call_when_nothing_is_preempted(tmp_path: Path) -> None:
    commands = _Commands(sacct=[sacct("71|RUNNING|None|j71", "72|NODE_FAIL|None|j72")])
    states = _backend(commands).poll([JobRef("71", tmp_path, "j71"), JobRef("72", tmp_path, "j72")])
    assert states == {"71": JobState.RUNNING, "72": JobState.NODE_FAIL}
    assert commands.calls == {"sacct": 1}


def test_a_cancel_slurmctld_did_not_answer_is_sent_at_the_next_poll(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("orchestrator.scheduler.slurm.time.monotonic", lambda: clock[0])
    refs = [JobRef("80", tmp_path, "a"), JobRef("81", tmp_path, "b")]
    commands = _Commands(scancel=[UNAVAILABLE, "", ""],
                         sacct=[sacct("80|RUNNING|None|a", "81|RUNNING|None|b"),
                                sacct("80|CANCELLED by 0|None|a", "81|CANCELLED by 0|None|b")])
    backend = _backend(commands)
    backend.cancel(refs)
    # the first scancel failed: the batch stopped there (slurmctld is down)
    assert [a[0] for a in commands.argv] == ["scancel"]
    backend.poll([])  # the controller no longer tracks them: the adapter still does
    sent = [a for a in commands.argv if a[0] == "scancel"]
    assert sent[1:] == [["scancel", "--name=a", "80"], ["scancel", "--name=b", "81"]]
    backend.poll([])  # seen CANCELLED: forgotten
    clock[0] += 10 * RESEND_S
    assert backend.poll([]) == {}
    assert commands.calls["scancel"] == 3 and commands.calls["sacct"] == 2


def test_a_cancel_is_sent_again_while_the_job_stays_live(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("orchestrator.scheduler.slurm.time.monotonic", lambda: clock[0])
    ref = JobRef("90", tmp_path, "n")
    commands = _Commands(scancel=[""], sacct=[sacct("90|RUNNING|None|n")])
    backend = _backend(commands)
    backend.cancel([ref])
    for seconds in (1, RESEND_S - 1, RESEND_S, RESEND_S + 1, 2 * RESEND_S):
        clock[0] = 100.0 + seconds
        backend.poll([ref])
    assert commands.calls["scancel"] == 3  # at 0, RESEND_S and 2 * RESEND_S


@pytest.mark.parametrize(("squeue", "resent"), [
    ("95|PENDING\n", True),  # SLURM requeued the NODE_FAIL'd job under its id: again
    ("", False),  # gone: the cancel is done
])
def test_a_cancelled_node_fail_job_that_slurm_requeues_is_cancelled_again(
        squeue: str, resent: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("orchestrator.scheduler.slurm.time.monotonic", lambda: clock[0])
    ref = JobRef("95", tmp_path, "r")
    commands = _Commands(scancel=[""], sacct=[sacct("95|NODE_FAIL|None|r")], squeue=[squeue])
    backend = _backend(commands)
    backend.cancel([ref])
    clock[0] += RESEND_S
    backend.poll([])
    clock[0] += RESEND_S
    backend.poll([])
    assert commands.calls["scancel"] == (3 if resent else 1)


def test_the_cancel_tracker_forgets_ended_jobs_and_keeps_unknown_ones(tmp_path: Path) -> None:
    cancels = Cancels()
    a, b, c = (JobRef(i, tmp_path) for i in ("1", "2", "3"))
    cancels.ask([a, b, c])
    cancels.sent([a, b], now=0.0)
    assert cancels.unsent() == [c]
    due = cancels.due({"1": JobState.CANCELLED, "2": JobState.UNKNOWN}, now=1.0)
    assert due == [c]  # unsent: at once; b was sent a second ago
    assert cancels.asked() == [b, c]
    assert cancels.due({}, now=RESEND_S) == [b, c]


@pytest.mark.parametrize(("stderr", "limit"), [
    # SLURM 22.05, recorded on the local cluster (QOS tinyq, MaxSubmitJobsPerUser=3)
    ("sbatch: error: QOSMaxSubmitJobPerUserLimit\nsbatch: error: Batch job submission "
     "failed: Job violates accounting/QOS policy (job submit limit, user's size and/or time "
     "limits)\n", "sbatch: error: QOSMaxSubmitJobPerUserLimit"),
    ("sbatch: error: AssocMaxSubmitJobLimit\nsbatch: error: Batch job submission failed: "
     "Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)",
     "sbatch: error: AssocMaxSubmitJobLimit"),
    ("sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying\n",
     "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying"),
    # too long for the QOS: the same general line, and no wait cures it
    ("sbatch: error: QOSMaxWallDurationPerJobLimit\nsbatch: error: Batch job submission "
     "failed: Job violates accounting/QOS policy (job submit limit, user's size and/or time "
     "limits)", ""),
    ("sbatch: error: Batch job submission failed: Invalid partition name specified", ""),
], ids=["qos-user", "association", "max-job-count", "wall-limit", "partition"])
def test_a_limit_on_queued_jobs_is_told_apart_from_a_refusal(stderr: str, limit: str) -> None:
    assert submit_limit(stderr) == limit


def test_recorded_squeue_states() -> None:
    assert parse_squeue_states("70|PENDING\n71|PREEMPTED\n71.batch|CANCELLED\n\nbad\n") == {
        "70": JobState.PENDING, "71": JobState.PREEMPTED}
