"""Typed settings: the one shape in which configuration flows below the CLI.

Hydra composes `conf/` into a mapping; `orchestrator.config.validate` turns it into these frozen
dataclasses, collecting every problem at once. The jobs receive the parts they need
(`TrainSpec`, `InferSpec`) pickled through the scheduler: it stays light, no third-party imports.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from orchestrator.config.choice import Choice
from orchestrator.config.early_stop import EarlyStop, EarlyStopSettings

__all__ = ["Choice", "EarlyStop"]  # where they were first defined; still imported from here


class Task(Choice):  # data.task
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


class Precision(Choice):  # train.precision (infer.precision: not BF16_OR_FP32)
    AUTO = "auto"
    BF16 = "bf16"
    FP16 = "fp16"
    FP32 = "fp32"
    BF16_OR_FP32 = "bf16_or_fp32"  # a NaN-in-fp16 retry's: bf16 where the GPU has it


class ReportTo(Choice):  # train.report_to
    AUTO = "auto"
    NONE = "none"
    TENSORBOARD = "tensorboard"
    WANDB = "wandb"
    MLFLOW = "mlflow"


class Placement(Choice):  # infer.placement (orchestrator.decide.placement)
    JOB = "job"
    WORKER = "worker"
    WITH_TRAINING = "with_training"


class SamplerName(Choice):  # search.sampler
    GRID = "grid"
    RANDOM = "random"
    OPTUNA = "optuna"


@dataclass(frozen=True)
class DataSettings:
    """Where the examples come from and how labels map to classes."""

    name: str = "synthetic"
    # synthetic: generated offline; hub: a Hugging Face dataset name; files: local CSV/JSONL
    source: str = "synthetic"
    hub_name: str = ""  # e.g. mteb/tweet_sentiment_extraction (source=hub)
    train_split: str = "train"
    test_split: str = "test"
    train_file: str = ""  # source=files: CSV or JSONL with text and label columns
    test_file: str = ""
    text_column: str = "text"
    label_column: str = "label"
    labels: tuple[str, ...] = ("negative", "neutral", "positive")
    # raw label (as written in the data, compared as a string) -> class name; empty = identity
    # for names, and integer labels index `labels`
    label_map: dict[str, str] = field(default_factory=dict)
    val_fraction: float = 0.1  # last fraction of the train split, in order, for validation
    max_length: int = 128  # tokens
    synthetic_train_size: int = 4000
    synthetic_test_size: int = 2000
    synthetic_noise: float = 0.1  # fraction of labels flipped at random
    synthetic_seed: int = 0
    cache_dir: str = ""  # generated data and locally built models; default <search.dir>/assets
    # classification: label_column holds classes (labels, label_map); regression: a number
    # (one output, MSE loss; the inference job reports mae, rmse, r2)
    task: Task = Task.CLASSIFICATION
    hub_config: str = ""  # source=hub: the dataset's configuration (e.g. all_languages, en)


@dataclass(frozen=True)
class ModelSettings:
    """The model to fine-tune: a hub name, a local directory, or `tiny` (built locally)."""

    name: str = "tiny"
    name_or_path: str = "tiny"
    dropout: float | None = None  # None keeps the model's own
    tiny_layers: int = 2
    tiny_hidden: int = 128
    tiny_heads: int = 2
    tiny_intermediate: int = 512
    tiny_init_range: float = 0.05  # 0.02 (BERT's) never learns at this size: ml-on-cpu.md


@dataclass(frozen=True)
class LoraSettings:
    """Parameter-efficient fine-tuning through peft (train.lora; null: off)."""

    r: int = 8  # the rank of the update matrices
    alpha: int = 16  # their scale is alpha / r
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ()  # empty: peft's default for the model type
    quantize: str = ""  # "" or 4bit (QLoRA through bitsandbytes: a CUDA GPU only)


@dataclass(frozen=True)
class TrainSettings:
    """The users' recipe (legacy-loop.md), as Hugging Face Trainer knobs."""

    epochs: float = 12.0
    max_steps: int = -1  # > 0 overrides epochs
    per_device_batch_size: int = 64
    grad_accum_steps: int = 2
    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    warmup_steps: float = 500  # an int >= 1 is steps, a float < 1 is a ratio
    lr_scheduler: str = "cosine"
    logging_steps: int = 50
    eval_steps: int = 250
    save_steps: int = 250
    save_total_limit: int | None = None
    save_only_model: bool = False  # True saves space but a restart cannot resume the optimizer
    load_best_model_at_end: bool = True
    # auto: f1 (macro, on validation) for a classification, the search's metric (mae, rmse,
    # r2, loss; else mae) for a regression (config.task_checks.best_model_metric)
    metric_for_best_model: str = "auto"
    # auto: bf16 where the GPU has it, else fp16 on GPU, fp32 on CPU
    precision: Precision = Precision.AUTO
    max_grad_norm: float = 1.0
    dataloader_num_workers: int = 4
    early_stopping_patience: int = 5  # 0 disables
    early_stopping_threshold: float = 0.0
    class_weighted_loss: bool = True
    seed: int = 42  # trial n trains with seed + n - 1
    # Bring your own script: an argument vector with placeholders {output_dir} {model}
    # {trial} {seed} {search_dir}; split like a shell would, but never run by one.
    command: str = ""
    # auto: tensorboard when the job's environment has it, else none; or none, tensorboard,
    # wandb (offline unless WANDB_MODE is set), mlflow
    report_to: ReportTo = ReportTo.AUTO
    # LoRA adapters instead of every weight; checkpoints and best/ hold the adapter
    lora: LoraSettings | None = None


