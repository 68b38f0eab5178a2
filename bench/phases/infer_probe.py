"""Inference speed on one checkpoint, three ways, in a child process (it imports torch).

- batched: `jobs.infer.run` (length-sorted, dynamic padding, inference_mode), the job the
  controller submits;
- per-example: `jobs.infer.run_per_example`, the project's own one-at-a-time mode (also
  under inference_mode: only the batching differs);
- naive: a loop written the way the legacy users' script evaluates (legacy-loop.md §4: one
  tweet at a time): tokenizer called per example with padding to max_length, the model
  called without no_grad/inference_mode, `.item()` per example. This is a reconstruction: the
  users' exact script is not available.
Each is run `--repeats` times on the same checkpoint and data with the same torch thread
count; the median examples/s is reported. Model loading is outside every timed region.

    python -m bench.phases.infer_probe --checkpoint C --cache-dir A --threads 1 --result R.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator.config.settings import DataSettings, InferSpec

# conf/data/synthetic.yaml, the data the tiny search trained and evaluated on
SYNTHETIC = DataSettings(name="synthetic", source="synthetic", max_length=32)


def naive_loop(checkpoint: str, data: DataSettings, threads: int) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from jobs.data import load_test

    torch.set_num_threads(threads)
    examples = load_test(data)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint)
    model.eval()
    id2label = {int(k): v for k, v in (model.config.id2label or {}).items()}
    correct = 0
    started = time.perf_counter()
    for example in examples:
        inputs = tokenizer(example.text, return_tensors="pt", truncation=True,
                           padding="max_length", max_length=data.max_length)
        outputs = model(**inputs)
        predicted = int(outputs.logits.argmax(dim=-1).item())
        name = id2label.get(predicted, "")
        label = data.labels.index(name) if name in data.labels else predicted
        correct += int(label == example.label)
    seconds = time.perf_counter() - started
    return {"n": len(examples), "accuracy": correct / len(examples), "seconds": seconds,
            "examples_per_s": len(examples) / seconds}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.phases.infer_probe")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--cache-dir", required=True, help="where the synthetic data is")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    import contextlib
    import io

    import torch

    from jobs import infer

    data = dataclasses.replace(SYNTHETIC, cache_dir=args.cache_dir)
    args.workdir.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, Any]]] = {"batched": [], "per_example": [], "naive": []}
    for i in range(args.repeats):
        for mode, function in (("batched", infer.run), ("per_example", infer.run_per_example)):
            spec = InferSpec(checkpoint=args.checkpoint,
                             result_path=str(args.workdir / f"{mode}-{i}.json"), data=data,
                             batch_size=64, max_length=data.max_length,
                             cpu_threads=args.threads,
                             validation=False)  # the test split only, as the naive loop
            with contextlib.redirect_stdout(io.StringIO()):
                result = function(spec)
            runs[mode].append({k: result[k] for k in ("n", "accuracy", "seconds",
                                                      "examples_per_s")})
        runs["naive"].append(naive_loop(args.checkpoint, data, args.threads))
    summary = {mode: statistics.median(r["examples_per_s"] for r in rs)
               for mode, rs in runs.items()}
    out = {"checkpoint": args.checkpoint, "threads": args.threads,
           "torch_threads": torch.get_num_threads(), "repeats": args.repeats,
           "examples_per_s": summary, "runs": runs}
    args.result.write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
