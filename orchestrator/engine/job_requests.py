"""Building the job requests of a search: pure functions of the settings and the work.

A request says what one job runs (our job's spec, or a user's command with its placeholders
filled), with which resources, under which key and scheduler name, and in which folder; every
path and name comes from `orchestrator.common.layout`, and the `{seed}` from its one seed rule.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

from orchestrator.common import layout, snapshot
from orchestrator.config.settings import (
    EvaluatorSpec,
    InferSpec,
    Placement,
    Settings,
    TrainSpec,
    with_changes,
)
from orchestrator.model.transitions import JobKind
from orchestrator.scheduler import JobRequest
from orchestrator.scheduler.interface import OrphanWatch

# `{train.learning_rate}` and the like give the trial's own (sampled) train settings
TRAIN_PLACEHOLDERS = ("output_dir", "model", "trial", "seed", "search_dir", "train")
INFER_PLACEHOLDERS = (*TRAIN_PLACEHOLDERS, "checkpoint", "step", "result")


def expand(template: str, values: dict[str, object]) -> tuple[str, ...]:
    """Split `template` like a shell, then fill placeholders in each word.

    Splitting first means a value with spaces or shell syntax stays one inert argument.
    Raises KeyError for an unknown placeholder and ValueError for bad quoting.
    """
    return tuple(word.format_map(values) for word in shlex.split(template))


def _data(settings: Settings, search_dir: Path) -> object:
    cache = settings.data.cache_dir or str(layout.assets_dir(search_dir))
    return dataclasses.replace(settings.data, cache_dir=str(Path(cache).resolve()))


def _infer_spec(settings: Settings, search_dir: Path, checkpoint: str = "",
                result: str = "") -> InferSpec:
    return InferSpec(
        checkpoint=checkpoint,
        result_path=result,
        data=_data(settings, search_dir),  # type: ignore[arg-type]
        batch_size=settings.infer.batch_size,
        max_length=settings.data.max_length,
        precision=settings.infer.precision,
        cpu_threads=settings.executor.infer.cpus_per_task,
    )


# a worker takes no new task in the last minutes of its time limit: one evaluation must fit
WORKER_MARGIN_S = 300.0


def evaluator_spec(settings: Settings, search_dir: Path, queue: str,
                   trial_dir: str = "", timeout_min: int = 0) -> EvaluatorSpec:
    """What a long-lived evaluator runs with: a worker job's (queue `workers`, its time
    limit), or the one beside a trial's training (its queue and output folder)."""
    limit = timeout_min * 60.0
    return EvaluatorSpec(search_dir=str(search_dir.resolve()), queue=queue,
                         infer=_infer_spec(settings, search_dir),
                         idle_s=settings.infer.worker_idle_s, trial_dir=trial_dir,
                         max_s=max(limit - WORKER_MARGIN_S, limit / 2) if limit else 0.0,
                         preload=not settings.infer.command,
                         task_limit_s=(settings.infer.task_timeout_s
                                       or settings.executor.infer.timeout_min * 60.0))


def frozen(settings: Settings, search_dir: Path) -> Path | None:
    """The code snapshot the search's jobs run (search.snapshot), or None: the code in place."""
    return snapshot.current(search_dir) if settings.search.snapshot is True else None


def _frozen_text(settings: Settings, search_dir: Path) -> str:
    found = frozen(settings, search_dir)
    return "" if found is None else str(found)


def orphan_watch(settings: Settings, search_dir: Path) -> OrphanWatch | None:
    """What a job of the search watches to end itself once its controller is gone
    (search.orphan_grace_s; None when 0)."""
    grace = settings.search.orphan_grace_s
    return OrphanWatch(str(search_dir.resolve()), grace) if grace > 0 else None


def worker_request(settings: Settings, search_dir: Path, slot: int, attempt: int) -> JobRequest:
    """A worker job (infer.placement=worker): it evaluates the tasks of the `workers` queue,
    with the inference jobs' resources."""
    key = layout.worker_key(slot, attempt)
    return JobRequest(key=key, kind=JobKind.WORKER, name=layout.job_name(search_dir, key),
                      folder=layout.job_folder(search_dir, key),
                      resources=settings.executor.infer, target="jobs.worker:run",
                      spec=evaluator_spec(settings, search_dir, layout.WORKERS,
                                          timeout_min=settings.executor.infer.timeout_min),
                      orphan_watch=orphan_watch(settings, search_dir),
                      snapshot=_frozen_text(settings, search_dir))


