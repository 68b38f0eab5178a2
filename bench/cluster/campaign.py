"""The kill -9 campaign (scripts/reliability.py, tests/slurm/test_faults.py): one reference
search, then N kill cases at stratified random points of its timeline, every third one with
the controller detached as a SLURM job (bench.cluster.detached_kills), the others in the
foreground (bench.cluster.kills).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from bench.cluster.detached_kills import detached_kill_case
from bench.cluster.kills import KillCase, Reference, kill_case, reference_run


def run_campaign(workdir: Path, kills: int, seed: int = 20261123,
                 progress: Callable[[str], None] | None = None) -> tuple[Reference, list[KillCase]]:
    """N kill cases with stratified random kill points over a reference search."""
    workdir.mkdir(parents=True, exist_ok=True)
    reference = reference_run(workdir)
    if progress:
        progress(f"reference: {reference.decision}, {reference.duration_s:.1f} s, "
                 f"{reference.lines} journal lines")
    rng = random.Random(seed)
    order = list(range(kills))
    rng.shuffle(order)
    cases = []
    for index in range(kills):
        stratum = (order[index] + rng.random()) / kills
        # every third case: the controller detached as a SLURM job (run --detach)
        one_case = detached_kill_case if index % 3 == 2 else kill_case
        case = one_case(workdir, seed + index, reference, stratum)
        cases.append(case)
        if progress:
            progress(case.line())
    return reference, cases
