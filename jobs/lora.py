"""LoRA through peft: train adapters instead of every weight (`train.lora`).

Theory of operation. `wrap` turns the loaded classifier into a peft model: LoRA matrices on
`target_modules` (peft's default for the model type when empty), and the classification
head (`classifier`, `score`, DistilBERT's `pre_classifier`: new weights, not in the base)
trained in full and saved with the adapter (`modules_to_save`). The Trainer saves a peft
model as its adapter, so every checkpoint holds `adapter_config.json` (which names the base
model in `base_model_name_or_path`) and `adapter_model.safetensors`, a few MB instead of the
whole model. `HeadConfig` writes the classifier's own config.json (labels, problem type,
regression scale) beside them, before the completion marker, because the base's config
does not know the head. `best/` is a copy of such a checkpoint: the adapter plus its base's
name, not a merged model (the controller never loads torch); `load` (the inference job's
way, and the way to use best/) loads the base with that config, applies the adapter and
merges it for speed. With `quantize: 4bit` (QLoRA) the base loads in 4 bits through
bitsandbytes: on a CUDA GPU only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    PreTrainedModel,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from jobs.device_facts import native_bf16
from orchestrator.common import layout
from orchestrator.config.settings import TrainSpec

ADAPTER_CONFIG = "adapter_config.json"
HEAD_MODULES = ("pre_classifier", "classifier", "score")


def load_kwargs(spec: TrainSpec) -> dict[str, Any]:
    """Extra from_pretrained arguments for the base: the 4-bit quantisation of QLoRA."""
    lora = spec.train.lora
    if lora is None or not lora.quantize:
        return {}
    import torch
    from transformers import BitsAndBytesConfig

    if not torch.cuda.is_available():
        raise ValueError("train.lora.quantize=4bit: QLoRA (bitsandbytes) needs a CUDA GPU and "
                         "this node has none; drop train.lora.quantize or run on a GPU node")
    return {"quantization_config": BitsAndBytesConfig(  # type: ignore[no-untyped-call]
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16 if native_bf16() else torch.float16),
        # a quantised model is placed as it loads, on cuda:0 unless told: with several
        # tasks each rank's copy goes on its own GPU, the one the Trainer trains it on
        "device_map": {"": local_rank()}}


def local_rank() -> int:
    """This task's GPU on its node: LOCAL_RANK (torch.distributed's, exported from SLURM's
    in a job of several tasks), else 0."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def wrap(spec: TrainSpec, model: PreTrainedModel) -> Any:
    """The model to train: `model` itself without train.lora, else its peft model."""
    lora = spec.train.lora
    if lora is None:
        return model
    from peft import LoraConfig, TaskType, get_peft_model, prepare_model_for_kbit_training

    if lora.quantize:
        model = prepare_model_for_kbit_training(model)  # type: ignore[no-untyped-call]
    config = LoraConfig(
        task_type=TaskType.SEQ_CLS, r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules) or None,
        modules_to_save=[name for name in HEAD_MODULES if hasattr(model, name)])
    return get_peft_model(model, config)


def callbacks(spec: TrainSpec, model: Any) -> list[TrainerCallback]:
    """Listed before jobs.trainer_parts.CompletionMarker, whose marker must come last."""
    return [] if spec.train.lora is None else [HeadConfig(model.config)]


class HeadConfig(TrainerCallback):
    """Writes the classifier's config.json into every adapter checkpoint."""

    def __init__(self, config: Any) -> None:
        self.config = config

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                **kwargs: Any) -> None:
        folder = layout.checkpoint_dir(Path(args.output_dir or "."), state.global_step)
        if state.is_world_process_zero and folder.is_dir():
            self.config.save_pretrained(str(folder))


def is_adapter(checkpoint: str | Path) -> bool:
    return (Path(checkpoint) / ADAPTER_CONFIG).is_file()


def load(checkpoint: str | Path, dtype: Any = None) -> Any:
    """A LoRA checkpoint (or best/) as a plain classifier: its base (by the name in
    adapter_config.json) with the checkpoint's config, the adapter applied and merged."""
    from peft import PeftModel

    base_name = json.loads((Path(checkpoint) / ADAPTER_CONFIG).read_text(encoding="utf-8"))[
        "base_model_name_or_path"]
    config = AutoConfig.from_pretrained(str(checkpoint))
    base = AutoModelForSequenceClassification.from_pretrained(
        base_name, config=config, dtype=dtype, ignore_mismatched_sizes=True)
    return PeftModel.from_pretrained(base, str(checkpoint)).merge_and_unload()
