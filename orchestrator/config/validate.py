"""Turn the composed configuration into `Settings`, reporting every problem at once.

Two passes, both collecting instead of raising: the shape (unknown keys, missing keys,
wrong types, against the dataclasses in `settings.py`; `orchestrator.config.shape`), then the
meaning (ranges, a target that the metric can never reach, files that do not exist, a
search.dir that cannot be written). The caller gets one `ConfigError` carrying one line per problem.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import re
import shlex
from pathlib import Path
from typing import Any

from orchestrator.config import (
    early_stop_checks,
    lora_checks,
    preflight,
    resolve,
    task_checks,
)
from orchestrator.config.resolve import natural_mode
from orchestrator.config.settings import (
    Precision,
    SamplerName,
    Settings,
    TrainSettings,
)
from orchestrator.config.shape import build
from orchestrator.decide import placement, retention
from orchestrator.decide.sampler import grid_size
from orchestrator.engine import notify
from orchestrator.engine.job_requests import INFER_PLACEHOLDERS, TRAIN_PLACEHOLDERS, expand
from orchestrator.errors import ConfigError

EXECUTORS = ("local", "debug", "slurm")
DATA_SOURCES = ("synthetic", "hub", "files", "synthetic_prices")
# infer.precision: a Precision but the NaN-in-fp16 retry's (train only). The other choice
# settings (settings.Choice) are checked where they are built (shape: one line, the valid ones)
PRECISIONS = tuple(p.value for p in Precision if p is not Precision.BF16_OR_FP32)
SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant",
              "constant_with_warmup")
# metrics the built-in inference job reports, with the range they live in
FRACTION_METRICS = ("accuracy", "precision_macro", "recall_macro", "f1_macro")
UNBOUNDED_METRICS = ("loss",)
SPLITS = ("test", "validation")


def settings_from(raw: dict[str, Any]) -> Settings:
    """Validated settings, or ConfigError listing every problem."""
    problems: list[str] = []
    broken: list[str] = []
    settings = build(Settings, raw, "", problems, broken)
    if settings is not None:
        # judged on defaults, a broken key's meaning problems would be made up: drop them
        mentions = [re.compile(rf"(?<![\w.]){re.escape(k)}(?!\w)") for k in broken]
        problems += [p for p in check_meaning(settings)
                     if not any(m.search(p) for m in mentions)]
    if problems or settings is None:
        raise ConfigError(problems or ["the configuration is empty"])
    # resolved once, after the checks: they name the keys the user wrote
    return resolve.resolved(settings)


REPORT_X = ("step", "examples")


def _one_of(key: str, value: str, choices: tuple[str, ...]) -> list[str]:
    return [] if value in choices else [f"{key}={value}: must be one of {', '.join(choices)}"]


def check_meaning(s: Settings) -> list[str]:
    return [*_check_search(s), *_check_executor(s), *_check_data(s), *_check_train(s),
            *_check_commands(s), *preflight.problems(s), *task_checks.problems(s),
            *lora_checks.problems(s), *resolve.problems(s), *early_stop_checks.problems(s),
            *_one_of("report.x", s.report.x, REPORT_X), *notify.problems(s.search.notify)]


def _check_commands(s: Settings) -> list[str]:
    p: list[str] = []
    for key, template, names in (("train.command", s.train.command, TRAIN_PLACEHOLDERS),
                                 ("infer.command", s.infer.command, INFER_PLACEHOLDERS)):
        if not template:
            continue
        try:
            words = expand(template, {**{n: f"<{n}>" for n in names}, "train": s.train})
        except KeyError as exc:
            p.append(f"{key}: unknown placeholder {{{exc.args[0]}}}; known: "
                     + " ".join(f"{{{n}}}" for n in names) + " and {train.<setting>}")
            continue
        except AttributeError as exc:
            p.append(f"{key}: unknown placeholder {{train.{exc.name}}}: not a train setting")
            continue
        except (ValueError, IndexError) as exc:
            p.append(f"{key}: cannot be split into arguments ({exc}); check its quotes/braces")
            continue
        if not words:
            p.append(f"{key}: empty")
    if s.infer.command:
        try:
            groups = re.compile(s.infer.metric_regex).groups
        except re.error as exc:
            p.append(f"infer.metric_regex: not a regular expression ({exc})")
        else:
            if groups < 1:
                p.append("infer.metric_regex: needs one (group) around the number")
    return p


def _check_search(s: Settings) -> list[str]:
    p: list[str] = []
    search = s.search
    if search.mode:
        p += _one_of("search.mode", search.mode, ("max", "min"))
    p += _one_of("search.split", search.split, SPLITS)
    p += _check_target(s)
    known = FRACTION_METRICS + UNBOUNDED_METRICS
    if search.metric not in known and not s.infer.command and not task_checks.is_regression(s):
        p.append(f"search.metric={search.metric}: the inference job reports {', '.join(known)}")
    natural = natural_mode(search.metric)
    if search.mode in ("max", "min") and natural not in (None, search.mode) \
            and not s.infer.command:
        better = "higher" if natural == "max" else "lower"
        p.append(f"search.mode={search.mode} with search.metric={search.metric}: {better} is "
                 f"better for it; drop search.mode or use search.mode={natural}")
    if search.patience < 1:
        p.append(f"search.patience={search.patience}: must be >= 1 (1 stops at the first fall)")
    if search.min_delta < 0:
        p.append(f"search.min_delta={search.min_delta:g}: must be >= 0")
    elif search.metric in FRACTION_METRICS and search.min_delta >= 1 and not s.infer.command:
        p.append(f"search.min_delta={search.min_delta:g}: a fall can never exceed 1 on "
                 f"{search.metric}; use a fraction such as 0.005")
    for key in ("max_trials", "max_concurrent_evals"):
        if getattr(search, key) < 1:
            p.append(f"search.{key}={getattr(search, key)}: must be >= 1")
    for key in ("eval_retries", "train_retries", "orphan_grace_s", "held_grace_s"):
        if getattr(search, key) < 0:
            p.append(f"search.{key}={getattr(search, key)}: must be >= 0")
    p += _check_dir(search.dir)
    p += _check_space(s)
    if search.max_concurrent_trials < 1:
        p.append(f"search.max_concurrent_trials={search.max_concurrent_trials}: must be >= 1")
    if search.budget_job_hours < 0:
        p.append(f"search.budget_job_hours={search.budget_job_hours:g}: must be >= 0 (0: none)")
    return p


def _check_target(s: Settings) -> list[str]:
    search = s.search
    if search.target is None:
        return ["search.target: missing; set it, e.g. search.target=0.80 for 80 % accuracy"]
    if not math.isfinite(search.target):
        return [f"search.target={search.target}: must be a finite number"]
    if s.infer.command:
        return []  # a user's script reports in its own units (e.g. percent): any target goes
    if search.metric in FRACTION_METRICS and not 0.0 <= search.target <= 1.0:
        # a percentage (80 for 0.80) is the likely slip; suggest only a value that is valid
        fix = (f"; write search.target={search.target / 100:g}"
               if 1.0 < search.target <= 100 else "")
        return [f"search.target={search.target:g}: {search.metric} is a fraction in [0, 1]{fix}"]
    if search.metric == "loss" and search.target < 0:
        return [f"search.target={search.target:g}: loss is never negative"]
    return []


def _check_space(s: Settings) -> list[str]:
    p: list[str] = []
    fields = {f.name for f in dataclasses.fields(TrainSettings)} - {"command", "lora"}
    for name, spec in s.search.space.items():
        key = f"search.space.{name}"
        if name not in fields:
            p.append(f"{key}: not a train setting; searchable: {', '.join(sorted(fields))}")
        elif isinstance(spec, list):
            if not spec:
                p.append(f"{key}: an empty list of choices")
        elif isinstance(spec, dict):
            p += _check_range(key, spec, s.search.sampler)
        else:
            p.append(f"{key}: give a list of choices or {{low: .., high: .., log: ..}}")
    if s.search.sampler == SamplerName.OPTUNA and importlib.util.find_spec("optuna") is None:
        p.append("search.sampler=optuna: optuna is not installed; pip install optuna")
    return p


def _check_range(key: str, spec: dict[str, Any], sampler: str) -> list[str]:
    if sampler == SamplerName.GRID:
        return [f"{key}: a range cannot be walked by search.sampler=grid; give a list of "
                "choices or use search.sampler=random or optuna"]
    unknown = set(spec) - {"low", "high", "log"}
    low, high = spec.get("low"), spec.get("high")
    if unknown or not all(isinstance(v, int | float) for v in (low, high)):
        return [f"{key}: a range is {{low: number, high: number, log: true|false}}"]
    assert isinstance(low, int | float) and isinstance(high, int | float)
    if low >= high:
        return [f"{key}: low={low} must be below high={high}"]
    if spec.get("log") and low <= 0:
        return [f"{key}: a log range needs low > 0"]
    return []


def _check_dir(directory: str) -> list[str]:
    if not directory:
        return ["search.dir: empty; set it to a folder for this search, e.g. runs/demo"]
    path = Path(directory)
    existing = next((a for a in [path, *path.parents] if a.exists()), None)
    if existing is not None and not existing.is_dir():
        return [f"search.dir={directory}: {existing} is not a folder; pick another path"]
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        return [f"search.dir={directory}: {existing} is not writable; pick a folder you own"]
    return []


def _check_executor(s: Settings) -> list[str]:
    p = _one_of("executor.name", s.executor.name, EXECUTORS)
    e = s.executor
    if e.poll_interval_s <= 0 or e.max_poll_interval_s < e.poll_interval_s:
        p.append("executor.poll_interval_s must be > 0 and <= executor.max_poll_interval_s")
    if e.fs_interval_s <= 0:
        p.append("executor.fs_interval_s must be > 0")
    p += _check_python("executor.python", e.python)
    if e.setup_template and not Path(e.setup_template).is_file():
        p.append(f"executor.setup_template={e.setup_template}: no such file; see "
                 "sbatch_templates/")
    for kind in ("train", "infer"):
        res = getattr(e, kind)
        p += _check_python(f"executor.{kind}.python", res.python)
        for key in ("timeout_min", "cpus_per_task", "nodes", "tasks_per_node"):
            if getattr(res, key) < 1:
                p.append(f"executor.{kind}.{key}={getattr(res, key)}: must be >= 1")
        if res.gpus_per_node < 0 or res.mem_gb < 0:
            p.append(f"executor.{kind}: gpus_per_node and mem_gb must be >= 0")
        if res.setup_template and not Path(res.setup_template).is_file():
            p.append(f"executor.{kind}.setup_template={res.setup_template}: no such file; see "
                     "sbatch_templates/")
        if e.name != "slurm" and res.nodes > 1:
            p.append(f"executor.{kind}.nodes={res.nodes}: executor={e.name} runs on one machine")
    return p + _check_controller(e.controller)


MAIL_TYPES = ("NONE", "BEGIN", "END", "FAIL", "REQUEUE", "ALL", "INVALID_DEPEND", "STAGE_OUT",
              "TIME_LIMIT", "TIME_LIMIT_90", "TIME_LIMIT_80", "TIME_LIMIT_50", "ARRAY_TASKS")


def _check_controller(c: Any) -> list[str]:
    """executor.controller.*: the detached controller's job (orchestrator.engine.detach)."""
    p: list[str] = []
    if c.timeout_min < 1 or c.max_requeues < 0 or c.signal_delay_s < 0 or c.mem_gb < 0:
        p.append("executor.controller: timeout_min must be >= 1; mem_gb, signal_delay_s and "
                 "max_requeues >= 0")
    p += _check_python("executor.controller.python", c.python)
    if c.setup_template and not Path(c.setup_template).is_file():
        p.append(f"executor.controller.setup_template={c.setup_template}: no such file")
    bad = [w for w in c.mail_type.split(",") if w and w.strip().upper() not in MAIL_TYPES]
    if bad:
        p.append(f"executor.controller.mail_type={c.mail_type}: unknown {', '.join(bad)}; "
                 f"one or more (comma-separated) of {', '.join(MAIL_TYPES)}")
    if c.mail_type and not c.mail_user:
        p.append("executor.controller.mail_type needs executor.controller.mail_user")
    return p