def train_request(settings: Settings, search_dir: Path, trial: int, seed: int,
                  attempt: int, overrides: dict[str, object] | None = None) -> JobRequest:
    """The training job of one attempt; `overrides` replace train settings (an OOM re-plan).
    With infer.placement=with_training it starts an evaluator beside training."""
    key = layout.train_key(trial, attempt)
    folder = layout.job_folder(search_dir, key)
    name = layout.job_name(search_dir, key)
    output_dir = layout.trial_dir(search_dir, trial)
    train = with_changes(settings.train, overrides or {})
    beside = evaluator_spec(settings, search_dir, layout.trial_queue(trial),
                            str(output_dir.resolve())) if (
        settings.infer.placement == Placement.WITH_TRAINING) else None
    if settings.train.command:
        values = dict(output_dir=output_dir, model=settings.model.name_or_path,
                      trial=trial, seed=seed, search_dir=search_dir, train=train)
        return JobRequest(key=key, kind=JobKind.TRAIN, name=name, folder=folder,
                          resources=settings.executor.train,
                          command=snapshot.rewrite(expand(settings.train.command, values),
                                                   frozen(settings, search_dir)),
                          output=str(layout.train_output_path(search_dir, trial, attempt)),
                          beside=beside, orphan_watch=orphan_watch(settings, search_dir),
                      snapshot=_frozen_text(settings, search_dir))
    spec = TrainSpec(
        trial=trial,
        seed=seed,
        output_dir=str(output_dir),
        data=_data(settings, search_dir),  # type: ignore[arg-type]
        model=settings.model,
        train=train,
        cpu_threads=settings.executor.train.cpus_per_task,
    )
    return JobRequest(key=key, kind=JobKind.TRAIN, name=name, folder=folder,
                      resources=settings.executor.train, target="jobs.train:run", spec=spec,
                      beside=beside, orphan_watch=orphan_watch(settings, search_dir),
                      snapshot=_frozen_text(settings, search_dir))


def infer_request(settings: Settings, search_dir: Path, trial: int, step: int, checkpoint: str,
                  attempt: int, params: dict[str, object] | None = None,
                  queue: str = "", rewrite: int = 0) -> JobRequest:
    """The inference job of one checkpoint; `params` are its trial's sampled settings (a
    sampled `seed` among them is the trial's seed, as training had it). With a `queue`
    (decide.placement) it is a task for a long-lived evaluator, its folder the queue's.
    `rewrite`: the checkpoint was written again by a later training run (its own result)."""
    key = layout.infer_key(trial, step, attempt)
    folder = layout.queue_dir(search_dir, queue) if queue else (
        layout.job_folder(search_dir, key))
    name = layout.job_name(search_dir, key)
    result = layout.result_path(search_dir, trial, step, rewrite)
    if settings.infer.command:
        values = dict(output_dir=layout.trial_dir(search_dir, trial),
                      model=settings.model.name_or_path, trial=trial,
                      seed=layout.trial_seed(settings.train.seed, trial, params),
                      search_dir=search_dir, checkpoint=checkpoint, step=step, result=result,
                      train=with_changes(settings.train, params or {}))
        return JobRequest(key=key, kind=JobKind.INFER, name=name, folder=folder,
                          resources=settings.executor.infer,
                          command=snapshot.rewrite(expand(settings.infer.command, values),
                                                   frozen(settings, search_dir)),
                          output=str(layout.output_path(search_dir, trial, step, rewrite)),
                          queue=queue, orphan_watch=orphan_watch(settings, search_dir),
                      snapshot=_frozen_text(settings, search_dir))
    return JobRequest(key=key, kind=JobKind.INFER, name=name, folder=folder,
                      resources=settings.executor.infer, target="jobs.infer:run",
                      spec=_infer_spec(settings, search_dir, checkpoint, str(result)),
                      queue=queue, orphan_watch=orphan_watch(settings, search_dir),
                      snapshot=_frozen_text(settings, search_dir))


def first_requests(settings: Settings) -> list[JobRequest]:
    """The jobs the search submits first, as the scheduler will see them: a training job,
    and an inference job, or a worker job (placement=worker, with the same resources);
    with_training's evaluator runs in the training job, but a checkpoint found after
    training ended still goes to an inference job."""
    search_dir = Path(settings.search.dir)
    step = settings.train.save_steps
    checkpoint = layout.checkpoint_dir(layout.trial_dir(search_dir, 1), step)
    requests = [train_request(settings, search_dir, 1, layout.trial_seed(settings.train.seed, 1),
                              0)]
    if settings.infer.placement == Placement.WORKER:
        requests.append(worker_request(settings, search_dir, 1, 0))
    else:
        requests.append(infer_request(settings, search_dir, 1, step, str(checkpoint), 0))
    return requests
