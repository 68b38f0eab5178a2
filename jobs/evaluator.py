"""Evaluate any number of checkpoints against splits loaded and tokenized once.

Theory of operation. An `Evaluator` loads the validation and test splits once (the
validation split is the one training used: `jobs.data.load_train_val`, the last
data.val_fraction of the train split, in order). For each checkpoint it loads the model,
and the tokenizer only when no earlier checkpoint had the same one: the tokenized texts are
kept by a digest of the checkpoint's tokenizer files (and the truncation length), so a
trial's checkpoints, which all carry the tokenizer training saved, are tokenized once. The
texts are tokenized without padding and sorted by length (longest first, so an
out-of-memory shows up on the first batch); each batch is padded only to its own longest
example. `jobs.infer` (one checkpoint per job) and `jobs.worker` (a long-lived evaluator)
both evaluate through it, classifiers and regressions (`jobs.regression`) and LoRA
adapters (`jobs.lora`) alike, and write the same JSON result (atomically).

Only the standard library and `orchestrator` at the top: torch and transformers load inside.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobs.device_facts import device_facts, native_bf16
from orchestrator.common import causes, example_scores, layout
from orchestrator.common.fsutil import atomic_write_json
from orchestrator.config.settings import InferSpec

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# what a checkpoint's tokenizer is made of (the Trainer saves it with processing_class)
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "merges.txt",
                   "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")


class CheckpointUnreadable(OSError):
    """A checkpoint whose tokenizer or model cannot be loaded: it is complete (training
    marked it), so a retry would read the same files: an input error."""

    failure_cause = causes.INPUT


@dataclass
class Tokenized:
    tokenizer: PreTrainedTokenizerBase
    encoded: dict[str, list[list[int]]]  # no padding
    order: list[int]  # longest first


class Evaluator:
    """The splits of `spec.data`, loaded once; `evaluate` scores one checkpoint on them."""

    def __init__(self, spec: InferSpec) -> None:
        import torch

        # imported now, not at the first checkpoint: a worker does this while it waits (the
        # model's base classes and sklearn's metrics are most of a first evaluation's time)
        from transformers import (  # noqa: F401
            AutoModelForSequenceClassification,
            AutoTokenizer,
            PreTrainedModel,
        )

        from jobs import metrics  # noqa: F401

        if spec.cpu_threads > 0:
            torch.set_num_threads(spec.cpu_threads)
        self.spec = spec
        self.regression = spec.data.task == "regression"
        self.splits: dict[str, list[Any]] = _load_splits(spec, self.regression)
        self.texts = [item.text for split in self.splits.values() for item in split]
        self.tokenizations = 0  # how many times the texts were tokenized (tests count it)
        self._tokenizers: dict[str, PreTrainedTokenizerBase] = {}  # by tokenizer_digest
        self._encoded: dict[str, Tokenized] = {}  # by digest and truncation length

    def evaluate(self, checkpoint: str, result_path: str, batched: bool = True,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Score `checkpoint`, write its result (plus `extra`) atomically to `result_path`,
        print the legacy lines; the result."""
        import torch

        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        dtype = dtype_of(self.spec.precision, device)
        digest, tokenizer = self._tokenizer(checkpoint)
        model = _load_model(checkpoint, dtype, device)
        max_length = max_length_of(self.spec.max_length, model)
        started = time.perf_counter()
        with torch.inference_mode():
            if batched:
                outputs = self._batched(self._encode(digest, tokenizer, max_length), model,
                                        device)
            else:
                outputs = _one_at_a_time(self.texts, tokenizer, model, device, max_length)
        seconds = time.perf_counter() - started
        scored = self._score(outputs, model)
        # before the result: a reader that finds the result finds its scores beside it
        example_scores.write(result_path, self._examples(outputs, model))
        result: dict[str, Any] = {
            "checkpoint": checkpoint,
            "step": layout.step_of(Path(checkpoint)),
            **scored["test"],  # at the top as before: readers of the test-only result keep working
            "metrics": scored,
            "seconds": seconds,  # both splits together, the forward pass only
            "examples_per_s": len(self.texts) / seconds if seconds > 0 else None,
            "device": str(device),
            "dtype": str(dtype).removeprefix("torch."),
            **device_facts(),  # device_name, peak_gpu_memory_bytes (None on CPU)
            **(extra or {}),
        }
        atomic_write_json(result_path, result)
        self._print_legacy_lines(result)
        return result

    # ---------------------------------------------------------------- tokenizing once
    def _tokenizer(self, checkpoint: str) -> tuple[str, PreTrainedTokenizerBase]:
        """(digest, tokenizer): loaded once per distinct set of tokenizer files."""
        digest = tokenizer_digest(checkpoint)
        if digest in self._tokenizers:
            return digest, self._tokenizers[digest]
        tokenizer = _load_tokenizer(checkpoint)
        if digest:  # no tokenizer files to name it by: load it again next time
            self._tokenizers[digest] = tokenizer
        return digest, tokenizer

    def _encode(self, digest: str, tokenizer: PreTrainedTokenizerBase,
                max_length: int) -> Tokenized:
        key = f"{digest}:{max_length}"
        if digest and key in self._encoded:
            return self._encoded[key]
        encoded = tokenizer(self.texts, truncation=True, max_length=max_length)
        self.tokenizations += 1
        columns = {name: list(values) for name, values in encoded.items()}
        ids = columns["input_ids"]
        done = Tokenized(tokenizer, columns, sorted(range(len(ids)), key=lambda i: -len(ids[i])))
        if digest:
            self._encoded[key] = done
        return done

    def _batched(self, tokenized: Tokenized, model: PreTrainedModel, device: Any) -> torch.Tensor:
        import torch

        encoded, order = tokenized.encoded, tokenized.order
        logits = torch.empty(len(order), num_labels(model))
        for start in range(0, len(order), self.spec.batch_size):
            rows = order[start : start + self.spec.batch_size]
            features = {key: [encoded[key][i] for i in rows] for key in encoded}
            batch = tokenized.tokenizer.pad(features, return_tensors="pt").to(device)
            logits[rows] = model(**batch).logits.float().cpu()
        return logits

    # ---------------------------------------------------------------- scoring
    def _score(self, outputs: torch.Tensor, model: PreTrainedModel) -> dict[str, dict[str, Any]]:
        if self.regression:
            from jobs import regression

            return regression.score(self.splits, outputs, model)
        import torch
        import torch.nn.functional as F

        from jobs import metrics

        logits = outputs[:, column_order(model, self.spec.data.labels)]
        scored: dict[str, dict[str, Any]] = {}
        start = 0
        for name, split in self.splits.items():
            rows, start = logits[start : start + len(split)], start + len(split)
            labels = [e.label for e in split]
            scored[name] = {
                "n": len(split),
                **metrics.report(labels, rows.argmax(dim=-1).tolist(), self.spec.data.labels),
                "loss": F.cross_entropy(rows, torch.tensor(labels, dtype=torch.long)).item(),
            }
        return scored

    def _examples(self, outputs: torch.Tensor,
                  model: PreTrainedModel) -> dict[str, dict[str, list[float]]]:
        """Each split's per-example scores (common.example_scores: correct and neg_loss)."""
        if self.regression:
            from jobs import regression

            return regression.examples(self.splits, outputs, model)
        import torch
        import torch.nn.functional as F

        logits = outputs[:, column_order(model, self.spec.data.labels)]
        found: dict[str, dict[str, list[float]]] = {}
        start = 0
        for name, split in self.splits.items():
            rows, start = logits[start : start + len(split)], start + len(split)
            labels = torch.tensor([e.label for e in split], dtype=torch.long)
            found[name] = {
                "correct": (rows.argmax(dim=-1) == labels).float().tolist(),
                "neg_loss": (-F.cross_entropy(rows, labels, reduction="none")).tolist(),
            }
        return found

    def _print_legacy_lines(self, result: dict[str, Any]) -> None:
        if self.regression:
            from jobs import regression

            regression.print_legacy_lines(result)
        else:
            print_legacy_lines(result)


