"""Job ids go to sacct and squeue as comma-joined lists under Linux's limit on one argument
(commands.id_lists): past ~15,000 live jobs one `-j` list of 7-8 digit ids is over 128 KiB
and exec fails with E2BIG, so a sweep that large would see no job state at all (issue 25).
The poll below runs a real executable named sacct, so the kernel's limit is the real one."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from orchestrator.model.transitions import JobState
from orchestrator.scheduler import JobRef
from orchestrator.scheduler.commands import ID_LIST_BYTES, id_lists
from orchestrator.scheduler.slurm import SlurmScheduler

MAX_ARG_STRLEN = 128 * 1024


@pytest.mark.parametrize(("ids", "limit", "lists"), [
    ([], 10, []),
    (["1"], 10, ["1"]),
    (["12", "34"], 5, ["12,34"]),  # exactly at the limit
    (["12", "34"], 4, ["12", "34"]),
    (["1", "22", "333", "4"], 6, ["1,22", "333,4"]),
    (["123456"], 3, ["123456"]),  # an id longer than the limit still goes, alone
])
def test_id_lists(ids: list[str], limit: int, lists: list[str]) -> None:
    assert id_lists(ids, limit) == lists


def test_twenty_thousand_ids_in_two_lists_each_under_the_kernel_s_limit() -> None:
    ids = [str(10_000_000 + 7 * n) for n in range(20_000)]
    lists = id_lists(ids)
    assert len(lists) == 2 and all(len(one) <= ID_LIST_BYTES < MAX_ARG_STRLEN for one in lists)
    assert ",".join(lists).split(",") == ids
    assert len(id_lists(ids[:10_000])) == 1  # the bench's 10,000: one sacct, as before


SACCT = """#!{python}
import sys
ids = sys.argv[sys.argv.index("-j") + 1].split(",")
with open({log!r}, "a") as log:
    log.write(f"{{len(ids)}}\\n")
print("JobID|State|Reason|JobName")
for job_id in ids:
    print(f"{{job_id}}|PENDING|JobHeldUser|bench")
"""


def test_a_poll_of_twenty_thousand_jobs_sees_every_state(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "sacct.calls"
    sacct = tmp_path / "bin" / "sacct"
    sacct.parent.mkdir()
    sacct.write_text(SACCT.format(python=sys.executable, log=str(log)), encoding="utf-8")
    sacct.chmod(sacct.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{sacct.parent}{os.pathsep}{os.environ['PATH']}")
    refs = [JobRef(str(10_000_000 + 7 * n), tmp_path) for n in range(20_000)]
    polled = SlurmScheduler(interactive=False).poll(refs)
    assert set(polled.values()) == {JobState.PENDING} and len(polled) == len(refs)
    assert polled.reasons[refs[-1].job_id] == "JobHeldUser"
    assert [int(n) for n in log.read_text().split()] == [13_333, 6_667]  # two sacct calls
