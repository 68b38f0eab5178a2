"""The Hugging Face pieces of the training job: model loading, arguments, loss and callbacks.

Imports torch and transformers at the top, so only `jobs.train.run` imports it (lazily):
`jobs.train` itself stays importable in a light process. Nothing here imports `jobs.train`.

Callbacks, and why each exists:
- PlanWriter: writes plan.json (`plan_dict`) once the Trainer knows max_steps, so that the
  controller knows which checkpoints to expect.
- CompletionMarker: the Trainer writes trainer_state.json last and not atomically, and has no
  completion marker; `on_save` runs after every file of the checkpoint is written (and after
  rotation), so the marker written there is the controller's "safe to evaluate".
- NanGuard: a NaN loss never heals and every later checkpoint would be garbage. It stops at
  the end of the step (before that step's save) by raising, which in a multi-process run
  also ends the other ranks (torchrun tears the group down) instead of leaving them waiting.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    EarlyStoppingCallback,
    EvalPrediction,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
    set_seed,
)

from jobs import heads, lora, metrics, tensorboard_job
from jobs.data import Example
from jobs.device_facts import native_bf16
from jobs.tiny_model import ensure_tiny_model
from orchestrator.common import causes, layout
from orchestrator.common.checkpoints import new_run, write_marker
from orchestrator.common.fsutil import atomic_write_json
from orchestrator.config import task_checks
from orchestrator.config.settings import TrainSettings, TrainSpec

# Config attributes that hold dropout, across the BERT family (BERT, RoBERTa, DistilBERT...).
_DROPOUT_ATTRS = (
    "hidden_dropout_prob",
    "attention_probs_dropout_prob",
    "dropout",
    "attention_dropout",
    "seq_classif_dropout",
)


def load_model_and_tokenizer(
    spec: TrainSpec, train_texts: Sequence[str]
) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    """Tokenizer and classifier for `spec.model`; "tiny" is built locally from the texts."""
    source = spec.model.name_or_path
    if source == "tiny":
        source = str(ensure_tiny_model(spec.model, spec.data, train_texts))
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        config = AutoConfig.from_pretrained(source, **heads.head_config(spec.data))
    except OSError as err:
        raise OSError(
            f"model.name_or_path={source!r} could not be loaded ({err}); on an offline node "
            f"download it first on a node with internet, or set model.name_or_path to a folder"
        ) from err
    if spec.model.dropout is not None:
        for attr in _DROPOUT_ATTRS:
            if hasattr(config, attr):
                setattr(config, attr, spec.model.dropout)
    if tokenizer.pad_token is None:  # decoder-only models: pad with the end-of-text token
        tokenizer.pad_token = tokenizer.eos_token
        config.pad_token_id = tokenizer.pad_token_id
    set_seed(spec.seed)  # a new classification head is initialised from the trial's seed
    # a regression head on a classifier's weights: a new head (as a hub model's always is)
    model = AutoModelForSequenceClassification.from_pretrained(
        source, config=config, ignore_mismatched_sizes=spec.data.task == heads.REGRESSION,
        **lora.load_kwargs(spec))
    return tokenizer, model


def encode(tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], max_length: int) -> Any:
    """A `datasets.Dataset` of token ids, unpadded: the collator pads each batch."""
    import datasets

    encoded = tokenizer([e.text for e in examples], truncation=True, max_length=max_length)
    columns = {key: list(values) for key, values in encoded.items()}
    columns["labels"] = [e.label for e in examples]
    return datasets.Dataset.from_dict(columns)


def resolve_precision(precision: str) -> str:
    """"auto" becomes bf16 on a GPU that has it natively, fp16 on other GPUs, fp32 on CPU."""
    cuda = torch.cuda.is_available()
    if precision == causes.NAN_RETRY_PRECISION:  # a NaN-in-fp16 trial's retry
        return "bf16" if native_bf16() else "fp32"
    if precision == "auto":
        if not cuda:
            return "fp32"
        return "bf16" if native_bf16() else "fp16"
    if precision not in ("bf16", "fp16", "fp32"):
        raise ValueError(f"train.precision={precision!r} is unknown: use auto, bf16, fp16 or fp32")
    if precision == "fp16" and not cuda:
        raise ValueError("train.precision=fp16 needs a CUDA GPU and this node has none: use auto")
    return str(precision)  # a settings.Precision: the Trainer gets a plain str


def data_loader_workers(requested: int) -> int:
    # On CPU the examples are already token ids in memory: worker processes only add start-up
    # time and compete with the training threads for the same cores.
    if not torch.cuda.is_available():
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(0, min(requested, (cores or 1) - 1))


def warmup_value(warmup_steps: float) -> int | float:
    """An int (steps) when >= 1, else the float ratio transformers 5 accepts in warmup_steps."""
    if warmup_steps < 0:
        raise ValueError(f"train.warmup_steps={warmup_steps} is negative: use steps or a ratio < 1")
    return int(warmup_steps) if warmup_steps >= 1 else float(warmup_steps)


def training_arguments(spec: TrainSpec, precision: str) -> TrainingArguments:
    t: TrainSettings = spec.train
    # the controller resolves auto with the search's metric; a hand-built spec's, here
    best_metric = task_checks.best_model_metric(spec.data.task, t.metric_for_best_model)
    return TrainingArguments(
        output_dir=spec.output_dir,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps if t.max_steps > 0 else -1,
        per_device_train_batch_size=t.per_device_batch_size,
        per_device_eval_batch_size=t.per_device_batch_size,
        gradient_accumulation_steps=t.grad_accum_steps,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        warmup_steps=warmup_value(t.warmup_steps),
        lr_scheduler_type=t.lr_scheduler,
        max_grad_norm=t.max_grad_norm,
        logging_strategy="steps",
        logging_steps=t.logging_steps,
        eval_strategy="steps",
        eval_steps=t.eval_steps,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        save_only_model=t.save_only_model,
        load_best_model_at_end=t.load_best_model_at_end,
        metric_for_best_model=best_metric,
        greater_is_better=heads.greater_is_better(spec.data, best_metric),
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        dataloader_num_workers=data_loader_workers(t.dataloader_num_workers),
        dataloader_pin_memory=torch.cuda.is_available(),
        # Without use_cpu a CPU node launched with torchrun does not form a process group:
        # every rank trains its own copy into the same folder (measured, transformers 5.23).
        use_cpu=not torch.cuda.is_available(),
        seed=spec.seed,
        report_to=tensorboard_job.report_to(t.report_to, spec.output_dir),
        disable_tqdm=True,  # one printed dict per log line reads better in a batch log
    )


def class_weights(labels: Sequence[int], n_labels: int) -> torch.Tensor:
    """sklearn's 'balanced' weights; a class absent from the train split gets weight 1."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(np.asarray(labels))
    balanced = compute_class_weight("balanced", classes=present, y=np.asarray(labels))
    weights = np.ones(n_labels, dtype=np.float32)
    weights[present] = balanced
    return torch.tensor(weights)


