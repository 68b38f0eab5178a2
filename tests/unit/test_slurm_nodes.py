"""The words a NODE_FAIL'd job's failure line gets: which node was lost (sacct's NodeList of
the job, sinfo's states of those nodes); tests/slurm/test_multinode_slurm.py on the cluster."""

from __future__ import annotations

import pytest

from orchestrator.scheduler.slurm_nodes import node_fail_words


@pytest.mark.parametrize("row, listing, words", [
    ("NODE_FAIL|n[1-2]", "n1|alloc\nn2|down*\n", "node n2 lost (the job ran on n[1-2])"),
    ("NODE_FAIL|n[1-2]", "n1|idle*\nn2|drain\n", "node n1, n2 lost (the job ran on n[1-2])"),
    ("NODE_FAIL|n3", "n3|idle\n", "a node of n3 was lost (all of them answer again)"),
    ("NODE_FAIL|n3", "n3|mix\nn3|mix\n", "a node of n3 was lost (all of them answer again)"),
    ("FAILED|n[1-2]", "n2|down*\n", ""),
    # requeued under its id since: the NODE_FAIL'd run's nodes, not the new run's
    ("NODE_FAIL|n[1-2]\nPENDING|None assigned\n", "n1|idle\nn2|down*\n",
     "node n2 lost (the job ran on n[1-2])"),
    ("NODE_FAIL|n[1-2]\nNODE_FAIL|n[1,3]\n", "n3|down*\n", "node n3 lost (the job ran on n[1,3])"),
    ("NODE_FAIL|", "", ""),
    ("", "", ""),
])
def test_a_node_fail_names_the_lost_node(row: str, listing: str, words: str) -> None:
    assert node_fail_words(row, listing) == words
