"""Why a job failed, as a value carried between processes: input, oom, nan, preempted, held,
orphaned or other.

The job writes its cause in a structured file (orchestrator.common.failures) and the controller's
policy decides on it (orchestrator.decide.policy): an input error is not retried, out of memory
re-plans the batch, a NaN loss ends the trial (after one retry in bf16 or fp32 when it
happened in fp16), a preempted or orphaned job is retried freely, anything else is retried.
Pure: both sides and the pure policy import it.
"""

from __future__ import annotations

from typing import NamedTuple

CAUSES = ("input", "oom", "nan", "other", "nan_fp16", "preempted", "orphaned", "held")
# nan_fp16: the loss became NaN in fp16, whose range is small: bf16 or fp32 may not diverge.
# preempted: the scheduler took the job's nodes for another (nothing failed): retried from the
# last complete checkpoint without counting against the retries.
# orphaned: the job ended itself because its controller was gone (search.orphan_grace_s):
# nothing failed either, it is retried as a preempted job is.
# held: the scheduler held the job (not released by `scontrol release`) past
# search.held_grace_s: the controller cancelled it and retries it freely, as a preempted one
INPUT, OOM, NAN, OTHER, NAN_FP16, PREEMPTED, ORPHANED, HELD = CAUSES
# the causes that cost no retry: the job was stopped, it did not fail
FREE_RETRY = (PREEMPTED, ORPHANED, HELD)
# the precision a NaN-in-fp16 trial is retried in: bf16 where the GPU has it, else fp32
NAN_RETRY_PRECISION = "bf16_or_fp32"
# a user's script exiting with one of these failed on how it was called, not on the node:
# 126 not executable, 127 command not found (shells), 2 usage (argparse, bash syntax errors,
# `python missing.py`)
INPUT_EXIT_CODES = (2, 126, 127)


class JobFailure(NamedTuple):
    cause: str | None  # one of CAUSES; None: the job said nothing, classify its text
    reason: str  # one line, "" when nothing is known