def _load_splits(spec: InferSpec, regression: bool) -> dict[str, list[Any]]:
    if regression:
        from jobs import regression as reg

        splits = {"validation": reg.load_train_val(spec.data)[1]} if spec.validation else {}
        splits["test"] = reg.load_split(spec.data, "test")
        return splits
    from jobs.data import load_test, load_train_val

    found: dict[str, list[Any]] = (
        {"validation": load_train_val(spec.data)[1]} if spec.validation else {})
    found["test"] = load_test(spec.data)
    return found


def tokenizer_digest(checkpoint: str) -> str:
    """A digest of the checkpoint's tokenizer files; "" when it has none of them."""
    digest = hashlib.sha256()
    found = False
    for name in TOKENIZER_FILES:
        path = Path(checkpoint) / name
        try:
            content = path.read_bytes()
        except OSError:
            continue
        found = True
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest() if found else ""


def _unreadable(checkpoint: str, err: Exception) -> CheckpointUnreadable:
    return CheckpointUnreadable(
        f"{checkpoint}: cannot load tokenizer and model ({err}); is it a complete "
        f"checkpoint saved with processing_class=tokenizer?")


def _load_tokenizer(checkpoint: str) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(checkpoint)
    except (OSError, ValueError) as err:
        raise _unreadable(checkpoint, err) from err


