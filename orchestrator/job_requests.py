"""Building the job requests of a search: pure functions of the settings and the work.

A request says what one job runs (our job's spec, or a user's command with its placeholders
filled), with which resources, under which key and scheduler name, and in which folder; every
path and name comes from `orchestrator.layout`, and the `{seed}` from its one seed rule.
"""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

from orchestrator import layout
from orchestrator.scheduler import JobRequest
from orchestrator.settings import InferSpec, Settings, TrainSpec

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


def train_request(settings: Settings, search_dir: Path, trial: int, seed: int,
                  attempt: int, overrides: dict[str, object] | None = None) -> JobRequest:
    """The training job of one attempt; `overrides` replace train settings (an OOM re-plan)."""
    key = layout.train_key(trial, attempt)
    folder = layout.job_folder(search_dir, key)
    name = layout.job_name(search_dir, key)
    output_dir = layout.trial_dir(search_dir, trial)
    train = dataclasses.replace(settings.train, **(overrides or {}))  # type: ignore[arg-type]
    if settings.train.command:
        values = dict(output_dir=output_dir, model=settings.model.name_or_path,
                      trial=trial, seed=seed, search_dir=search_dir, train=train)
        return JobRequest(key=key, kind="train", name=name, folder=folder,
                          resources=settings.executor.train,
                          command=expand(settings.train.command, values),
                          output=str(layout.train_output_path(search_dir, trial, attempt)))
    spec = TrainSpec(
        trial=trial,
        seed=seed,
        output_dir=str(output_dir),
        data=_data(settings, search_dir),  # type: ignore[arg-type]
        model=settings.model,
        train=train,
        cpu_threads=settings.executor.train.cpus_per_task,
    )
    return JobRequest(key=key, kind="train", name=name, folder=folder,
                      resources=settings.executor.train, target="jobs.train:run", spec=spec)


def infer_request(settings: Settings, search_dir: Path, trial: int, step: int, checkpoint: str,
                  attempt: int, params: dict[str, object] | None = None) -> JobRequest:
    """The inference job of one checkpoint; `params` are its trial's sampled settings (a
    sampled `seed` among them is the trial's seed, as training had it)."""
    key = layout.infer_key(trial, step, attempt)
    folder = layout.job_folder(search_dir, key)
    name = layout.job_name(search_dir, key)
    result = layout.result_path(search_dir, trial, step)
    if settings.infer.command:
        values = dict(output_dir=layout.trial_dir(search_dir, trial),
                      model=settings.model.name_or_path, trial=trial,
                      seed=layout.trial_seed(settings.train.seed, trial, params),
                      search_dir=search_dir, checkpoint=checkpoint, step=step, result=result,
                      train=dataclasses.replace(settings.train, **(params or {})))  # type: ignore[arg-type]
        return JobRequest(key=key, kind="infer", name=name, folder=folder,
                          resources=settings.executor.infer,
                          command=expand(settings.infer.command, values),
                          output=str(layout.output_path(search_dir, trial, step)))
    spec = InferSpec(
        checkpoint=checkpoint,
        result_path=str(result),
        data=_data(settings, search_dir),  # type: ignore[arg-type]
        batch_size=settings.infer.batch_size,
        max_length=settings.data.max_length,
        precision=settings.infer.precision,
        cpu_threads=settings.executor.infer.cpus_per_task,
    )
    return JobRequest(key=key, kind="infer", name=name, folder=folder,
                      resources=settings.executor.infer, target="jobs.infer:run", spec=spec)