@dataclass(frozen=True)
class TrainSpec:
    """Everything one training job needs; pickled to the job."""

    trial: int
    seed: int
    output_dir: str  # checkpoint-<step>/ folders go here
    data: DataSettings
    model: ModelSettings
    train: TrainSettings
    cpu_threads: int = 0  # torch threads on CPU; 0 keeps torch's default


@dataclass(frozen=True)
class InferSpec:
    """Everything one inference job needs; pickled to the job."""

    checkpoint: str
    result_path: str  # JSON written atomically
    data: DataSettings
    batch_size: int = 64
    max_length: int = 128
    precision: str = "auto"  # auto: bf16 where the GPU has it, else fp32
    cpu_threads: int = 0  # torch threads on CPU; 0 keeps torch's default
    validation: bool = True  # score the validation split as well as the test split


@dataclass(frozen=True)
class EvaluatorSpec:
    """Everything a long-lived evaluator needs (jobs.worker): the queue it takes tasks from
    (placement.work_queue) and the inference settings every task shares; each task names
    its checkpoint and result (or the user's command and its output file)."""

    search_dir: str
    queue: str  # layout.WORKERS, or layout.trial_queue(n) for with_training
    infer: InferSpec  # checkpoint and result_path empty: each task gives its own
    idle_s: float = 300.0  # exit after this long without a task
    # with_training: the trial's output folder. The evaluator beside training exits once
    # training has ended (work_queue.TRAINING_ENDED) and every complete checkpoint in it has
    # a result, a failure, or no task coming (idle_s)
    trial_dir: str = ""
    # a worker job: take no new task after this long (its time limit, less a margin), and
    # exit; the controller submits another when work waits. 0: no limit
    max_s: float = 0.0
    # import torch and load and tokenize the data at start, while the first checkpoint is
    # awaited; False when every task is a user's command (infer.command)
    preload: bool = True
    # a task running longer fails: a user's command is stopped and the evaluator goes on; a
    # built-in evaluation cannot be stopped from inside, so the evaluator exits. 0: no limit
    task_limit_s: float = 0.0