def _load_model(checkpoint: str, dtype: Any, device: Any) -> PreTrainedModel:
    from transformers import AutoModelForSequenceClassification

    from jobs import lora

    try:
        if lora.is_adapter(checkpoint):  # train.lora: base + adapter (jobs/lora.py)
            model = lora.load(checkpoint, dtype)
        else:
            model = AutoModelForSequenceClassification.from_pretrained(checkpoint, dtype=dtype)
    except OSError as err:
        raise _unreadable(checkpoint, err) from err
    model.to(device).eval()
    return model  # type: ignore[no-any-return]


def dtype_of(precision: str, device: Any) -> Any:
    """auto: bf16 on a GPU that has it natively, fp32 otherwise (CPU bf16 is slower, not
    faster)."""
    import torch

    choices = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    if precision == "auto":
        cuda_bf16 = device.type == "cuda" and native_bf16(device)
        return torch.bfloat16 if cuda_bf16 else torch.float32
    if precision not in choices:
        raise ValueError(f"precision={precision!r} is unknown: use auto, bf16, fp16 or fp32")
    return choices[precision]


def max_length_of(requested: int, model: PreTrainedModel) -> int:
    # Truncating past the position table would crash the model on the longest examples.
    positions = getattr(model.config, "max_position_embeddings", None)
    return min(requested, positions) if isinstance(positions, int) else requested


def _one_at_a_time(texts: Sequence[str], tokenizer: PreTrainedTokenizerBase,
                   model: PreTrainedModel, device: Any, max_length: int) -> torch.Tensor:
    """The legacy loop, one example at a time (jobs.infer.run_per_example)."""
    import torch

    rows = []
    for text in texts:
        batch = tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
        rows.append(model(**batch.to(device)).logits.float().cpu())
    return torch.cat(rows) if rows else torch.empty(0, num_labels(model))


def num_labels(model: PreTrainedModel) -> int:
    return int(model.config.num_labels or 0)


def column_order(model: PreTrainedModel, labels: Sequence[str]) -> list[int]:
    """Model output columns in the order of `labels`.

    A model whose id2label holds the same names in another order is re-ordered rather than
    silently scored against the wrong classes; generic names (LABEL_0...) are taken in order.
    """
    id2label: dict[Any, str] = dict(model.config.id2label or {})
    names = [str(id2label.get(i, f"LABEL_{i}")) for i in range(num_labels(model))]
    if sorted(names) == sorted(labels):
        return [names.index(label) for label in labels]
    if len(names) != len(labels):
        raise ValueError(
            f"the checkpoint has {len(names)} classes {names} but data.labels has "
            f"{len(labels)} {list(labels)}: evaluate it with its own label list"
        )
    return list(range(len(labels)))


def print_legacy_lines(result: dict[str, Any]) -> None:
    # Exactly what the legacy loop's `The generation accuracy is ([\d.]+) %` regex expects:
    # the test split's, as the legacy loop scored only that; the validation split is in the JSON
    print(f"length of dataset is {result['n']}", flush=True)
    print(f"The generation accuracy is {result['accuracy'] * 100} %.", flush=True)
    print(f"Total inference time is {result['seconds']} sec.", flush=True)
