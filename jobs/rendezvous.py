"""The ranks of a several-task training job meet before anything slow happens.

torch.distributed's env:// rendezvous waits for a missing rank as long as the process
group's timeout (the Trainer's ddp_timeout, 30 minutes), holding every node, and then fails
with a message that names no host. `meet` forms the process group itself, on the variables
orchestrator.scheduler.submitit_jobs.Distributed exported (MASTER_ADDR, MASTER_PORT, RANK,
WORLD_SIZE): the ranks must meet within `MEET_TIMEOUT_S`, else each fails with one line
saying who waited where for how many; once met, the group keeps the Trainer's timeout, and
accelerate (through the Trainer) uses the group as it is.

jobs.train meets after the data and the model are loaded and before TrainingArguments (whose
construction forms the Trainer's group): inside a process group, transformers' save_pretrained
writes on rank 0 only, and every rank builds its own copy of the tiny model (jobs.tiny_model)
before renaming it into place, so a rank 1 that met first would publish a folder without
weights.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

from orchestrator.common import failures

# a rank's start is its own process's import of torch: seconds; a container pulled on one
# node only is minutes (ORCHESTRATOR_MEET_TIMEOUT_S raises it)
MEET_TIMEOUT_S = 300.0
GROUP_TIMEOUT_S = 1800.0  # the Trainer's ddp_timeout default


class RanksDidNotMeet(RuntimeError):
    """Not every rank reached the rendezvous in time: a node that did not start its task
    (a failure retried as any other: the next attempt may get other nodes)."""


def meet(timeout_s: float | None = None) -> bool:
    """Form the job's process group, the world size checked: False when the job has one
    task or a group exists already; RanksDidNotMeet when not every rank came in time."""
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or dist.is_initialized():
        return False
    rank = int(os.environ["RANK"])
    host, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    wait = timeout_s or float(os.environ.get("ORCHESTRATOR_MEET_TIMEOUT_S", MEET_TIMEOUT_S))
    met = 0
    try:
        store = dist.TCPStore(host, port, world, is_master=rank == 0,  # type: ignore[attr-defined]
                              timeout=timedelta(seconds=wait), wait_for_workers=False)
        met = _count_in(store, world, time.monotonic() + wait)
    except (RuntimeError, TimeoutError) as exc:
        detail = failures.one_line(exc)[:200]
    else:
        detail = ""
    if met < world:
        raise RanksDidNotMeet(
            f"rank {rank} of WORLD_SIZE={world} at {host}:{port}: {met or 'no'} ranks met "
            f"within {wait:.0f} s (a node did not start its task, or {host} does not resolve "
            f"on every node){': ' + detail if detail else ''}")
    store.set_timeout(timedelta(seconds=GROUP_TIMEOUT_S))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend, store=store, rank=rank, world_size=world,
                            timeout=timedelta(seconds=GROUP_TIMEOUT_S))
    print(f"rank {rank}: all {world} ranks met at {host}:{port} ({backend})", flush=True)
    return True


def _count_in(store: Any, world: int, deadline: float) -> int:
    """Check in at the store, then wait until all `world` ranks have: how many had."""
    met = int(store.add("orchestrator/met", 1))
    while met < world and time.monotonic() < deadline:
        time.sleep(0.2)
        met = int(store.add("orchestrator/met", 0))
    return met
