"""What a job ran on, for the report: the device's name, the peak GPU memory, the speed;
and whether its GPU has bf16 in hardware (`native_bf16`: the one place the jobs decide it).

`result` fields shared by the inference result and train_done.json: `device_name` ("CPU"
without a GPU, else CUDA's name for the job's GPU) and `peak_gpu_memory_bytes` (torch's
`max_memory_allocated` on that GPU since the process started; None on CPU). torch loads
inside, so a light process can import this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def native_bf16(device: Any = None) -> bool:
    """Whether the (current, or `device`'s) GPU computes in bf16 natively: CUDA compute
    capability 8.0 (Ampere) or newer. Not `torch.cuda.is_bf16_supported()`, which also says
    yes to emulation: a V100 or T4 would train slower than in fp16, and a NaN-in-fp16 retry
    would land on emulated bf16 instead of fp32."""
    import torch

    if not torch.cuda.is_available():
        return False
    major, _minor = torch.cuda.get_device_capability(device)
    return major >= 8


def device_facts() -> dict[str, Any]:
    import torch

    if not torch.cuda.is_available():
        return {"device_name": "CPU", "peak_gpu_memory_bytes": None}
    device = torch.cuda.current_device()
    return {"device_name": torch.cuda.get_device_name(device),
            "peak_gpu_memory_bytes": int(torch.cuda.max_memory_allocated(device))}


def training_facts(train_metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The device facts plus the training examples per second (the Trainer's own figure,
    over every process: what the whole job achieved)."""
    speed = train_metrics.get("train_samples_per_second")
    return {**device_facts(),
            "examples_per_s": float(speed) if isinstance(speed, int | float) else None}