def compute_metrics_for(n_labels: int) -> Callable[[EvalPrediction], dict[str, float]]:
    def compute(prediction: EvalPrediction) -> dict[str, float]:
        logits = prediction.predictions
        logits = logits[0] if isinstance(logits, tuple) else logits
        predicted = np.argmax(logits, axis=-1).tolist()
        return metrics.summary(np.asarray(prediction.label_ids).tolist(), predicted, n_labels)

    return compute


class LossBecameNaN(RuntimeError):
    """The training loss stopped being finite. The message starts with `loss became NaN at step`."""

    failure_cause = causes.NAN


class NanGuard(TrainerCallback):
    """Raises LossBecameNaN at the end of the first step whose loss was not finite."""

    def __init__(self, precision: str) -> None:
        self.precision = precision
        self.step: int | None = None

    def observe(self, loss: torch.Tensor, step: int) -> None:
        if self.step is None and not bool(torch.isfinite(loss.detach()).all()):
            self.step = step

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.step is not None:
            error = LossBecameNaN(
                f"loss became NaN at step {self.step} (precision {self.precision}); set "
                f"train.precision=fp32 (or bf16) or lower train.learning_rate, then run again"
            )
            if self.precision == "fp16":  # the controller retries it once in bf16 or fp32
                error.failure_cause = causes.NAN_FP16
            raise error


