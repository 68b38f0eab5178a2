"""Configuration problems of `train.lora`, one line each. Pure but for one look at this
machine: whether it has an NVIDIA device (`/dev/nvidiactl`), for 4-bit QLoRA on a local
executor, whose jobs run here."""

from __future__ import annotations

from pathlib import Path

from orchestrator.config.settings import Settings

QUANTIZE = ("", "4bit")


def problems(s: Settings) -> list[str]:
    lora = s.train.lora
    if lora is None or s.train.command:
        return []
    p: list[str] = []
    if lora.r < 1:
        p.append(f"train.lora.r={lora.r}: must be >= 1")
    if lora.alpha <= 0:
        p.append(f"train.lora.alpha={lora.alpha:g}: must be > 0")
    if not 0 <= lora.dropout < 1:
        p.append(f"train.lora.dropout={lora.dropout:g}: must be in [0, 1)")
    if lora.quantize not in QUANTIZE:
        p.append(f"train.lora.quantize={lora.quantize}: must be empty or 4bit")
    elif lora.quantize and not _gpu_jobs(s):
        where = ("executor.train.gpus_per_node=0 asks for none" if s.executor.name == "slurm"
                 else f"executor={s.executor.name} runs the jobs here and this machine has none")
        p.append(f"train.lora.quantize=4bit: QLoRA (bitsandbytes) needs a CUDA GPU and {where}; "
                 "drop train.lora.quantize (plain LoRA runs on a CPU)")
    return p


def _gpu_jobs(s: Settings) -> bool:
    if s.executor.name == "slurm":
        return s.executor.train.gpus_per_node > 0
    return Path("/dev/nvidiactl").exists()
