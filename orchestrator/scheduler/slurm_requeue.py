"""What ended a job's previous run when SLURM queued it again under its id.

slurmctld requeues a NODE_FAIL'd batch job (JobRequeue=1) within a second, a job preempted
under PreemptMode=REQUEUE at once, and one that `scontrol requeue` names (a person, or
submitit before the time limit): sacct -X (without -D) then shows only the new run, PENDING,
and a poll sees RUNNING -> PENDING with no word of why. sacct -X -D keeps every run of the id
(`ID|NODE_FAIL|n2`, then `ID|PENDING|None assigned`): it is asked once, for the jobs that
made that move in one poll, never per poll. A NODE_FAIL'd run on several nodes also asks
sinfo which of them is lost (slurm_nodes).
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.errors import SchedulerUnavailable
from orchestrator.model.transitions import JobState
from orchestrator.scheduler.commands import Commands, id_lists
from orchestrator.scheduler.slurm_nodes import lost_nodes

SACCT_RUNS = ["sacct", "-X", "-D", "-n", "-P", "-o", "JobID,State,NodeList"]
UNSAID = "its run ended (sacct did not say how)"
# sacct's state of a requeued job's previous run -> what ended it, in words
ENDS = {
    "PREEMPTED": "preemption (PREEMPTED)",
    "REQUEUED": "scontrol requeue (REQUEUED: a person, or submitit before the time limit)",
    "TIMEOUT": "its time limit (TIMEOUT)",
    "BOOT_FAIL": "its node failed to boot (BOOT_FAIL)",
}


def previous_runs(rows: str) -> dict[str, tuple[str, str]]:
    """Job id -> (State, NodeList) of its last run that ended, from `SACCT_RUNS` rows (each
    run of an id in the order it ran; the runs still pending or running are skipped)."""
    ended: dict[str, tuple[str, str]] = {}
    for line in rows.splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) < 3 or not cells[0] or "." in cells[0]:
            continue
        state = cells[1].split(" ")[0]  # "CANCELLED by 0": the uid is no end of its own
        if state not in ("PENDING", "RUNNING", "REQUEUE_HOLD", "CONFIGURING", "COMPLETING"):
            ended[cells[0]] = (state, cells[-1])  # NodeList last: Start, End may come between
    return ended


def single_node(nodes: str) -> bool:
    return bool(nodes) and not any(c in nodes for c in "[,") and nodes != "None assigned"


def end_words(state: str, nodes: str, listing: str = "") -> str:
    """What ended a run that sacct shows `state` on `nodes`, in words: `node n2 was lost
    (NODE_FAIL)`; `listing` is sinfo's `%N|%t` of a several-node run's nodes."""
    if state != "NODE_FAIL":
        return ENDS.get(state, f"its run ended {state}")
    if single_node(nodes):
        return f"node {nodes} was lost (NODE_FAIL)"
    lost = lost_nodes(listing)
    if lost:
        return f"node {', '.join(lost)} was lost (NODE_FAIL; the job ran on {nodes})"
    return f"a node of {nodes or 'the job'} was lost (NODE_FAIL)"


def what_ended(commands: Commands, job_ids: list[str]) -> dict[str, str]:
    """Job id -> what ended its previous run, from one `sacct -X -D` for `job_ids` (and one
    sinfo per NODE_FAIL'd run on several nodes); UNSAID for those sacct does not answer."""
    try:
        runs = {job_id: run for chunk in id_lists(job_ids) for job_id, run in previous_runs(
            commands.output([*SACCT_RUNS, "-j", chunk])).items()}
    except SchedulerUnavailable:
        return dict.fromkeys(job_ids, UNSAID)
    words: dict[str, str] = {}
    for job_id in job_ids:
        state, nodes = runs.get(job_id, ("", ""))
        listing = ""
        if state == "NODE_FAIL" and nodes and not single_node(nodes):
            try:
                listing = commands.output(["sinfo", "-h", "-N", "-n", nodes, "-o", "%N|%t"])
            except SchedulerUnavailable:
                listing = ""
        words[job_id] = end_words(state, nodes, listing) if state else UNSAID
    return words


class Requeues:
    """The jobs a poll saw move from RUNNING to PENDING (SLURM queued them again under their
    id), and what ended their previous run: asked once, on that move."""

    def __init__(self) -> None:
        self._last: dict[str, JobState] = {}  # job id -> its state at the last poll

    def seen(self, commands: Commands, states: Mapping[str, JobState]) -> dict[str, str]:
        """Job id -> what ended its previous run, for the jobs of `states` last seen RUNNING
        and now PENDING; UNKNOWN (sacct did not answer) keeps the state seen before it."""
        moved = sorted(job_id for job_id, state in states.items()
                       if state is JobState.PENDING and self._last.get(job_id) is JobState.RUNNING)
        self._last = {job_id: state if state is not JobState.UNKNOWN
                      else self._last.get(job_id, state) for job_id, state in states.items()}
        return what_ended(commands, moved) if moved else {}
