"""The bertbase phase (bench/phases/bertbase.py) on a tiny BertConfig: the measuring functions run
for real (a 2-layer, hidden-64 model, a few dozen examples, a few seconds), the result's
shape is checked, and the page renders it. No timing thresholds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import headline
from bench.page import render as page
from bench.page import report
from bench.phases import bertbase

TINY = {"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 2,
        "intermediate_size": 128}


def test_cpu_measure_runs_both_modes_on_the_same_examples(tmp_path: Path) -> None:
    result = bertbase.measure_cpu(tmp_path, examples=40, threads=1, repeats=2, overrides=TINY)
    speed = result["examples_per_s"]
    assert speed["batched"] > 0 and speed["per_example"] > 0
    assert result["speedup"] == pytest.approx(speed["batched"] / speed["per_example"])
    for mode in ("batched", "per_example"):
        runs = result["runs"][mode]
        assert len(runs) == 2 and {r["n"] for r in runs} == {40}
        assert {r["device"] for r in runs} == {"cpu"} and {r["dtype"] for r in runs} == {"float32"}
    assert result["torch_threads"] == 1 and result["batch_size"] == bertbase.CPU_BATCH
    assert len(result["load_average"]) == 2
    model = result["model"]
    assert (model["layers"], model["hidden"], model["vocab_size"]) == (2, 64, 30522)
    assert 3 <= result["tokens_min"] <= result["tokens_mean"] <= result["tokens_max"] <= 128


def test_gpu_measure_is_null_without_a_gpu_and_a_rate_with_one(tmp_path: Path) -> None:
    import torch

    result = bertbase.measure_gpu(tmp_path, examples=64, batch_size=32, repeats=2,
                                  overrides=TINY)
    if torch.cuda.is_available():
        assert result["available"] is True and result["examples_per_s"] > 0
        assert {r["dtype"] for r in result["runs"]} == {"bfloat16"}
    else:
        assert result == {"available": False, "note": bertbase.NO_GPU, "examples_per_s": None}


def _raw(gpu: dict[str, Any]) -> dict[str, Any]:
    cpu = {"model": {"layers": 12, "hidden": 768, "heads": 12, "vocab_size": 30522,
                     "parameters": 109_484_547, "tokenizer": bertbase.TOKENIZER_NOTE,
                     "tokenizer_vocab": 347},
           "examples": 512, "tokens_mean": 10.4, "tokens_min": 5, "tokens_max": 21,
           "threads": 1, "torch_threads": 1, "batch_size": 64, "repeats": 1, "cores": 2,
           "load_average": [3.25, 4.0],
           "examples_per_s": {"batched": 25.0, "per_example": 12.5}, "speedup": 2.0,
           "runs": {}}
    return {"errors": {}, "bertbase": {"cpu": cpu, "gpu": gpu}}


@pytest.mark.parametrize(
    ("gpu", "key", "met", "shown"),
    [
        ({"available": False, "note": bertbase.NO_GPU, "examples_per_s": None}, None, None,
         "**GPU: no GPU here**"),
        ({"available": True, "device_name": "NVIDIA H200", "batch_size": 256,
          "examples": 8192, "tokens_mean": 10.4, "repeats": 3, "examples_per_s": 12345.6,
          "runs": [{"examples_per_s": 9000.0}, {"examples_per_s": 12345.6},
                   {"examples_per_s": 12400.0}]},
         12345.6, True, "**GPU (NVIDIA H200): 12,346 examples/s**"),
        ({"available": True, "device_name": "a small GPU", "batch_size": 256, "examples": 8192,
          "tokens_mean": 10.4, "repeats": 3, "examples_per_s": 4000.0,
          "runs": [{"examples_per_s": 4000.0}] * 3},
         4000.0, False, "Target >= 10,000: **no**"),
    ],
)
def test_the_page_and_the_headline_keys(gpu: dict[str, Any], key: float | None,
                                        met: bool | None, shown: str) -> None:
    raw = _raw(gpu)
    keys = headline(raw)
    assert keys["inference_speedup_bertbase_cpu"] == 2.0
    assert keys["inference_bf16_examples_per_s_gpu"] == key
    results = report.assemble("full", "now", {}, keys, raw)
    assert report.check_schema(results) == []
    assert results["met"]["inference_bf16_examples_per_s_gpu"] is met
    text = page.render(results)
    assert "## Inference throughput of a bert-base-shaped model" in text
    assert "**10.4 tokens per" in text and "**`inference_speedup_bertbase_cpu` = 2.00**" in text
    assert "| `jobs.infer.run_per_example` (one at a time) | 12.5 | 80.0 | 2.00 |" in text
    assert "| `inference_speedup_bertbase_cpu` | 2.00 | reference | - |" in text
    assert "load average was 3.2 and 4.0 (start and end) on its 2 cores" in " ".join(text.split())
    assert shown in text and "$" not in text.split("## Inference throughput")[1]
