"""The one runner of the scheduler commands we call ourselves (sacct, squeue, scancel,
`sbatch --test-only`; submitit runs the submitting sbatch). It counts the calls per program
(the benchmarks and tests read them) and turns "slurmctld does not answer" into
SchedulerUnavailable, so that no caller matches stderr on its own."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Mapping, Sequence

from orchestrator.errors import SchedulerUnavailable

# what sbatch, squeue and scancel say when slurmctld does not answer (down, restarting,
# overloaded): nothing is wrong with the job, the same call can be made again later
UNREACHABLE = ("unable to contact slurm controller", "socket timed out",
               "connection refused", "connection timed out", "zero bytes were transmitted",
               "temporarily unavailable", "communication connection failure")
TIMEOUT_S = 60
# what sbatch says when a limit on queued jobs refuses one more (QOSMaxSubmitJobPerUserLimit,
# QOSMaxSubmitJobPerAccountLimit, AssocMaxSubmitJobLimit; "Slurm temporarily unable to accept
# job" when the whole cluster is at MaxJobCount): it takes more once some end. Not the words of
# the general line that follows ("Job violates accounting/QOS policy (job submit limit, user's
# size and/or time limits)"): it also follows a job too large or too long for the QOS, which
# no wait cures.
SUBMIT_LIMITS = ("maxsubmitjob", "unable to accept job")


def unreachable(detail: str) -> bool:
    """True when a command's error text says slurmctld did not answer."""
    return any(words in detail.lower() for words in UNREACHABLE)


def submit_limit(detail: str) -> str:
    """The line of sbatch's error text `detail` that names a limit on queued jobs, or ""."""
    lines = (ln.strip() for ln in detail.splitlines())
    return next((ln[:300] for ln in lines if any(w in ln.lower() for w in SUBMIT_LIMITS)), "")


def last_line(text: str) -> str:
    """The last non-blank line of `text`, stripped and cut at 300 characters."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


class Commands:
    """Runs scheduler commands; `calls` counts them by program name."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def run(self, argv: Sequence[str], stdin: str | None = None,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """The finished command, whatever its exit status (in `env`, else ours);
        SchedulerUnavailable when it could not run or ran out of time, or slurmctld did not
        answer it."""
        self.calls[argv[0]] += 1
        what = " ".join(argv[:2]) if "--test-only" in argv[1:2] else argv[0]
        try:
            done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True,
                                  timeout=TIMEOUT_S, check=False,
                                  env=None if env is None else dict(env))
        except (OSError, subprocess.SubprocessError) as exc:
            raise SchedulerUnavailable(f"{what}: {last_line(str(exc)) or exc!r}") from None
        if done.returncode != 0 and unreachable(done.stderr):
            raise SchedulerUnavailable(f"{what}: {last_line(done.stderr)}")
        return done

    def output(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        """The command's stdout; SchedulerUnavailable on any failure (nothing can be said)."""
        done = self.run(argv, env=env)
        if done.returncode != 0:
            detail = last_line(done.stderr) or f"exit status {done.returncode}"
            raise SchedulerUnavailable(f"{argv[0]}: {detail}")
        return done.stdout