def _check_python(key: str, value: str) -> list[str]:
    """The jobs' interpreter: a path is checked here, a bare command only on the node."""
    if not value:
        return []
    try:
        words = shlex.split(value)
    except ValueError as exc:
        return [f"{key}={value}: cannot be split into words ({exc}); check its quotes"]
    if Path(value).is_file():
        words = [value]  # a path with spaces, unquoted
    if not words:
        return [f"{key}: blank; leave it empty for the controller's interpreter"]
    program = words[0]
    if "/" not in program:
        return []  # e.g. `python`: found on the node's PATH after the set-up lines
    fix = ("; give an interpreter that exists on the login node and the compute nodes, or a "
           "command such as python found on PATH after executor.setup")
    if not Path(program).is_file():
        return [f"{key}={value}: {program} does not exist{fix}"]
    if not os.access(program, os.X_OK):
        return [f"{key}={value}: {program} is not executable{fix}"]
    return []


def _check_data(s: Settings) -> list[str]:
    d = s.data
    p = _one_of("data.source", d.source, DATA_SOURCES)
    if d.source == "files":
        for key in ("train_file", "test_file"):
            value = getattr(d, key)
            if not value:
                p.append(f"data.{key}: missing; data.source=files needs a CSV or JSONL path")
            elif not Path(value).is_file():
                p.append(f"data.{key}={value}: no such file")
            elif not os.access(value, os.R_OK):
                p.append(f"data.{key}={value}: not readable")
    if d.source == "hub" and not d.hub_name:
        p.append("data.hub_name: missing; data.source=hub needs a dataset name")
    if task_checks.is_regression(s):
        pass  # no classes: labels and label_map are not used
    elif len(d.labels) < 2:
        p.append(f"data.labels={list(d.labels)}: a classifier needs at least 2 labels")
    bad = sorted({v for v in d.label_map.values() if v not in d.labels})
    if bad and not task_checks.is_regression(s):
        p.append(f"data.label_map maps to {', '.join(bad)}, not in data.labels "
                 f"{list(d.labels)}")
    if not 0.0 < d.val_fraction < 1.0:
        p.append(f"data.val_fraction={d.val_fraction:g}: must be between 0 and 1")
    if d.max_length < 8:
        p.append(f"data.max_length={d.max_length}: must be >= 8 tokens")
    return p


