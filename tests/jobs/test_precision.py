"""precision=auto, the NaN-in-fp16 retry and QLoRA's compute dtype take bf16 only where the
GPU has it natively (compute capability >= 8.0), decided in one place
(jobs.device_facts.native_bf16): torch.cuda.is_bf16_supported() also says yes to emulated
bf16 (V100, T4), which is slower than fp16 and must never take the NaN retry. The CUDA facts
are monkeypatched: the table stands for the GPUs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from jobs import device_facts, lora
from jobs.evaluator import dtype_of
from jobs.trainer_parts import resolve_precision
from orchestrator.config.settings import LoraSettings
from tests.support.job_settings import train_spec

# (GPU, compute capability or None for no GPU) -> auto's training precision, the NaN retry's,
# auto's inference dtype, QLoRA's compute dtype
GPUS = [
    ("V100", (7, 0), "fp16", "fp32", torch.float32, torch.float16),
    ("T4", (7, 5), "fp16", "fp32", torch.float32, torch.float16),
    ("A100", (8, 0), "bf16", "bf16", torch.bfloat16, torch.bfloat16),
    ("L4", (8, 9), "bf16", "bf16", torch.bfloat16, torch.bfloat16),
    ("H100", (9, 0), "bf16", "bf16", torch.bfloat16, torch.bfloat16),
    ("CPU", None, "fp32", "fp32", torch.float32, None),
]


def _on(monkeypatch: pytest.MonkeyPatch, capability: tuple[int, int] | None) -> None:
    """Make torch.cuda describe this GPU; is_bf16_supported() says yes as it does for
    emulation, so only native support may decide."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: capability is not None)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)

    def asked(device: Any = None) -> tuple[int, int]:
        assert capability is not None, "a capability asked of a node without a GPU"
        return capability

    monkeypatch.setattr(torch.cuda, "get_device_capability", asked)


@pytest.mark.parametrize(("gpu", "capability", "train", "retry", "infer", "qlora"), GPUS)
def test_bf16_only_where_the_gpu_has_it_natively(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cache_dir: Path, gpu: str,
        capability: tuple[int, int] | None, train: str, retry: str, infer: torch.dtype,
        qlora: torch.dtype | None) -> None:
    _on(monkeypatch, capability)
    assert device_facts.native_bf16() is (train == "bf16"), gpu
    assert resolve_precision("auto") == train
    assert resolve_precision("bf16_or_fp32") == retry
    device = torch.device("cuda", 0) if capability is not None else torch.device("cpu")
    assert dtype_of("auto", device) == infer
    if qlora is not None:
        spec = train_spec(tmp_path / "q", cache_dir, lora=LoraSettings(quantize="4bit"))
        config = lora.load_kwargs(spec)["quantization_config"]
        assert config.bnb_4bit_compute_dtype == qlora


@pytest.mark.parametrize("name", ["trainer_parts.py", "evaluator.py", "lora.py"])
def test_no_job_asks_torch_whether_bf16_is_supported(name: str) -> None:
    source = (Path(__file__).resolve().parents[2] / "jobs" / name).read_text()
    assert "is_bf16_supported" not in source and "native_bf16(" in source