class CompletionMarker(TrainerCallback):
    def __init__(self, output_dir: str, run: str = "") -> None:
        self.output_dir, self.run = Path(output_dir), run

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        folder = layout.checkpoint_dir(self.output_dir, state.global_step)
        # is_dir: writing the marker would otherwise create a folder holding only a marker.
        if state.is_world_process_zero and folder.is_dir():
            write_marker(folder, state.global_step, self.run)


def plan_dict(
    spec: TrainSpec, max_steps: int, save_steps: int, num_train: int, num_val: int, run: str = ""
) -> dict[str, int | str]:
    """plan.json: what the controller needs to know which checkpoints will come."""
    return {
        "max_steps": int(max_steps),
        "save_steps": int(save_steps),
        "num_train_examples": num_train,
        "num_val_examples": num_val,
        "trial": spec.trial,
        "seed": spec.seed,
        "run": run,  # this run of the job, named in its checkpoints' markers too
    }


class PlanWriter(TrainerCallback):
    def __init__(self, spec: TrainSpec, num_train: int, num_val: int, run: str = "") -> None:
        self.spec, self.num_train, self.num_val, self.run = spec, num_train, num_val, run

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if state.is_world_process_zero:
            plan = plan_dict(
                self.spec, state.max_steps, state.save_steps, self.num_train, self.num_val,
                self.run,
            )
            atomic_write_json(layout.plan_path(self.spec.output_dir), plan)


class WeightedLossTrainer(Trainer):
    """Cross-entropy, class-weighted when asked, with every training loss shown to NanGuard."""

    # Our loss is a per-micro-batch mean: the Trainer must divide it by the accumulation steps.
    loss_is_scaled_for_ga = False

    def __init__(
        self, *args: Any, weights: torch.Tensor | None, nan_guard: NanGuard, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.weights = weights
        self.nan_guard = nan_guard
        # Older 5.x releases lack loss_is_scaled_for_ga; this makes them divide as well.
        self.model_accepts_loss_kwargs = False

    def compute_loss(
        self,
        model: torch.nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: torch.Tensor | int | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        features = {k: v for k, v in inputs.items() if k != "labels"}  # the caller keeps inputs
        labels = inputs["labels"]
        outputs = model(**features)
        logits = outputs.logits.float()  # fp32 loss under bf16/fp16 autocast
        loss = self.loss(logits, labels)
        if model.training:
            self.nan_guard.observe(loss, self.state.global_step + 1)
        return (loss, outputs) if return_outputs else loss

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The users' loss; jobs.regression.RegressionTrainer's is MSE."""
        weight = None if self.weights is None else self.weights.to(logits.device)
        return F.cross_entropy(logits, labels, weight=weight)


def callbacks(
    spec: TrainSpec, guard: NanGuard, num_train: int, num_val: int
) -> list[TrainerCallback]:
    run = new_run()  # one per run of the job: a later run's checkpoints are new ones
    found: list[TrainerCallback] = [
        PlanWriter(spec, num_train, num_val, run),
        CompletionMarker(spec.output_dir, run),
        guard,
    ]
    if spec.train.early_stopping_patience > 0:
        found.append(
            EarlyStoppingCallback(
                early_stopping_patience=spec.train.early_stopping_patience,
                early_stopping_threshold=spec.train.early_stopping_threshold,
            )
        )
    return found