def _check_train(s: Settings) -> list[str]:
    t = s.train
    p = _one_of("infer.precision", s.infer.precision, PRECISIONS)
    p += _one_of("train.lr_scheduler", t.lr_scheduler, SCHEDULERS)
    if t.learning_rate <= 0:
        p.append(f"train.learning_rate={t.learning_rate:g}: must be > 0")
    if t.epochs <= 0 and t.max_steps <= 0:
        p.append("train.epochs and train.max_steps: one must be > 0")
    for key in ("per_device_batch_size", "grad_accum_steps", "save_steps", "eval_steps",
                "logging_steps"):
        if getattr(t, key) < 1:
            p.append(f"train.{key}={getattr(t, key)}: must be >= 1")
    if s.infer.batch_size < 1:
        p.append(f"infer.batch_size={s.infer.batch_size}: must be >= 1")
    if t.load_best_model_at_end and t.eval_steps >= 1 and t.save_steps % t.eval_steps:
        p.append(f"train.save_steps={t.save_steps} must be a multiple of train.eval_steps="
                 f"{t.eval_steps} when train.load_best_model_at_end=true")
    if t.warmup_steps < 0:
        p.append(f"train.warmup_steps={t.warmup_steps:g}: must be >= 0")
    p += retention.problems(s)
    p += placement.problems(s)
    return p


