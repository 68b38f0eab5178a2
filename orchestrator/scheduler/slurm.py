"""The SLURM backend: sbatch through submitit, states from sacct, names that prove a job ours.

Theory of operation: one `sacct` call per poll for every tracked job (one per ~13,000 ids:
`commands.id_lists`, under Linux's limit on one argument); a failed call yields
UNKNOWN for all of them (never "done", never "lost"). squeue (slurmctld) is asked only what
slurmdbd cannot say: why PENDING jobs without a Reason wait (22.05 keeps Priority and
Resources from slurmdbd; a failed call costs the reason), and whether a job sacct shows
PREEMPTED is queued again (REQUEUE) or gone (CANCEL). Every job has a name unique to its
search and key (`requests.job_name`), and the name, not only the id, says which job is ours:
a row whose id matches but whose name does not is a job SLURM gave a reused id (our job is
LOST), a cancel names the job (`scancel --name=N ID`) and is sent again until the job is seen
ended (slurm_cancel), and a submission a killed controller never journaled is found by name
(`recover`). An unanswered submission raises SchedulerUnavailable, one a limit on queued jobs
refused SubmitLimited (both tried again later). Raw states: slurm_parse.SLURM_STATES only.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

import submitit
from submitit.helpers import Checkpointable

from orchestrator.common.causes import JobFailure
from orchestrator.errors import SchedulerUnavailable
from orchestrator.model.transitions import REQUEUABLE_ENDS, JobKind, JobState
from orchestrator.scheduler.commands import (
    Commands,
    command_environment,
    id_lists,
    last_line,
    submit_limit,
    unreachable,
)
from orchestrator.scheduler.interface import JobRef, JobRequest, Polled, Refusal
from orchestrator.scheduler.sbatch_values import slurm_parameters
from orchestrator.scheduler.slurm_cancel import Cancels
from orchestrator.scheduler.slurm_nodes import describe_node_fail
from orchestrator.scheduler.slurm_parse import (
    SACCT_FORMAT,
    SLURM_OPTIONS,
    SQUEUE_FORMAT,
    SQUEUE_STATE_FORMAT,
    SacctRow,
    merge_reasons,
    parse_requeue_states,
    parse_sacct,
    parse_squeue_reasons,
    parse_squeue_states,
    refusal_reason,
    refused_option,
)
from orchestrator.scheduler.slurm_requeue import Requeues
from orchestrator.scheduler.submitit_jobs import (
    SubmititBackend,
    finish_submission_files,
    job_paths,
    python_command,
)

# slurmdbd's name for a job whose name slurmctld has not sent yet (seen for seconds after
# sbatch, with PENDING and even COMPLETED rows)
UNNAMED = "allocation"
SBATCH_SETTLE_S = 15.0  # an orphaned sbatch lands or gives up within MessageTimeout (10 s)
# why a job waits (Priority, Resources) changes slowly: squeue is asked again for jobs it has
# already answered about at most this often (a new pending job is asked about at once)
REASONS_REFRESH_S = 300.0


# A controller inside an allocation (a detached controller's job, salloc, srun) carries that
# allocation's SLURM_* variables. sbatch exports the environment to the job it submits, and
# srun there reads them (SLURM_CPUS_PER_TASK, SLURM_MEM_PER_NODE, SLURM_NTASKS...) as its own:
# the child would ask for the parent's resources. Only where slurm.conf lives is kept.
KEEP_SLURM_VARIABLES = frozenset({"SLURM_CONF"})



@contextlib.contextmanager
def outside_allocation() -> Iterator[None]:
    """os.environ without the allocation's SLURM_* variables, while a job is submitted (the
    controller is single-threaded; they are put back after)."""
    saved = {k: v for k, v in os.environ.items()
             if k.startswith("SLURM_") and k not in KEEP_SLURM_VARIABLES}
    for key in saved:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(saved)


class RequeueOnTimeout(Checkpointable):
    """A training job that SLURM stops for its time limit or preemption is requeued by
    submitit under the same job id; the restarted job resumes from its last complete
    checkpoint (jobs.train does that by itself), so nothing but the steps since is lost."""

    def __init__(self, function: Any) -> None:
        self.function = function

    def __call__(self, *args: Any) -> Any:
        return self.function(*args)


class _ScriptOnly(submitit.SlurmExecutor):
    """A SlurmExecutor that only renders scripts: no srun needed on this machine."""

    @classmethod
    def affinity(cls) -> int:
        return 1


class SlurmScheduler(SubmititBackend):
    """The `Scheduler` interface on submitit's SlurmExecutor."""

    submit_settle_s = SBATCH_SETTLE_S

    def __init__(self, interactive: bool | None = None) -> None:
        super().__init__(interactive)
        self.commands = Commands()
        self._foreign: dict[str, str] = {}  # our job id -> the other job's name now using it
        self._reasons: dict[str, str] = {}  # squeue's last answer, by job id
        self._reasons_at = -REASONS_REFRESH_S  # when it was asked (monotonic seconds)
        self._cancels = Cancels()  # asked to end, not seen ended yet (slurm_cancel)
        self._released: set[str] = set()  # asked to release from a hold: sacct keeps its reason
        self._node_failed: set[str] = set()  # seen NODE_FAIL: their failure names the node
        self._requeues = Requeues()  # RUNNING, now PENDING: what ended the run (slurm_requeue)

    @property
    def sacct_calls(self) -> int:
        return self.commands.calls["sacct"]

    # ---------------------------------------------------------------- submission
    def executor(self, request: JobRequest, create: bool = True) -> submitit.SlurmExecutor:
        if create:
            request.folder.mkdir(parents=True, exist_ok=True)
        # rendering a script (--dry-run, --test-only) needs no SLURM on this machine
        kind = submitit.SlurmExecutor if create else _ScriptOnly
        executor = kind(folder=request.folder, python=python_command(request.resources,
                                                                     request.snapshot),
                        max_num_timeout=request.resources.max_requeues)
        executor.update_parameters(**slurm_parameters(request))
        return executor

    def job_callable(self, request: JobRequest) -> tuple[Any, tuple[Any, ...]]:
        function, args = super().job_callable(request)
        # the controller: engine.detach
        requeued = request.kind in (JobKind.TRAIN, JobKind.CONTROLLER)
        return (RequeueOnTimeout(function) if requeued else function), args

    def _unanswered(self, error: str) -> bool:
        return unreachable(error)

    def _limit(self, error: str) -> str:
        return submit_limit(error)

    def _start(self, request: JobRequest, executor: submitit.Executor, function: Any,
               args: tuple[Any, ...]) -> submitit.Job[Any]:
        with outside_allocation():
            return executor.submit(function, *args)

    def render(self, request: JobRequest, drop: Sequence[str] = ()) -> str:
        """The sbatch script `submit` sends for `request`, less the options in `drop`."""
        executor = self.executor(request, create=False)
        for option in drop:
            executor.parameters.pop(option, None)
        command = " ".join(executor._submitit_command_str.split())
        return str(executor._make_submission_file_text(command, "<uid>"))

    def preflight(self, requests: Sequence[JobRequest]) -> list[Refusal]:
        """Ask slurmctld with `sbatch --test-only` whether it would accept each request's job
        as `submit` would send it; submits nothing. sbatch names only the first thing it
        refuses, so each refused option is left out in turn to find the next one.
        Raises SchedulerUnavailable when slurmctld does not answer (nothing can be said)."""
        refusals: list[Refusal] = []
        for request in requests:
            sent = self.executor(request, create=False).parameters
            dropped: list[str] = []
            while True:
                reason = self._test_only(request, dropped)
                if reason is None:
                    break
                option = refused_option(reason)
                if option is None or option in dropped or option not in sent:
                    refusals.append(Refusal(request.kind, "", reason))
                    break
                refusals.append(Refusal(request.kind, SLURM_OPTIONS[option], reason))
                dropped.append(option)
        return refusals

    def _test_only(self, request: JobRequest, drop: Sequence[str]) -> str | None:
        """None when sbatch --test-only accepts the script, else slurmctld's reason."""
        with outside_allocation():
            done = self.commands.run(["sbatch", "--test-only"], stdin=self.render(request, drop))
        if done.returncode == 0 or submit_limit(done.stderr):
            return None  # a limit on queued jobs: it is waited out, not a wrong setting
        return refusal_reason(done.stderr) or f"sbatch exit status {done.returncode}"

    # ---------------------------------------------------------------- recovery
    def recover(self, request: JobRequest) -> str | None:
        if not request.folder.exists():
            return None  # sbatch never ran
        jobs = self._jobs_named(request.name, since=request.folder.stat().st_mtime - 600)
        if not jobs:
            return None
        *duplicates, (job_id, state) = sorted(jobs.items(), key=lambda j: int(j[0].split("_")[0]))
        if duplicates:  # never two runs of one job: they would write the same folders
            self.cancel([JobRef(i, request.folder, request.name) for i, _ in duplicates])
        paths = job_paths(JobRef(job_id, request.folder))
        if not paths.submitted_pickle.exists():
            if state.terminal:
                # it gave up waiting (60 s) for the pickle its killed controller never
                # wrote: it ran nothing, so submitting afresh costs no retry
                return None
            finish_submission_files(request.folder, paths)
        return job_id

    def _jobs_named(self, name: str, since: float) -> dict[str, JobState]:
        """Id -> state of the jobs called `name`: squeue (slurmctld, no lag) for those it
        still holds, else sacct (the database) for those it has forgotten since `since`."""
        day = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(since))
        queries = (["squeue", "-h", "-t", "all", "--name", name, "-o", "%i|%T"],
                   ["sacct", "-X", "-n", "-P", "-S", day, "--name", name, "-o", "JobID,State"])
        for command in queries:
            try:
                out = self.commands.output(command, env=command_environment())
            except SchedulerUnavailable as exc:
                raise SchedulerUnavailable(f"looking for job {name}: {exc}") from None
            jobs = parse_squeue_states(out)  # sacct -P's lines are the same: id|state
            if jobs:
                return jobs
        return {}

    # ---------------------------------------------------------------- states
    def poll(self, jobs: Sequence[JobRef]) -> Polled:
        """One sacct call for `jobs` and those asked to end (slurm_cancel); squeue only for
        why jobs wait and whether a preempted one is requeued; sacct -D only for jobs seen
        RUNNING, now PENDING (what ended their run: slurm_requeue)."""
        asked = self._cancels.asked()
        if not jobs and not asked:
            return Polled({})
        ids = sorted({ref.job_id.split("_")[0] for ref in [*jobs, *asked]})
        try:
            rows = {job_id: row for chunk in id_lists(ids) for job_id, row in parse_sacct(
                self.commands.output(["sacct", "-X", "-o", SACCT_FORMAT, "--parsable2", "-j",
                                      chunk])).items()}
        except SchedulerUnavailable as exc:
            self._warn(f"sacct failed ({str(exc).removeprefix('sacct: ')}); "
                       "job states stay as last seen until it answers")
            self._send(self._cancels.unsent())
            return Polled({ref.job_id: JobState.UNKNOWN for ref in jobs})
        seen = {ref.job_id: self._state_of(ref, rows.get(ref.job_id)) for ref in [*asked, *jobs]}
        self._node_failed.update(j for j, state in seen.items() if state is JobState.NODE_FAIL)
        self._requeued(seen, {ref.job_id for ref in asked})
        self._send(self._cancels.due(seen, time.monotonic()))
        states = {ref.job_id: seen[ref.job_id] for ref in jobs}
        pending = {job_id: rows[job_id].reason for job_id, state in states.items()
                   if state is JobState.PENDING and job_id in rows}
        unsure = sorted(j for j, why in pending.items() if not why or j in self._released)
        return Polled(states, merge_reasons(pending, self._reasons_for(unsure), self._released),
                      requeued=self._requeues.seen(self.commands, states))

    def _requeued(self, seen: dict[str, JobState], asked: set[str]) -> None:
        """Correct in `seen` the jobs sacct shows PREEMPTED, and those asked to end that it
        shows ended in a way SLURM may undo (REQUEUABLE_ENDS): slurmdbd keeps the ended run's
        record until the next run's starts (up to cred_expire), slurmctld knows at once
        whether the job is queued again. One squeue call; when it fails, a PREEMPTED job is
        UNKNOWN (nothing can be said) and a cancel's job is not seen ended."""
        doubtful = sorted(job_id for job_id, state in seen.items()
                          if state is JobState.PREEMPTED
                          or (state in REQUEUABLE_ENDS and job_id in asked))
        if not doubtful:
            return
        try:
            queued = parse_requeue_states(self._squeue(doubtful, SQUEUE_STATE_FORMAT, "-t",
                                                       "all"))
        except SchedulerUnavailable:
            seen.update((job_id, JobState.UNKNOWN) for job_id in doubtful)
            return
        for job_id in doubtful:
            now = queued.get(job_id)
            if now is not None and not now.terminal:
                seen[job_id] = now  # requeued: the same job runs again

    def _reasons_for(self, job_ids: list[str]) -> dict[str, str]:
        """squeue's reasons for `job_ids`: asked when a job is new to it, else at most every
        REASONS_REFRESH_S, so that a queue of held jobs costs no squeue call per poll."""
        now = time.monotonic()
        if any(j not in self._reasons for j in job_ids) or \
                (job_ids and now - self._reasons_at >= REASONS_REFRESH_S):
            answer = self._squeue_reasons(job_ids)
            self._reasons, self._reasons_at = {j: answer.get(j, "") for j in job_ids}, now
        return {j: self._reasons[j] for j in job_ids if self._reasons.get(j)}

    def _squeue_reasons(self, job_ids: Sequence[str]) -> dict[str, str]:
        """Job id -> why slurmctld keeps it waiting, from one squeue call for `job_ids`
        (none when empty); {} with a warning when squeue fails: only a reason is lost."""
        if not job_ids:
            return {}
        try:
            return parse_squeue_reasons(self._squeue(job_ids, SQUEUE_FORMAT))
        except SchedulerUnavailable as exc:
            self._warn(f"squeue failed ({str(exc).removeprefix('squeue: ')}); why pending "
                       "jobs wait is not shown until it answers")
            return {}

    def _squeue(self, job_ids: Sequence[str], columns: str, *options: str) -> str:
        """squeue's lines for `job_ids` ("" when slurmctld has forgotten them all: they
        ended); SchedulerUnavailable when it fails."""
        return "".join(self._squeue_one(chunk, columns, options) for chunk in id_lists(job_ids))

    def _squeue_one(self, job_ids: str, columns: str, options: Sequence[str]) -> str:
        done = self.commands.run(["squeue", "--noheader", *options, f"--jobs={job_ids}",
                                  f"--format={columns}"], env=command_environment())
        if done.returncode == 0:
            return done.stdout
        detail = last_line(done.stderr) or f"exit status {done.returncode}"
        if "invalid job id" in detail.lower():
            return ""
        raise SchedulerUnavailable(f"squeue: {detail}")

    def _state_of(self, ref: JobRef, row: SacctRow | None) -> JobState:
        if row is None:
            return JobState.UNKNOWN  # sacct lags slurmctld: no row yet is not lost
        if ref.name and row.name == UNNAMED:
            # not told the name yet: PENDING is safe to believe whoever the job is (nothing
            # follows from it); an end state is believed once the name says it is ours
            return JobState.PENDING if row.state is JobState.PENDING else JobState.UNKNOWN
        if ref.name and row.name != ref.name:
            # slurmctld lost its state and gave our id to another job: ours is gone
            self._foreign[ref.job_id] = row.name
            return JobState.LOST
        return row.state

    # ---------------------------------------------------------------- cancel, failures
    def cancel(self, jobs: Sequence[JobRef]) -> None:
        """Send the cancels now, and again until SLURM shows each job ended (slurm_cancel)."""
        self._cancels.ask(jobs)
        self._send(jobs)

    def _send(self, jobs: Sequence[JobRef]) -> None:
        """One `scancel --name=N ID` per job: slurmctld itself then refuses to cancel a job
        of another name that holds a reused id. Jobs journaled before names were (none)
        go in one plain call. Stops at the first that slurmctld does not answer: the rest
        are sent at a later poll."""
        named = sorted({(ref.name, ref.job_id) for ref in jobs if ref.name})
        batches = [(["scancel", f"--name={name}", job_id],
                    [ref for ref in jobs if ref.job_id == job_id]) for name, job_id in named]
        unnamed = [ref for ref in jobs if not ref.name]
        if unnamed:
            batches.append((["scancel", *sorted({ref.job_id for ref in unnamed})], unnamed))
        for command, refs in batches:
            try:
                self.commands.run(command)
            except SchedulerUnavailable as exc:
                detail = str(exc).removeprefix("scancel: ")
                self._warn(f"scancel failed ({detail}); the cancel is sent again later")
                return
            self._cancels.sent(refs, time.monotonic())

    def release(self, jobs: Sequence[JobRef]) -> None:
        """`scontrol release` held jobs; an admin's hold refuses (the job is then replaced)."""
        self._released.update(ref.job_id for ref in jobs)  # squeue is asked why they wait
        self._reasons_at = -REASONS_REFRESH_S
        with contextlib.suppress(SchedulerUnavailable):
            self.commands.output(["scontrol", "release", *sorted(ref.job_id for ref in jobs)])

    def failure(self, ref: JobRef) -> JobFailure:
        if ref.job_id in self._foreign:
            return JobFailure(None, f"SLURM gave job id {ref.job_id} to another job "
                              f"({self._foreign[ref.job_id]!r}): slurmctld lost ours "
                              "(restarted without its state?)")
        found = super().failure(ref)
        lost = describe_node_fail(self.commands, ref.job_id) if ref.job_id in self._node_failed \
            else ""
        return JobFailure(found.cause, "; ".join(w for w in (lost, found.reason) if w))
