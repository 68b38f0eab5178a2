"""The one runner of the scheduler commands we call ourselves (sacct, squeue, scancel,
`sbatch --test-only`; submitit runs the submitting sbatch). It counts the calls per program
(the benchmarks and tests read them) and turns "slurmctld does not answer" into
SchedulerUnavailable, so that no caller matches stderr on its own.

Two politenesses a real site needs. The commands run without the user's own settings for
how SLURM's commands print and behave (`command_environment`: SACCT_FORMAT, SQUEUE_FORMAT,
SLURM_TIME_FORMAT, SCANCEL_INTERACTIVE, which makes scancel ask y/n forever...), and with
stdin closed, so what we parse is what we asked for. And a daemon that sheds load (SLURM
23.02+ `rl_enable`: "Rate limit exceeded", "Resource temporarily unavailable", "Socket timed
out") is backed off from: SchedulerUnavailable, as for a daemon that is down, and no
command goes to it again until a wait that doubles from BACKOFF_FIRST_S up to
BACKOFF_MAX_S has passed (raising SchedulerUnavailable meanwhile, without asking); its
first answer ends the back-off.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from orchestrator.errors import SchedulerUnavailable

# what sbatch, squeue and scancel say when slurmctld does not answer (down, restarting,
# overloaded, rate-limiting): nothing is wrong with the job, the same call can be made
# again later ("connection reset by peer": 24.11's sbatch to a slurmctld stopping under it;
# a job it may have made is found by name before anything is submitted again)
UNREACHABLE = ("unable to contact slurm controller", "socket timed out",
               "connection refused", "connection timed out", "zero bytes were transmitted",
               "temporarily unavailable", "communication connection failure", "rate limit",
               "connection reset by peer")
# of those, a daemon shedding load: asked again only after a growing wait
BUSY = ("rate limit", "temporarily unavailable", "socket timed out")
TIMEOUT_S = 60
# what sbatch says when a limit on queued jobs refuses one more (QOSMaxSubmitJobPerUserLimit,
# QOSMaxSubmitJobPerAccountLimit, AssocMaxSubmitJobLimit; "Slurm temporarily unable to accept
# job" when the whole cluster is at MaxJobCount): it takes more once some end. Not the words of
# the general line that follows ("Job violates accounting/QOS policy (job submit limit, user's
# size and/or time limits)"): it also follows a job too large or too long for the QOS, which
# no wait cures.
SUBMIT_LIMITS = ("maxsubmitjob", "unable to accept job")
BACKOFF_FIRST_S = 2.0
BACKOFF_MAX_S = 60.0

# the user's settings for SLURM's own commands, which change what they print (or make
# scancel prompt); SBATCH_* stays: they are the user's submission defaults, and the
# --test-only check must see the job as submitit's sbatch will send it
FOREIGN_PREFIXES = ("SACCT_", "SQUEUE_", "SINFO_", "SCANCEL_", "SCONTROL_", "SPRIO_", "SSHARE_")
FOREIGN_NAMES = frozenset({"SLURM_TIME_FORMAT", "SLURM_BITSTR_LEN"})


# the most bytes of job ids one argument carries: Linux refuses an argument over 128 KiB
# (MAX_ARG_STRLEN, E2BIG), which ~16,000 7-8 digit ids joined by commas reach
ID_LIST_BYTES = 120_000


def id_lists(job_ids: Sequence[str], limit: int = ID_LIST_BYTES) -> list[str]:
    """`job_ids` as comma-joined lists of at most `limit` characters: one command each
    (one for the 10,000 ids of a large sweep, a second past ~13,000 8-digit ids)."""
    lists: list[str] = []
    current: list[str] = []
    size = 0
    for job_id in job_ids:
        if current and size + 1 + len(job_id) > limit:
            lists.append(",".join(current))
            current, size = [], 0
        size += len(job_id) + (1 if current else 0)
        current.append(job_id)
    return [*lists, ",".join(current)] if current else lists


def command_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (else ours) without the user's settings for SLURM's commands."""
    return {k: v for k, v in (os.environ if env is None else env).items()
            if not k.startswith(FOREIGN_PREFIXES) and k not in FOREIGN_NAMES}


def unreachable(detail: str) -> bool:
    """True when a command's error text says slurmctld did not answer."""
    return any(words in detail.lower() for words in UNREACHABLE)


def submit_limit(detail: str) -> str:
    """The line of sbatch's error text `detail` that names a limit on queued jobs, or ""."""
    lines = (ln.strip() for ln in detail.splitlines())
    return next((ln[:300] for ln in lines if any(w in ln.lower() for w in SUBMIT_LIMITS)), "")
def busy(detail: str) -> bool:
    """True when a command's error text says the daemon sheds load (rate limit, EAGAIN)."""
    return any(words in detail.lower() for words in BUSY)


def last_line(text: str) -> str:
    """The last non-blank line of `text`, stripped and cut at 300 characters."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def _daemon(program: str) -> str:
    """Who answers `program`: sacct reads slurmdbd, the others ask slurmctld."""
    return "slurmdbd" if program.startswith("sacct") else "slurmctld"


class Commands:
    """Runs scheduler commands; `calls` counts them by program name."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.calls: Counter[str] = Counter()
        self.clock = clock
        self._quiet_until: dict[str, float] = {}  # daemon -> not asked again before
        self._wait_s: dict[str, float] = {}  # daemon -> its next back-off

    def run(self, argv: Sequence[str], stdin: str | None = None,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """The finished command, whatever its exit status (in `env`, else ours, less the
        user's settings for SLURM's commands); SchedulerUnavailable when it could not run
        or ran out of time, slurmctld did not answer it, or it is backed off from."""
        what = " ".join(argv[:2]) if "--test-only" in argv[1:2] else argv[0]
        daemon = _daemon(argv[0])
        left = self._quiet_until.get(daemon, 0.0) - self.clock()
        if left > 0:
            raise SchedulerUnavailable(f"{what}: {daemon} is shedding load; asked again in "
                                       f"{left:.0f} s")
        self.calls[argv[0]] += 1
        try:
            # stdin at its end, never the user's terminal: nothing we run may wait on it
            done = subprocess.run(list(argv), input=stdin or "", capture_output=True,
                                  text=True, timeout=TIMEOUT_S, check=False,
                                  env=command_environment(env))
        except subprocess.TimeoutExpired:
            self._back_off(daemon)  # a rate-limited client retries by itself until then
            raise SchedulerUnavailable(f"{what}: no answer in {TIMEOUT_S} s") from None
        except (OSError, subprocess.SubprocessError) as exc:
            raise SchedulerUnavailable(f"{what}: {last_line(str(exc)) or exc!r}") from None
        if done.returncode != 0 and unreachable(done.stderr):
            if busy(done.stderr):
                self._back_off(daemon)
            raise SchedulerUnavailable(f"{what}: {last_line(done.stderr)}")
        self._quiet_until.pop(daemon, None)
        self._wait_s.pop(daemon, None)
        return done

    def _back_off(self, daemon: str) -> None:
        wait = self._wait_s.get(daemon, BACKOFF_FIRST_S)
        self._quiet_until[daemon] = self.clock() + wait
        self._wait_s[daemon] = min(wait * 2, BACKOFF_MAX_S)

    def output(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> str:
        """The command's stdout; SchedulerUnavailable on any failure (nothing can be said)."""
        done = self.run(argv, env=env)
        if done.returncode != 0:
            detail = last_line(done.stderr) or f"exit status {done.returncode}"
            raise SchedulerUnavailable(f"{argv[0]}: {detail}")
        return done.stdout