@dataclass(frozen=True)
class JobResources:
    """What one kind of job (train or infer) asks the scheduler for."""

    timeout_min: int = 60
    cpus_per_task: int = 1
    mem_gb: float = 0.0  # 0 leaves it to the cluster's default
    gpus_per_node: int = 0
    nodes: int = 1
    tasks_per_node: int = 1
    # empty (or an empty list): the executor.* setting of the same name; both empty: the
    # cluster's default
    partition: str = ""
    account: str = ""
    qos: str = ""
    constraint: str = ""
    setup_template: str = ""  # a file of set-up lines (module load, conda activate, exports)
    setup: tuple[str, ...] = ()  # more set-up lines, after the template's
    python: str = ""  # the jobs' interpreter; see ExecutorSettings.python
    # extra sbatch options: {exclusive: true, comment: x} gives --exclusive --comment=x
    additional: dict[str, str | int | bool] = field(default_factory=dict)
    srun_args: tuple[str, ...] = ()
    signal_delay_s: int = 90  # SLURM: warn the job this long before its time limit ...
    max_requeues: int = 3  # ... and requeue it (same job id) at most this many times


@dataclass(frozen=True)
class ControllerResources:
    """The detached controller's own SLURM job (`run --detach` on executor=slurm): one CPU,
    a little memory; requeued before its time limit, as often as max_requeues allows."""

    timeout_min: int = 1440
    mem_gb: float = 1.0
    # empty: the shared executor.<key>, as for train and infer
    partition: str = ""
    account: str = ""
    qos: str = ""
    setup_template: str = ""
    setup: tuple[str, ...] = ()
    python: str = ""
    mail_user: str = ""  # SLURM's own mail about the controller job
    mail_type: str = ""  # e.g. END,FAIL (sbatch --mail-type)
    signal_delay_s: int = 120  # requeue this long before the time limit
    max_requeues: int = 100  # a search of days outlives many time limits


@dataclass(frozen=True)
class ExecutorSettings:
    """Where jobs run: `local` processes, in-process `debug`, or `slurm`."""

    name: str = "local"
    poll_interval_s: float = 2.0  # first scheduler query interval; backs off while idle
    max_poll_interval_s: float = 30.0
    fs_interval_s: float = 0.5  # a tick; a trial's files at most this often (scan_cadence)
    # Shared by training and inference jobs; executor.train.* / executor.infer.* of the same
    # name replace them for one kind (`resolve_executor`). Empty: not set.
    partition: str = ""
    account: str = ""
    qos: str = ""
    constraint: str = ""
    setup_template: str = ""
    setup: tuple[str, ...] = ()
    # The interpreter the jobs run: an absolute path, or a command (e.g. `python`) found on
    # the node's PATH after the set-up lines. Empty: the controller's own (sys.executable).
    python: str = ""
    train: JobResources = field(default_factory=JobResources)
    infer: JobResources = field(default_factory=JobResources)
    controller: ControllerResources = field(default_factory=ControllerResources)


SHARED_RESOURCES = ("partition", "account", "qos", "constraint", "setup_template", "setup",
                    "python")


def resolve_executor(executor: ExecutorSettings) -> ExecutorSettings:
    """`executor` with the shared settings filled into `train` and `infer` wherever those
    leave them empty, so that everything below reads one JobResources per kind of job."""

    def fill(res: JobResources) -> JobResources:
        inherited = {name: getattr(executor, name) for name in SHARED_RESOURCES
                     if not getattr(res, name)}
        return replace(res, **inherited)

    return replace(executor, train=fill(executor.train), infer=fill(executor.infer))


@dataclass(frozen=True)
class InferSettings:
    """The per-checkpoint evaluation job."""

    batch_size: int = 64
    precision: Precision = Precision.AUTO
    # Bring your own script: placeholders {checkpoint} {step} {trial} {output_dir} {model}
    # {result} {search_dir}; its metric is read from its output with metric_regex
    command: str = ""
    metric_regex: str = r"The generation accuracy is ([\d.]+) %"
    # where evaluations run (orchestrator.decide.placement): job, one inference job per checkpoint;
    # worker, `workers` long-lived inference jobs fed checkpoints through files
    # (placement.work_queue); with_training, an evaluator beside training in the training
    # job's own allocation. A worker or evaluator with nothing to do for worker_idle_s exits.
    placement: Placement = Placement.JOB
    workers: int = 1
    worker_idle_s: float = 300.0
    # an evaluation in a worker or beside training that runs longer fails (cause other,
    # retried within search.eval_retries) and its evaluator exits: a hung evaluator must not
    # hold its checkpoint for the rest of a long job. 0: executor.infer.timeout_min, the
    # time an inference job would get
    task_timeout_s: float = 0.0


