"""The inference job: evaluate ONE checkpoint on the validation and the test split.

Theory of operation: the tokenizer and model come from the checkpoint folder (the training
job saves the tokenizer into every checkpoint) and are loaded once for both splits. The
validation split is the one training used (`jobs.data.load_train_val`: the last
data.val_fraction of the train split, in order), so the two can never disagree. `run`
tokenizes both splits' texts together without padding, sorts them by length (longest
first, so an out-of-memory shows up on the first batch), and pads each batch only to its
own longest example. The result keeps the test split's metrics at the top (as before) and
holds both under `metrics: {validation: {...}, test: {...}}`; the controller reads the split
that `search.split` names. `run_per_example` keeps the legacy
one-at-a-time loop for comparison (measured for the tiny model on 2 CPU cores: about 8,500
against 1,300 examples/s; the gap grows with the model and on a GPU). Both share the
metric code and write the same JSON (atomically, so a reader never sees half a result), and
both print the three lines the legacy loop's regex reads:

    length of dataset is 3432
    The generation accuracy is 80.15734265734265 %.
    Total inference time is 18.775450706481934 sec.

Only the standard library and `orchestrator` at the top: torch and transformers load inside.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.device_facts import device_facts
from orchestrator import layout
from orchestrator.fsutil import atomic_write_json
from orchestrator.settings import DataSettings, InferSpec

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


def run(spec: InferSpec) -> dict[str, Any]:
    """Batched, length-sorted, dynamically padded evaluation; writes spec.result_path."""
    return _evaluate(spec, batched=True)


def run_per_example(spec: InferSpec) -> dict[str, Any]:
    """The legacy way, one example at a time: same result, for measuring the speed-up."""
    return _evaluate(spec, batched=False)


def _evaluate(spec: InferSpec, batched: bool) -> dict[str, Any]:
    if spec.data.task == "regression":  # mae, rmse, r2 in the same result shape
        from jobs.regression import evaluate

        return evaluate(spec, _load, functools.partial(_forward, spec=spec, batched=batched))
    import torch
    import torch.nn.functional as F

    from jobs import metrics
    from jobs.data import load_test, load_train_val

    if spec.cpu_threads > 0:
        torch.set_num_threads(spec.cpu_threads)
    splits = {"validation": load_train_val(spec.data)[1]} if spec.validation else {}
    splits["test"] = load_test(spec.data)
    tokenizer, model, device, dtype = _load(spec)
    examples = [e for split in splits.values() for e in split]
    texts = [e.text for e in examples]
    started = time.perf_counter()
    with torch.inference_mode():
        logits = _forward(texts, tokenizer, model, device, spec=spec, batched=batched)
    seconds = time.perf_counter() - started
    logits = logits[:, _column_order(model, spec.data.labels)]
    scored: dict[str, dict[str, Any]] = {}
    start = 0
    for name, split in splits.items():
        rows, start = logits[start : start + len(split)], start + len(split)
        labels = [e.label for e in split]
        scored[name] = {
            "n": len(split),
            **metrics.report(labels, rows.argmax(dim=-1).tolist(), spec.data.labels),
            "loss": F.cross_entropy(rows, torch.tensor(labels, dtype=torch.long)).item(),
        }
    result: dict[str, Any] = {
        "checkpoint": spec.checkpoint,
        "step": layout.step_of(Path(spec.checkpoint)),
        **scored["test"],  # at the top as before: readers of the test-only result keep working
        "metrics": scored,
        "seconds": seconds,  # both splits together
        "examples_per_s": len(examples) / seconds if seconds > 0 else None,
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        **device_facts(),  # device_name, peak_gpu_memory_bytes (None on CPU)
    }
    atomic_write_json(spec.result_path, result)
    _print_legacy_lines(result)
    return result


def _load(spec: InferSpec) -> tuple[PreTrainedTokenizerBase, PreTrainedModel, Any, Any]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from jobs import lora

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = _dtype(spec.precision, device)
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.checkpoint)
        if lora.is_adapter(spec.checkpoint):  # train.lora: base + adapter (jobs/lora.py)
            model = lora.load(spec.checkpoint, dtype)
        else:
            model = AutoModelForSequenceClassification.from_pretrained(spec.checkpoint,
                                                                       dtype=dtype)
    except OSError as err:
        raise OSError(
            f"{spec.checkpoint}: cannot load tokenizer and model ({err}); is it a complete "
            f"checkpoint saved with processing_class=tokenizer?"
        ) from err
    model.to(device).eval()
    return tokenizer, model, device, dtype


def _dtype(precision: str, device: Any) -> Any:
    """auto: bf16 on a GPU that supports it, fp32 otherwise (CPU bf16 is slower, not faster)."""
    import torch

    choices = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    if precision == "auto":
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if cuda_bf16 else torch.float32
    if precision not in choices:
        raise ValueError(f"precision={precision!r} is unknown: use auto, bf16, fp16 or fp32")
    return choices[precision]


def _max_length(requested: int, model: PreTrainedModel) -> int:
    # Truncating past the position table would crash the model on the longest examples.
    positions = getattr(model.config, "max_position_embeddings", None)
    return min(requested, positions) if isinstance(positions, int) else requested


def _batched_logits(
    texts: Sequence[str],
    tokenizer: PreTrainedTokenizerBase,
    model: PreTrainedModel,
    device: Any,
    batch_size: int,
    max_length: int,
) -> torch.Tensor:
    import torch

    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    order = sorted(range(len(texts)), key=lambda i: -len(encoded["input_ids"][i]))
    logits = torch.empty(len(texts), _num_labels(model))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        features = {key: [encoded[key][i] for i in rows] for key in encoded}
        batch = tokenizer.pad(features, return_tensors="pt").to(device)
        logits[rows] = model(**batch).logits.float().cpu()
    return logits


def _one_at_a_time_logits(
    texts: Sequence[str],
    tokenizer: PreTrainedTokenizerBase,
    model: PreTrainedModel,
    device: Any,
    max_length: int,
) -> torch.Tensor:
    import torch

    rows = []
    for text in texts:
        batch = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
        rows.append(model(**batch.to(device)).logits.float().cpu())
    return torch.cat(rows) if rows else torch.empty(0, _num_labels(model))


def _num_labels(model: PreTrainedModel) -> int:
    return int(model.config.num_labels or 0)


def _column_order(model: PreTrainedModel, labels: Sequence[str]) -> list[int]:
    """Model output columns in the order of `labels`.

    A model whose id2label holds the same names in another order is re-ordered rather than
    silently scored against the wrong classes; generic names (LABEL_0...) are taken in order.
    """
    id2label: dict[Any, str] = dict(model.config.id2label or {})
    names = [str(id2label.get(i, f"LABEL_{i}")) for i in range(_num_labels(model))]
    if sorted(names) == sorted(labels):
        return [names.index(label) for label in labels]
    if len(names) != len(labels):
        raise ValueError(
            f"the checkpoint has {len(names)} classes {names} but data.labels has "
            f"{len(labels)} {list(labels)}: evaluate it with its own label list"
        )
    return list(range(len(labels)))


def _print_legacy_lines(result: dict[str, Any]) -> None:
    # Exactly what the legacy loop's `The generation accuracy is ([\d.]+) %` regex expects.
    # the test split's, as the legacy loop scored only that; the validation split is in the JSON
    print(f"length of dataset is {result['n']}", flush=True)
    print(f"The generation accuracy is {result['accuracy'] * 100} %.", flush=True)
    print(f"Total inference time is {result['seconds']} sec.", flush=True)


def _forward(texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel,
             device: Any, *, spec: InferSpec, batched: bool) -> torch.Tensor:
    """The model's outputs for `texts`, in their order (jobs.regression scores them)."""
    max_length = _max_length(spec.max_length, model)
    if batched:
        return _batched_logits(texts, tokenizer, model, device, spec.batch_size, max_length)
    return _one_at_a_time_logits(texts, tokenizer, model, device, max_length)


