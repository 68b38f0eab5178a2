"""Fault injection for tests of the training job, off unless an environment variable says.

`JOBS_FAULT_FP16_NAN_AT=<step>`: an attempt whose train.precision is fp16 trains in fp32 (a
CPU has no fp16 training) and reports its loss as NaN at that step, in fp16, as an fp16
overflow on a GPU would. The controller's answer (retry once in bf16 or fp32; see
orchestrator.decide.policy.next_training) can so be tested end to end on a CPU: the retry runs
with train.precision=bf16_or_fp32, which this fault leaves alone.
"""

from __future__ import annotations

import os

import torch

from jobs.trainer_parts import NanGuard
from orchestrator.config.settings import TrainSettings

ENV = "JOBS_FAULT_FP16_NAN_AT"


def fp16_nan_at(train: TrainSettings) -> int | None:
    """The step at which this attempt's loss is to become NaN, or None (the normal case)."""
    raw = os.environ.get(ENV, "")
    return int(raw) if raw and train.precision == "fp16" else None


class NanAt(NanGuard):
    """A NanGuard that sees a NaN loss at step `at` of an fp16 run."""

    def __init__(self, at: int) -> None:
        super().__init__("fp16")
        self.at = at

    def observe(self, loss: torch.Tensor, step: int) -> None:
        super().observe(loss if step < self.at else loss * float("nan"), step)
