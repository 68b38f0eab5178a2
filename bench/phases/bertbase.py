"""Inference throughput of a bert-base-shaped model (issue 12): batched against one example
at a time on CPU, and bf16 examples/s on a GPU whenever there is one.

Theory of operation: the model is `BertConfig()` with its defaults (12 layers, hidden 768,
12 heads, vocabulary 30,522) and 3 labels, random weights (seed 0), saved into the work
folder with a tokenizer built there too: jobs.tiny_model's deterministic WordPiece
vocabulary from the synthetic training tweets (nothing is downloaded). That vocabulary is
far smaller than bert-base-uncased's, so unseen words split into more pieces; the mean token
count is measured and reported with the rates. The text is the synthetic test split
(jobs/synthetic.py), truncated at 128 tokens. Both modes are the project's own inference job
on the same examples with the same torch thread count: `jobs.infer.run` (batched,
length-sorted, padded per batch) and `jobs.infer.run_per_example`; their `seconds` is the
evaluation alone (data generation, model building and loading are outside it).

A CPU figure must be a CPU figure on a GPU machine too, so `phase` runs the CPU measurement
in a child with CUDA_VISIBLE_DEVICES="" and the GPU one in a second child; the bench process
never imports torch. On a machine with only the repository and its venv:

    python -m bench.phases.bertbase --gpu --out DIR     # bf16 on the GPU; null without one
    python -m bench.phases.bertbase --cpu --out DIR     # batched vs one at a time on CPU

Each prints its JSON and writes it to DIR/bertbase-{cpu,gpu}.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestrator.config.settings import DataSettings, InferSpec

ROOT = Path(__file__).resolve().parents[2]
MAX_LENGTH = 128
CPU_EXAMPLES = 512
CPU_BATCH = 64
GPU_EXAMPLES = 8192
GPU_BATCH = 256
TOKENIZER_NOTE = ("jobs.tiny_model's deterministic WordPiece vocabulary built from the "
                  "synthetic training tweets")
NO_GPU = "no GPU here (torch.cuda.is_available() is False)"


def data_settings(workdir: Path, examples: int) -> DataSettings:
    """The synthetic tweets: `examples` test lines, cached under `workdir`."""
    return DataSettings(source="synthetic", synthetic_test_size=examples, max_length=MAX_LENGTH,
                        cache_dir=str(workdir / "assets"))


def build_model(folder: Path, data: DataSettings,
                overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A BertConfig() model (plus `overrides`) with random weights and a local tokenizer,
    saved in `folder`; its facts (layers, hidden size, parameters, vocabulary)."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from jobs import tiny_model
    from jobs.data import load_train_val

    vocab = tiny_model.build_vocab(e.text for e in load_train_val(data)[0])
    labels = list(data.labels)
    settings: dict[str, Any] = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                                "label2id": {n: i for i, n in enumerate(labels)},
                                **(overrides or {})}
    config = BertConfig(**settings)  # BertConfig()'s defaults for everything else
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = BertForSequenceClassification(config)
    model.save_pretrained(str(folder))
    # the same tokenizer the tiny model gets (special tokens, WordPiece, BERT normalizer)
    tiny_model._make_tokenizer(vocab, MAX_LENGTH).save_pretrained(str(folder))
    return {"layers": config.num_hidden_layers, "hidden": config.hidden_size,
            "heads": config.num_attention_heads, "vocab_size": config.vocab_size,
            "parameters": sum(p.numel() for p in model.parameters()),
            "tokenizer": TOKENIZER_NOTE, "tokenizer_vocab": len(vocab)}


def token_counts(folder: Path, data: DataSettings) -> dict[str, Any]:
    """Tokens per test example ([CLS] and [SEP] included), as the inference job cuts them."""
    from transformers import AutoTokenizer

    from jobs.data import load_test

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    ids = tokenizer([e.text for e in load_test(data)], truncation=True,
                    max_length=MAX_LENGTH)["input_ids"]
    lengths = [len(row) for row in ids]
    return {"tokens_mean": statistics.fmean(lengths), "tokens_max": max(lengths),
            "tokens_min": min(lengths)}


def _timed(function: Callable[[InferSpec], dict[str, Any]], spec: InferSpec) -> dict[str, Any]:
    with contextlib.redirect_stdout(io.StringIO()):  # the legacy lines: not ours to print
        result = function(spec)
    keys = ("n", "seconds", "examples_per_s", "device", "dtype", "device_name",
            "peak_gpu_memory_bytes")
    return {k: result.get(k) for k in keys}


def _prepare(workdir: Path, examples: int,
             overrides: Mapping[str, Any] | None) -> tuple[Path, DataSettings, dict[str, Any]]:
    data = data_settings(workdir, examples)
    folder = workdir / "bertbase-model"
    folder.mkdir(parents=True, exist_ok=True)
    facts = build_model(folder, data, overrides)
    return folder, data, {"model": facts, "examples": examples, **token_counts(folder, data)}


def measure_cpu(workdir: Path, examples: int = CPU_EXAMPLES, threads: int = 1,
                repeats: int = 1, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """examples/s of `jobs.infer.run` (batch 64) and `run_per_example` on the same examples
    with `threads` torch threads, median of `repeats`; the speed-up batched / one at a time."""
    import torch

    from jobs import infer

    folder, data, out = _prepare(workdir, examples, overrides)
    load_before = os.getloadavg()[0]  # other processes on the cores slow both modes
    runs: dict[str, list[dict[str, Any]]] = {"batched": [], "per_example": []}
    for i in range(repeats):
        for mode, function in (("batched", infer.run), ("per_example", infer.run_per_example)):
            spec = InferSpec(checkpoint=str(folder), data=data,
                             result_path=str(workdir / f"cpu-{mode}-{i}.json"),
                             batch_size=CPU_BATCH, max_length=MAX_LENGTH, precision="fp32",
                             cpu_threads=threads, validation=False)
            runs[mode].append(_timed(function, spec))
    speed = {mode: statistics.median(r["examples_per_s"] for r in rs) for mode, rs in runs.items()}
    return {**out, "threads": threads, "torch_threads": torch.get_num_threads(),
            "batch_size": CPU_BATCH, "repeats": repeats, "examples_per_s": speed,
            "cores": os.cpu_count(), "load_average": [load_before, os.getloadavg()[0]],
            "speedup": speed["batched"] / speed["per_example"], "runs": runs}


def measure_gpu(workdir: Path, examples: int = GPU_EXAMPLES, batch_size: int = GPU_BATCH,
                repeats: int = 3, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """bf16 examples/s of `jobs.infer.run` on the GPU, median of `repeats` (the first run
    pays CUDA's start-up inside its timed region: the median leaves it out); a null rate and
    NO_GPU where there is none."""
    import torch

    from jobs import infer

    if not torch.cuda.is_available():
        return {"available": False, "note": NO_GPU, "examples_per_s": None}
    folder, data, out = _prepare(workdir, examples, overrides)
    runs = []
    for i in range(repeats):
        spec = InferSpec(checkpoint=str(folder), data=data,
                         result_path=str(workdir / f"gpu-{i}.json"), batch_size=batch_size,
                         max_length=MAX_LENGTH, precision="bf16", validation=False)
        runs.append(_timed(infer.run, spec))
    return {**out, "available": True, "device_name": torch.cuda.get_device_name(0),
            "dtype": "bfloat16", "batch_size": batch_size, "repeats": repeats,
            "examples_per_s": statistics.median(r["examples_per_s"] for r in runs),
            "runs": runs}


# ---------------------------------------------------------------------------- the bench phase
def _child(args: list[str], out: Path, env: Mapping[str, str], timeout: float) -> Any:
    proc = subprocess.run([sys.executable, "-m", "bench.phases.bertbase", *args, "--out", str(out)],
                          cwd=ROOT, env=dict(env), capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"bench.phases.bertbase {' '.join(args)} failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def phase(workdir: Path, threads: int = 1, repeats: int = 2) -> dict[str, Any]:
    """The bench phase: the CPU comparison (GPU hidden) and, in a second child, the GPU
    figure or its absence. Neither imports torch into the bench process."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    cpu = _child(["--cpu", "--threads", str(threads), "--repeats", str(repeats)],
                 workdir / "bertbase-cpu",
                 {**env, "CUDA_VISIBLE_DEVICES": ""}, 1800)
    gpu = _child(["--gpu"], workdir / "bertbase-gpu", env, 1800)
    return {"cpu": cpu, "gpu": gpu}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.phases.bertbase", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--cpu", action="store_true", help="batched vs one at a time on CPU")
    which.add_argument("--gpu", action="store_true", help="bf16 examples/s on the GPU")
    parser.add_argument("--out", type=Path, required=True, help="work folder (model, data)")
    parser.add_argument("--examples", type=int, default=0,
                        help=f"test lines (default {CPU_EXAMPLES} on CPU, {GPU_EXAMPLES} on GPU)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU")
    parser.add_argument("--batch-size", type=int, default=GPU_BATCH, help="GPU batch size")
    parser.add_argument("--repeats", type=int, default=0,
                        help="runs per mode, median reported (default 1 on CPU, 3 on GPU)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.cpu:
        result = measure_cpu(args.out, args.examples or CPU_EXAMPLES, args.threads,
                             args.repeats or 1)
    else:
        result = measure_gpu(args.out, args.examples or GPU_EXAMPLES, args.batch_size,
                             args.repeats or 3)
    text = json.dumps(result, indent=2)
    (args.out / f"bertbase-{'cpu' if args.cpu else 'gpu'}.json").write_text(text + "\n",
                                                                           encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