def _checkpoint_labels(checkpoint: str) -> list[str]:
    """The class names in the checkpoint's config.json, in id order."""
    config = json.loads((Path(checkpoint) / "config.json").read_text(encoding="utf-8"))
    id2label = config.get("id2label") or {}
    return [id2label[key] for key in sorted(id2label, key=int)]


def _checkpoint_task(checkpoint: str) -> str:
    """regression for a checkpoint trained with data.task=regression (jobs.regression)."""
    config = json.loads((Path(checkpoint) / "config.json").read_text(encoding="utf-8"))
    return "regression" if config.get("problem_type") == "regression" else "classification"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.infer", description="Evaluate one checkpoint on a test set."
    )
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder")
    parser.add_argument("--result", required=True, help="JSON result path (written atomically)")
    parser.add_argument("--data-file", help="test CSV/JSONL (default: the synthetic test set)")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--labels", help="comma-separated class names (default: the checkpoint's)")
    parser.add_argument("--cache-dir", default=layout.ASSETS_DIR,
                        help="where synthetic data is generated")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--per-example", action="store_true", help="the legacy one-at-a-time loop")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    labels = args.labels.split(",") if args.labels else _checkpoint_labels(args.checkpoint)
    data = DataSettings(
        task=_checkpoint_task(args.checkpoint),
        source="files" if args.data_file else "synthetic",
        test_file=args.data_file or "",
        text_column=args.text_column,
        label_column=args.label_column,
        labels=tuple(labels),
        cache_dir=args.cache_dir,
    )
    spec = InferSpec(
        checkpoint=args.checkpoint,
        result_path=args.result,
        data=data,
        batch_size=args.batch_size,
        max_length=args.max_length,
        validation=not args.data_file,  # a test file alone has no train split to cut
    )
    (run_per_example if args.per_example else run)(spec)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
