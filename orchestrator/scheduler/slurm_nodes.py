"""Which node a NODE_FAIL'd job lost, in words for its failure line.

sacct's NodeList of a job names every node it had (`n[1-2]`), not the one that failed; sinfo
knows which of those does not respond (a state ending in `*`) or is down, drained or failed.
Asked once, when the failure is classified: the node may answer again minutes later.
"""

from __future__ import annotations

from orchestrator.errors import SchedulerUnavailable
from orchestrator.scheduler.commands import Commands

# sinfo's short states (%t) of a node that is lost: not responding ("idle*", "down*"), down,
# drained or draining, failed or failing
LOST_STATES = ("down", "drain", "drng", "fail")


def lost_nodes(listing: str) -> list[str]:
    """The nodes `sinfo -h -N -o %N|%t` lines show lost, each once, in order."""
    lost: list[str] = []
    for line in listing.splitlines():
        node, _, state = line.strip().partition("|")
        gone = state.endswith("*") or state.startswith(LOST_STATES)
        if node and gone and node not in lost:
            lost.append(node)
    return lost


def node_fail_words(sacct_rows: str, listing: str) -> str:
    """`node n2 lost (the job ran on n[1-2])` from sacct's `State|NodeList` rows of the job
    (every run of its id: SLURM may have requeued it since) and sinfo's listing of the
    NODE_FAIL'd run's nodes; "" when no run ended NODE_FAIL."""
    nodes = node_failed_on(sacct_rows)
    if not nodes:
        return ""
    lost = lost_nodes(listing)
    if not lost:
        return f"a node of {nodes} was lost (all of them answer again)"
    return f"node {', '.join(lost)} lost (the job ran on {nodes})"


def node_failed_on(sacct_rows: str) -> str:
    """The NodeList of the last run that ended NODE_FAIL among sacct's `State|NodeList`
    rows, or ""."""
    failed = [row.partition("|")[2].strip() for row in sacct_rows.splitlines()
              if row.startswith("NODE_FAIL")]
    return failed[-1] if failed else ""


def describe_node_fail(commands: Commands, job_id: str) -> str:
    """The words of `node_fail_words` for job `job_id`, asked of sacct (every run of the
    id, -D) and sinfo; "" when they do not answer."""
    try:
        rows = commands.output(["sacct", "-X", "-D", "-n", "-P", "-o", "State,NodeList",
                                "-j", job_id])
        nodes = node_failed_on(rows)
        listing = "" if not nodes else commands.output(
            ["sinfo", "-h", "-N", "-n", nodes, "-o", "%N|%t"])
    except SchedulerUnavailable:
        return ""
    return node_fail_words(rows, listing)
