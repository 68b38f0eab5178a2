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


def node_fail_words(sacct_row: str, listing: str) -> str:
    """`node n2 lost (the job ran on n[1-2])` from sacct's `State|NodeList` row and sinfo's
    listing of those nodes; "" when the row is no NODE_FAIL."""
    state, _, nodes = sacct_row.strip().partition("|")
    if not state.startswith("NODE_FAIL") or not nodes:
        return ""
    lost = lost_nodes(listing)
    if not lost:
        return f"a node of {nodes} was lost (all of them answer again)"
    return f"node {', '.join(lost)} lost (the job ran on {nodes})"


def describe_node_fail(commands: Commands, job_id: str) -> str:
    """The words of `node_fail_words` for job `job_id`, asked of sacct and sinfo; "" when
    they do not answer."""
    try:
        row = commands.output(["sacct", "-X", "-n", "-P", "-o", "State,NodeList", "-j", job_id])
        first = next((ln for ln in row.splitlines() if ln.strip()), "")
        nodes = first.partition("|")[2].strip()
        listing = "" if not nodes else commands.output(
            ["sinfo", "-h", "-N", "-n", nodes, "-o", "%N|%t"])
    except SchedulerUnavailable:
        return ""
    return node_fail_words(first, listing)
