"""What SLURM's sacct and squeue print, read: pure functions of their text (tested on
recorded outputs in tests/fixtures/), and the one table from sacct's states to JobState.

Why a pending job waits comes from two places. sacct (slurmdbd) carries a Reason only where
slurmctld sent one (SLURM 22.05: BeginTime, JobHeldUser), and `None` while a job waits for
Priority or Resources, which only squeue (slurmctld) knows; `merge_reasons` lays squeue's
word over sacct's empty one.

What differs between the SLURM releases, for what is parsed here and in `commands` (measured
on 22.05.8 and 24.11.5; recorded outputs in tests/fixtures/ and tests/fixtures/slurm-24.11/,
one test each in tests/unit/test_slurm_releases.py; the cluster's side is the "release
differences" block of scripts/local-slurm):
- sacct's Reason of a pending job: 22.05 says BeginTime or JobHeldUser, 24.11 `None` for
  every pending job (held, requeue-held, BeginTime): squeue's word fills it (`merge_reasons`).
- sacct's field `Reserved` (22.05) is `Planned` (24.11), each refused by the other release:
  SACCT_FORMAT names neither.
- `sbatch --test-only` refusals and the submit-limit lines: the same words on both (REFUSALS,
  commands.SUBMIT_LIMITS).
- rate limiting (23.02+ `rl_enable`): the commands retry a refused RPC by themselves, silently
  (only -v prints "RPC rate limited N time(s). Sleeping then trying again."), so nothing
  fails; a command that gives up says "Rate limit exceeded, please retry ...": commands.BUSY.
- sbatch to a slurmctld stopped (SIGTERM) under it: 24.11.5 said "Batch job submission failed:
  Connection reset by peer" (tests/slurm/test_faults.py's restart test, whole tier on 24.11),
  a word 22.05.8 was not seen to use there: commands.UNREACHABLE has both releases' words, so
  it is a daemon that did not answer (the job, if made, is found by name), not a failure.
- a job preempted for good (PartitionName=scav, PreemptMode=CANCEL): 22.05 drops it from
  squeue at once, 24.11 shows it COMPLETING for a moment first, as it does a job preempted
  under REQUEUE before it is queued again: `parse_requeue_states` reads that row as UNKNOWN
  (not yet decided), never as the job running again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import NamedTuple

from orchestrator.model.transitions import JobState
from orchestrator.scheduler.commands import last_line

# sacct's State column -> JobState. "CANCELLED by 0" carries the uid: matched on its first
# word. Anything not listed is UNKNOWN.
SLURM_STATES: dict[str, JobState] = {
    "PENDING": JobState.PENDING,
    "CONFIGURING": JobState.PENDING,
    "RESV_DEL_HOLD": JobState.PENDING,
    "REQUEUE_FED": JobState.REQUEUED,
    # requeued and held (scontrol requeuehold, a failed prolog/epilog): it waits for a
    # release; its Reason says who holds it
    "REQUEUE_HOLD": JobState.PENDING,
    "REQUEUED": JobState.REQUEUED,
    # sacct shows a job preempted under REQUEUE as PREEMPTED until its next run's record
    # comes (up to cred_expire, 120 s by default), under CANCEL for good: the adapter asks
    # squeue, which knows at once (slurm.SlurmScheduler.poll)
    "PREEMPTED": JobState.PREEMPTED,
    "SUSPENDED": JobState.PENDING,
    "RESIZING": JobState.RUNNING,
    "RUNNING": JobState.RUNNING,
    "COMPLETING": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING,
    "STOPPED": JobState.RUNNING,
    "COMPLETED": JobState.SUCCEEDED,
    "FAILED": JobState.FAILED,
    "BOOT_FAIL": JobState.FAILED,
    "SPECIAL_EXIT": JobState.FAILED,
    "REVOKED": JobState.CANCELLED,
    "CANCELLED": JobState.CANCELLED,
    "DEADLINE": JobState.TIMEOUT,
    "TIMEOUT": JobState.TIMEOUT,
    "OUT_OF_MEMORY": JobState.OUT_OF_MEMORY,
    "NODE_FAIL": JobState.NODE_FAIL,
}


def map_slurm_state(raw: str) -> JobState:
    words = raw.split()
    return SLURM_STATES.get(words[0].rstrip("+"), JobState.UNKNOWN) if words else JobState.UNKNOWN


class SacctRow(NamedTuple):
    state: JobState
    name: str
    reason: str = ""  # why a PENDING job waits (Priority, Resources, JobHeldUser...), or ""


# the name last: a foreign job's name may hold a "|". Reason: why a pending job waits, where
# slurmdbd was told (SLURM 22.05 tells it BeginTime or JobHeldUser, not Priority/Resources)
SACCT_FORMAT = "JobID,State,Reason,JobName"


def parse_sacct(text: str) -> dict[str, SacctRow]:
    """Job id -> its row, from `sacct -X -o SACCT_FORMAT --parsable2` (with its header, which
    says the columns: JobID and State first, JobName last, a Reason between them or not)."""
    lines = text.splitlines()
    header = lines[0].split("|") if lines else []
    with_reason = "Reason" in header
    rows: dict[str, SacctRow] = {}
    for line in lines[1:]:
        cells = line.split("|", 3 if with_reason else 2)
        if len(cells) < (4 if with_reason else 3):
            continue
        job_id, raw, name = cells[0].strip(), cells[1], cells[-1]
        if job_id and "." not in job_id:
            state = map_slurm_state(raw)
            reason = cells[2].strip() if with_reason and state is JobState.PENDING else ""
            rows[job_id] = SacctRow(state, name, "" if reason == "None" else reason)
    return rows


# squeue's columns: job id and reason, "|" between (neither holds one); with --noheader
SQUEUE_FORMAT = "%i|%r"


def parse_squeue_reasons(text: str) -> dict[str, str]:
    """Job id -> why it waits, from `squeue --noheader --format=SQUEUE_FORMAT`; a job with
    no reason (`None`: running, or about to) is left out."""
    reasons: dict[str, str] = {}
    for line in text.splitlines():
        job_id, bar, reason = (cell.strip() for cell in line.partition("|"))
        if job_id and bar and reason and reason != "None":
            reasons[job_id] = reason
    return reasons


def merge_reasons(sacct: Mapping[str, str], squeue: Mapping[str, str],
                  fresh: Collection[str] = ()) -> dict[str, str]:
    """Pending job id -> why it waits: sacct's reason where it has one, else squeue's, else
    none (left out); squeue's first for the `fresh` jobs (released from a hold: sacct keeps
    saying JobHeldUser). Only the jobs in `sacct` (those its poll saw PENDING) are answered."""
    merged = {job_id: (squeue.get(job_id) or reason) if job_id in fresh else
              (reason or squeue.get(job_id, "")) for job_id, reason in sacct.items()}
    return {job_id: reason for job_id, reason in merged.items() if reason}


# squeue's columns for a job's state: job id and state, "|" between; with --noheader
SQUEUE_STATE_FORMAT = "%i|%T"


def parse_squeue_states(text: str) -> dict[str, JobState]:
    """Job id -> its state as slurmctld holds it, from `squeue --noheader -t all
    --format=SQUEUE_STATE_FORMAT`; a job slurmctld has forgotten is left out."""
    states: dict[str, JobState] = {}
    for line in text.splitlines():
        job_id, bar, raw = (cell.strip() for cell in line.partition("|"))
        if job_id and bar and "." not in job_id:
            states[job_id] = map_slurm_state(raw)
    return states


def parse_requeue_states(text: str) -> dict[str, JobState]:
    """`parse_squeue_states` for a PREEMPTED job's squeue row: COMPLETING there is its
    preempted run still ending, whether SLURM queues it again or not (24.11), so UNKNOWN:
    nothing can be said until the next poll, as when squeue does not answer."""
    return {job_id: JobState.UNKNOWN if state is JobState.RUNNING and raw_completing else state
            for job_id, (state, raw_completing) in _squeue_rows(text).items()}


def _squeue_rows(text: str) -> dict[str, tuple[JobState, bool]]:
    rows: dict[str, tuple[JobState, bool]] = {}
    for line in text.splitlines():
        job_id, bar, raw = (cell.strip() for cell in line.partition("|"))
        if job_id and bar and "." not in job_id:
            rows[job_id] = (map_slurm_state(raw), raw.split()[:1] == ["COMPLETING"])
    return rows


# sbatch option (submitit's parameter name) -> the JobResources field it comes from
SLURM_OPTIONS = {"partition": "partition", "account": "account", "qos": "qos",
                 "constraint": "constraint", "time": "timeout_min",
                 "cpus_per_task": "cpus_per_task", "mem": "mem_gb",
                 "gpus_per_node": "gpus_per_node", "nodes": "nodes"}
# words of slurmctld's refusal (lower case) -> the sbatch option it is about. A reason that
# fits none (e.g. "Requested node configuration is not available": too many CPUs, too much
# memory, or a combination) is reported for the whole job kind.
REFUSALS = (("invalid partition", "partition"), ("partition", "partition"),
            ("invalid account", "account"), ("invalid qos", "qos"), ("qos", "qos"),
            ("invalid feature", "constraint"), ("time limit", "time"),
            ("generic resource", "gpus_per_node"), ("gres", "gpus_per_node"),
            ("memory", "mem"))


def refused_option(reason: str) -> str | None:
    """The sbatch option that slurmctld's refusal `reason` is about, if it says."""
    lowered = reason.lower()
    if "invalid account" in lowered or "account/partition" in lowered:
        return "account"  # "Invalid account or account/partition combination specified"
    if "policy" in lowered:
        return None  # "Job violates accounting/QOS policy": a limit, of what is unsaid
    return next((option for words, option in REFUSALS if words in lowered), None)


def refusal_reason(stderr: str) -> str:
    """slurmctld's reason from sbatch's stderr: `allocation failure: X` (--test-only),
    `sbatch: error: Batch job submission failed: X`, `sbatch: error: X`."""
    line = last_line(stderr)
    for prefix in ("allocation failure:", "sbatch: error:", "Batch job submission failed:"):
        line = line.split(prefix, 1)[-1].strip()
    return line
