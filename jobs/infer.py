"""The inference job: evaluate ONE checkpoint on the validation and the test split.

Theory of operation: `jobs.evaluator.Evaluator` does the work (a long-lived evaluator,
`jobs.worker`, uses the same one for many checkpoints): the tokenizer and model come from
the checkpoint folder (the training job saves the tokenizer into every checkpoint) and are
loaded once for both splits. The validation split is the one training used
(`jobs.data.load_train_val`: the last data.val_fraction of the train split, in order), so
the two can never disagree. `run` tokenizes both splits' texts together without padding,
sorts them by length (longest first, so an out-of-memory shows up on the first batch), and
pads each batch only to its own longest example. The result keeps the test split's metrics
at the top (as before) and holds both under `metrics: {validation: {...}, test: {...}}`;
the controller reads the split that `search.split` names. `run_per_example` keeps the legacy
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
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jobs.evaluator import Evaluator, column_order
from orchestrator.common import layout
from orchestrator.config.settings import DataSettings, InferSpec, Task

_column_order = column_order  # where it was before jobs.evaluator (tests/jobs/test_infer.py)


def run(spec: InferSpec) -> dict[str, Any]:
    """Batched, length-sorted, dynamically padded evaluation; writes spec.result_path."""
    return Evaluator(spec).evaluate(spec.checkpoint, spec.result_path, batched=True)


def run_per_example(spec: InferSpec) -> dict[str, Any]:
    """The legacy way, one example at a time: same result, for measuring the speed-up."""
    return Evaluator(spec).evaluate(spec.checkpoint, spec.result_path, batched=False)


def _checkpoint_labels(checkpoint: str) -> list[str]:
    """The class names in the checkpoint's config.json, in id order."""
    config = json.loads((Path(checkpoint) / "config.json").read_text(encoding="utf-8"))
    id2label = config.get("id2label") or {}
    return [id2label[key] for key in sorted(id2label, key=int)]


def _checkpoint_task(checkpoint: str) -> Task:
    """regression for a checkpoint trained with data.task=regression (jobs.regression)."""
    config = json.loads((Path(checkpoint) / "config.json").read_text(encoding="utf-8"))
    return Task.REGRESSION if config.get("problem_type") == "regression" else Task.CLASSIFICATION


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
