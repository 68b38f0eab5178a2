"""train.lora with the tiny model on a CPU: adapter checkpoints, base + adapter inference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from jobs import infer, lora, train
from orchestrator.common.layout import COMPLETE_MARKER
from orchestrator.config.settings import InferSpec, LoraSettings, Task
from tests.support.job_settings import small_data, train_spec

LORA = LoraSettings(r=8, alpha=16, dropout=0.0, target_modules=("query", "value"))


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    out = tmp_path_factory.mktemp("lora") / "trial-1"
    train.run(train_spec(out, cache_dir, max_steps=40, lora=LORA))
    return out


def test_a_checkpoint_holds_the_adapter_and_the_head_config(lora_run: Path) -> None:
    folder = lora_run / "checkpoint-40"
    names = {p.name for p in folder.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "config.json",
            "tokenizer.json", COMPLETE_MARKER} <= names
    assert "model.safetensors" not in names
    adapter = json.loads((folder / "adapter_config.json").read_text())
    assert Path(adapter["base_model_name_or_path"]).name.startswith("tiny-model-")
    assert set(adapter["target_modules"]) == {"query", "value"}
    assert "classifier" in adapter["modules_to_save"]
    head = json.loads((folder / "config.json").read_text())
    assert head["id2label"] == {"0": "negative", "1": "neutral", "2": "positive"}


def test_inference_of_base_plus_adapter_scores_what_training_scored(
        lora_run: Path, cache_dir: Path, tmp_path: Path) -> None:
    result = infer.run(InferSpec(checkpoint=str(lora_run / "checkpoint-40"),
                                 result_path=str(tmp_path / "r.json"),
                                 data=small_data(cache_dir), batch_size=32, max_length=32))
    state = json.loads((lora_run / "checkpoint-40" / "trainer_state.json").read_text())
    seen = [e["eval_accuracy"] for e in state["log_history"]
            if e.get("step") == 40 and "eval_accuracy" in e]
    assert result["metrics"]["validation"]["accuracy"] == pytest.approx(seen[0], abs=1e-9)


def test_a_checkpoint_loads_with_peft_as_docs_workloads_says(lora_run: Path) -> None:
    from peft import PeftModel
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    folder = str(lora_run / "checkpoint-40")
    ours = lora.load(folder).eval()  # merged
    base_name = json.loads((lora_run / "checkpoint-40" / "adapter_config.json").read_text())[
        "base_model_name_or_path"]
    base = AutoModelForSequenceClassification.from_pretrained(
        base_name, config=AutoConfig.from_pretrained(folder))
    theirs = PeftModel.from_pretrained(base, folder).eval()  # not merged
    batch = AutoTokenizer.from_pretrained(folder)(["the movie was great"], return_tensors="pt")
    with torch.inference_mode():
        assert torch.allclose(ours(**batch).logits, theirs(**batch).logits, atol=1e-5)


def test_4bit_on_a_cpu_is_refused_with_one_line(tmp_path: Path, cache_dir: Path) -> None:
    spec = train_spec(tmp_path / "q", cache_dir, lora=LoraSettings(quantize="4bit"))
    with pytest.raises(ValueError, match=r"^train.lora.quantize=4bit: QLoRA \(bitsandbytes\) "
                                         r"needs a CUDA GPU and this node has none"):
        lora.load_kwargs(spec)


def test_a_lora_regression_keeps_its_scale_in_the_checkpoint(tmp_path: Path,
                                                             cache_dir: Path) -> None:
    import dataclasses

    out = tmp_path / "trial-1"
    spec = train_spec(out, cache_dir, max_steps=20, lora=LORA, metric_for_best_model="mae")
    data = dataclasses.replace(small_data(cache_dir), source="synthetic_prices",
                               task=Task.REGRESSION, label_column="price")
    train.run(dataclasses.replace(spec, data=data))
    head = json.loads((out / "checkpoint-20" / "config.json").read_text())
    assert head["problem_type"] == "regression" and head["regression_std"] > 1
    result = infer.run(InferSpec(checkpoint=str(out / "checkpoint-20"),
                                 result_path=str(tmp_path / "r.json"), data=data,
                                 batch_size=32, max_length=32))
    assert result["mae"] > 0 and result["n"] == 300


@pytest.mark.parametrize(("local_rank", "device"), [(None, 0), ("0", 0), ("1", 1), ("3", 3)])
def test_qlora_loads_each_rank_on_its_own_gpu(
        tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch,
        local_rank: str | None, device: int) -> None:
    """With several tasks, every rank loading its 4-bit copy onto cuda:0 runs cuda:0 out of
    memory while the other GPUs idle; the CUDA facts are monkeypatched (no GPU here)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    if local_rank is None:
        monkeypatch.delenv("LOCAL_RANK", raising=False)
    else:
        monkeypatch.setenv("LOCAL_RANK", local_rank)
    spec = train_spec(tmp_path / "q", cache_dir, lora=LoraSettings(quantize="4bit"))
    assert lora.load_kwargs(spec)["device_map"] == {"": device}
