"""The scheduler commands we run: without the user's settings for SLURM's commands, stdin
closed, and a daemon that sheds load (SLURM 23.02+ rl_enable) backed off from at a growing
interval instead of failing anything. The commands are fakes on PATH that say what a real
one said (the stderr texts below are SLURM's own)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from orchestrator.errors import SchedulerUnavailable
from orchestrator.scheduler.commands import BACKOFF_FIRST_S, BACKOFF_MAX_S, Commands

FAKE = """#!/bin/sh
echo "$0 $*" >> {log}
if [ -s {stderr} ]; then cat {stderr} >&2; exit 1; fi
env > {env}
cat > {stdin}
echo ok
"""


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """squeue, sacct, scancel and sbatch that log their calls, print `stderr` (then fail)
    when it is not empty, and keep their environment and stdin."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    files = {name: tmp_path / name for name in ("log", "stderr", "env", "stdin")}
    files["stderr"].write_text("")
    for program in ("squeue", "sacct", "scancel", "sbatch"):
        script = bin_dir / program
        script.write_text(FAKE.format(**files))
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


def _calls(fake: Path) -> int:
    log = fake / "log"
    return len(log.read_text().splitlines()) if log.exists() else 0


# recorded stderr of a daemon shedding load, and of other failures
BUSY = [
    "squeue: error: Rate limit exceeded, please retry momentarily",
    "sbatch: error: Batch job submission failed: Rate limit exceeded, please retry momentarily",
    "slurm_load_jobs error: Resource temporarily unavailable",
    "scancel: error: Kill job error on job id 61: Resource temporarily unavailable",
    "squeue: error: slurm_receive_msg: Socket timed out on send/recv operation\n"
    "slurm_load_jobs error: Socket timed out on send/recv operation",
]


def _next_ask(commands: Commands, clock: Clock, fake: Path) -> float:
    """Seconds until squeue is run again, tried every half second meanwhile: each try
    before then is SchedulerUnavailable without asking slurmctld anything."""
    start, calls = clock.now, _calls(fake)
    while _calls(fake) == calls:
        clock.now += 0.5
        with pytest.raises(SchedulerUnavailable):
            commands.run(["squeue", "-h"])
    return clock.now - start


@pytest.mark.parametrize("stderr", BUSY)
def test_a_daemon_shedding_load_is_backed_off_from_at_a_growing_interval(
        fake: Path, stderr: str) -> None:
    clock = Clock()
    commands = Commands(clock)
    (fake / "stderr").write_text(stderr + "\n")
    with pytest.raises(SchedulerUnavailable, match=r"(?i)rate limit|temporarily|timed out"):
        commands.run(["squeue", "-h"])  # not a failure: the caller asks again later
    with pytest.raises(SchedulerUnavailable, match="slurmctld is shedding load; asked again"):
        commands.run(["scancel", "61"])  # the same slurmctld: not asked
    assert _calls(fake) == 1
    waits = [_next_ask(commands, clock, fake) for _ in range(7)]
    first = BACKOFF_FIRST_S
    assert waits == [first, 2 * first, 4 * first, 8 * first, 16 * first, BACKOFF_MAX_S,
                     BACKOFF_MAX_S]
    assert commands.calls["scancel"] == 0
    # sacct asks slurmdbd, which is not the one shedding load
    (fake / "stderr").write_text("")
    assert commands.output(["sacct", "-X"]) == "ok\n"
    # slurmctld's first answer ends its back-off: the next one starts from the first wait
    clock.now += BACKOFF_MAX_S
    assert commands.output(["squeue", "-h"]) == "ok\n"
    (fake / "stderr").write_text(stderr + "\n")
    with pytest.raises(SchedulerUnavailable):
        commands.run(["squeue", "-h"])
    assert _next_ask(commands, clock, fake) == first


@pytest.mark.parametrize(("stderr", "unavailable"), [
    ("squeue: error: Unable to contact slurm controller (connect failure)", True),
    ("sbatch: error: Batch job submission failed: Invalid account or account/partition "
     "combination specified", False),
    ("squeue: error: Invalid job id specified", False),
])
def test_other_failures_are_not_backed_off_from(fake: Path, stderr: str,
                                                 unavailable: bool) -> None:
    """A daemon that is down is asked again at the caller's own pace (the controller's
    back-off, its poll cadence); a refusal is an answer."""
    commands = Commands(Clock())
    (fake / "stderr").write_text(stderr + "\n")
    for calls in (1, 2):
        if unavailable:
            with pytest.raises(SchedulerUnavailable):
                commands.run(["squeue", "-h"])
        else:
            assert commands.run(["squeue", "-h"]).returncode == 1
        assert _calls(fake) == calls


@pytest.mark.parametrize("variable", [
    "SACCT_FORMAT", "SQUEUE_FORMAT", "SQUEUE_FORMAT2", "SQUEUE_SORT", "SQUEUE_STATES",
    "SLURM_TIME_FORMAT", "SLURM_BITSTR_LEN", "SCANCEL_INTERACTIVE", "SCANCEL_VERBOSE",
    "SINFO_FORMAT", "SCONTROL_ALL",
])
def test_the_users_settings_for_slurm_commands_do_not_reach_them(
        fake: Path, monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, "x")
    monkeypatch.setenv("SBATCH_ACCOUNT", "lab")  # the user's submission defaults stay
    monkeypatch.setenv("SLURM_CONF", "/etc/slurm/slurm.conf")
    for env in (None, {**os.environ}):
        Commands().run(["sacct", "-X"], env=env)
        seen = dict(line.split("=", 1) for line in (fake / "env").read_text().splitlines()
                    if "=" in line)
        assert variable not in seen
        assert seen["SBATCH_ACCOUNT"] == "lab" and seen["SLURM_CONF"] == "/etc/slurm/slurm.conf"


def test_no_command_reads_our_stdin(fake: Path) -> None:
    """scancel asks y/n on stdin when told to (SCANCEL_INTERACTIVE): never our terminal."""
    Commands().run(["scancel", "61"])
    assert (fake / "stdin").read_text() == ""
    Commands().run(["sbatch", "--test-only"], stdin="#!/bin/sh\n")
    assert (fake / "stdin").read_text() == "#!/bin/sh\n"


def test_a_rate_limited_submission_is_tried_again_not_refused(fake: Path) -> None:
    """Not exit 2 or 3 ("refused"): the engine asks again after its own back-off."""
    from orchestrator.config.settings import JobResources
    from orchestrator.model.transitions import JobKind
    from orchestrator.scheduler import JobRequest
    from orchestrator.scheduler.slurm import SlurmScheduler

    scheduler = SlurmScheduler(interactive=False)
    assert scheduler._unanswered(BUSY[1])  # submitit's sbatch
    (fake / "stderr").write_text(BUSY[1] + "\n")
    request = JobRequest(key="train-t001-a0", kind=JobKind.TRAIN, name="s-train-t001-a0",
                         folder=fake / "jobs", resources=JobResources(), command=("true",))
    with pytest.raises(SchedulerUnavailable, match="Rate limit exceeded"):
        scheduler.preflight([request])  # sbatch --test-only