@dataclass(frozen=True)
class SearchSettings(EarlyStopSettings):
    """The stop rule and the search's bookkeeping (and, from its base, early stopping)."""

    dir: str = "runs/search"
    target: float | None = None  # required
    metric: str = "accuracy"
    # max | min; empty: follows a known metric (loss, mae, rmse: min; accuracy, precision*,
    # recall*, f1*: max), else max (users' own scripts), resolved by validation
    mode: str = ""
    # the split whose metric the stop rule and `best` use: test (the legacy loop's) or
    # validation (the last data.val_fraction of the train split; keeps test unbiased)
    split: str = "test"
    patience: int = 1  # falls in a row that stop a trial
    # a fall at a checkpoint before this step is not counted; auto (conf/config.yaml's
    # default): the built-in training's warm-up (config.resolve.fall_grace). 0: every fall
    fall_grace_steps: int | str = 0
    min_delta: float = 0.0  # a fall smaller than this is not a fall
    max_trials: int = 1  # training rounds, each with a new seed
    max_concurrent_evals: int = 2
    eval_retries: int = 2  # resubmissions of an inference job that failed or was lost
    train_retries: int = 2  # resubmissions of a training job (it resumes from its checkpoint)
    max_oom_replans: int = 3  # out of memory: halve the per-device batch, double accumulation
    drain_timeout_s: float = 60.0  # how long to wait for cancelled jobs to end at the finish
    held_grace_s: float = 600.0  # a held job is released, a poll later replaced. 0: wait
    # train.<name> -> choices, or {low, high, log}; e.g. learning_rate: [1e-5, 3e-5]
    space: dict[str, Any] = field(default_factory=dict)
    # grid | random | optuna (TPE, its study kept in search.dir)
    sampler: SamplerName = SamplerName.GRID
    sampler_seed: int = 0
    max_concurrent_trials: int = 1  # trials training at once
    budget_job_hours: float = 0.0  # stop when the jobs have used this much (0: no budget)
    # retention, per trial: the best `keep` evaluated checkpoints by search.metric, the latest
    # while training may resume from it, and every one not yet evaluated; `all`: keep every one
    keep: int | str = 1
    # latest: a checkpoint kept only for its metric loses its optimizer, scheduler and RNG
    keep_optimizer: str = "latest"  # state (no run resumes from it); all: keeps them
    # run at the search's end (engine.notify): an argv; {status} {best_value} {search_dir} {report}
    notify: tuple[str, ...] = ()
    # a search.dir the controller creates: 0700 (its job scripts may hold tokens); true: what
    shared: bool = False  # the umask allows, for a group that follows it
    # > 0: every job ends itself once the controller has shown no sign of life for this long
    orphan_grace_s: float = 0.0  # (killed, its node lost; not detached): common.liveness
    snapshot: bool | str = False  # jobs run a copy of the code (common.snapshot); auto: slurm


@dataclass(frozen=True)
class ReportSettings:
    """report.html (written beside report.md)."""

    x: str = "step"  # step | examples: the x axis of the metric per trial (examples seen)


@dataclass(frozen=True)
class Settings:
    search: SearchSettings
    executor: ExecutorSettings
    data: DataSettings
    model: ModelSettings
    train: TrainSettings
    infer: InferSettings
    report: ReportSettings = field(default_factory=ReportSettings)


def with_changes(train: TrainSettings, changes: Mapping[str, Any]) -> TrainSettings:
    """`train` with an attempt's overrides or a trial's sampled settings, as journaled: a
    choice setting's plain string is turned back into its enum."""
    hints = typing.get_type_hints(TrainSettings)
    typed = {k: hints[k](v) if _is_choice(hints.get(k)) and v is not None else v
             for k, v in changes.items()}
    return replace(train, **typed)


def _is_choice(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, Choice)
