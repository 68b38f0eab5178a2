"""Building the job requests of a search: pure functions of the settings and the work."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shlex
from pathlib import Path

from orchestrator.scheduler import JobRequest
from orchestrator.settings import InferSpec, Settings, TrainSpec


def trial_dir(search_dir: Path, trial: int) -> Path:
    return search_dir / "trials" / f"{trial:03d}"


def result_path(search_dir: Path, trial: int, step: int) -> Path:
    """Where the built-in inference job writes its JSON result."""
    return trial_dir(search_dir, trial) / "evals" / f"step-{step:08d}.json"


def output_path(search_dir: Path, trial: int, step: int) -> Path:
    """Where a user's own inference script's stdout is kept (the metric is read from it)."""
    return trial_dir(search_dir, trial) / "evals" / f"step-{step:08d}.out"


# `{train.learning_rate}` and the like give the trial's own (sampled) train settings
TRAIN_PLACEHOLDERS = ("output_dir", "model", "trial", "seed", "search_dir", "train")
INFER_PLACEHOLDERS = (*TRAIN_PLACEHOLDERS, "checkpoint", "step", "result")


def expand(template: str, values: dict[str, object]) -> tuple[str, ...]:
    """Split `template` like a shell, then fill placeholders in each word.

    Splitting first means a value with spaces or shell syntax stays one inert argument.
    Raises KeyError for an unknown placeholder and ValueError for bad quoting.
    """
    return tuple(word.format_map(values) for word in shlex.split(template))


def job_name(search_dir: Path, key: str) -> str:
    """What squeue shows: the search folder's name (made inert), a digest of its full path
    and the job's key. Unique to this search and this job, so the scheduler can be asked
    for it by name: to find a submission a killed controller never journaled, and to tell
    our job from another that SLURM has given a reused id."""
    digest = hashlib.sha1(str(search_dir.absolute()).encode()).hexdigest()[:6]
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', search_dir.name)[:40]}-{digest}-{key}"


def train_key(trial: int, attempt: int) -> str:
    return f"train-t{trial:03d}-a{attempt}"


def infer_key(trial: int, step: int, attempt: int) -> str:
    return f"infer-t{trial:03d}-s{step:08d}-a{attempt}"


def _data(settings: Settings, search_dir: Path) -> object:
    cache = settings.data.cache_dir or str(search_dir / "assets")
    return dataclasses.replace(settings.data, cache_dir=str(Path(cache).resolve()))


def train_request(settings: Settings, search_dir: Path, trial: int, seed: int,
                  attempt: int, overrides: dict[str, object] | None = None) -> JobRequest:
    """The training job of one attempt; `overrides` replace train settings (an OOM re-plan)."""
    key = train_key(trial, attempt)
    folder = search_dir / "jobs" / key
    name = job_name(search_dir, key)
    train = dataclasses.replace(settings.train, **(overrides or {}))  # type: ignore[arg-type]
    if settings.train.command:
        values = dict(output_dir=trial_dir(search_dir, trial), model=settings.model.name_or_path,
                      trial=trial, seed=seed, search_dir=search_dir, train=train)
        return JobRequest(key=key, kind="train", name=name, folder=folder,
                          resources=settings.executor.train,
                          command=expand(settings.train.command, values),
                          output=str(trial_dir(search_dir, trial) / f"train-a{attempt}.out"))
    spec = TrainSpec(
        trial=trial,
        seed=seed,
        output_dir=str(trial_dir(search_dir, trial)),
        data=_data(settings, search_dir),  # type: ignore[arg-type]
        model=settings.model,
        train=train,
        cpu_threads=settings.executor.train.cpus_per_task,
    )
    return JobRequest(key=key, kind="train", name=name, folder=folder,
                      resources=settings.executor.train, target="jobs.train:run", spec=spec)


def infer_request(settings: Settings, search_dir: Path, trial: int, step: int, checkpoint: str,
                  attempt: int, params: dict[str, object] | None = None) -> JobRequest:
    """The inference job of one checkpoint; `params` are its trial's sampled settings."""
    key = infer_key(trial, step, attempt)
    folder = search_dir / "jobs" / key
    name = job_name(search_dir, key)
    if settings.infer.command:
        values = dict(output_dir=trial_dir(search_dir, trial), model=settings.model.name_or_path,
                      trial=trial, seed=settings.train.seed + trial - 1, search_dir=search_dir,
                      checkpoint=checkpoint, step=step, result=result_path(search_dir, trial, step),
                      train=dataclasses.replace(settings.train, **(params or {})))  # type: ignore[arg-type]
        return JobRequest(key=key, kind="infer", name=name, folder=folder,
                          resources=settings.executor.infer,
                          command=expand(settings.infer.command, values),
                          output=str(output_path(search_dir, trial, step)))
    spec = InferSpec(
        checkpoint=checkpoint,
        result_path=str(result_path(search_dir, trial, step)),
        data=_data(settings, search_dir),  # type: ignore[arg-type]
        batch_size=settings.infer.batch_size,
        max_length=settings.data.max_length,
        precision=settings.infer.precision,
        cpu_threads=settings.executor.infer.cpus_per_task,
    )
    return JobRequest(key=key, kind="infer", name=name, folder=folder,
                      resources=settings.executor.infer, target="jobs.infer:run", spec=spec)