def warnings(s: Settings) -> list[str]:
    """Settings that work but do not do what their author probably meant: one line each,
    printed before the search starts (and by --dry-run); the search runs anyway. Only for
    settings that passed `check_meaning`."""
    search, w = s.search, []
    lists = bool(search.space) and all(isinstance(v, list) and v for v in search.space.values())
    trials = search.max_trials
    if search.sampler == SamplerName.GRID and lists:
        points = grid_size(search.space)
        if points > trials:
            w.append(f"search.space has {points} grid points but search.max_trials={trials}: "
                     f"{points - trials} are never tried; raise search.max_trials to {points} "
                     "or use search.sampler=random")
        elif points < trials:
            w.append(f"search.space has {points} grid points: only {points} trials run, not "
                     f"search.max_trials={trials} (a grid tries each point once)")
        trials = min(trials, points)
    elif search.sampler in (SamplerName.RANDOM, SamplerName.OPTUNA) and not search.space:
        w.append(f"search.sampler={search.sampler} without search.space: the trials differ by "
                 "seed only; give e.g. search.space='{learning_rate: [1e-5, 3e-5]}'")
    elif search.sampler in (SamplerName.RANDOM, SamplerName.OPTUNA) and trials == 1:
        w.append(f"search.sampler={search.sampler} with search.max_trials=1: one trial tries "
                 "one point of search.space; raise search.max_trials")
    w += early_stop_checks.warnings(s, trials)
    return w
