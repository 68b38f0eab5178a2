"""Input errors found before anything is submitted: the data files, the model, the recipe.

Theory of operation: a training job that fails on its input fails minutes (or a queue wait)
after the submission, and a retry cannot fix it. What the login node can see for itself is
checked here instead, with the standard library only (the controller never imports
datasets, torch or transformers), and joins validate's one ConfigError:
- `data.source=files`: every row of train_file and test_file is read the way jobs/data.py
  reads it (`data_scan`: csv for .csv/.tsv, JSON lines for .jsonl/.ndjson), streamed.
- the model: a local path (absolute, ./, ../, ~, or an existing folder) must be a folder
  with a readable config.json; a hub name on an offline machine must be in the Hugging
  Face cache. That is an error only where the jobs see this machine's environment and file
  system (executor local or debug); on SLURM the compute nodes may differ (set-up lines,
  another cache), so it is a warning there.
- train settings that contradict each other, as the Trainer would find them at its start.
Nothing is refused that the jobs would accept: each check mirrors the job's own code.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from orchestrator.config.data_scan import scan_file
from orchestrator.config.settings import SamplerName, Settings, Task, TrainSettings
from orchestrator.decide import sampler

# what the training job's evaluation reports (jobs.metrics.summary, plus the Trainer's loss),
# with or without the Trainer's "eval_" prefix
TRAINER_METRICS = ("accuracy", "precision", "recall", "f1", "loss")


def problems(settings: Settings) -> list[str]:
    """Every input problem the jobs would fail on, one line each."""
    return [*_check_files(settings), *_check_model(settings, errors=True),
            *_check_recipe(settings), *_check_grid(settings)]


def warnings(settings: Settings) -> list[str]:
    """What will probably fail but cannot be known from here (another node's environment)."""
    return [*_check_model(settings, errors=False), *_check_hub_data(settings)]


# --------------------------------------------------------------------------- data files
def _check_files(s: Settings) -> list[str]:
    d = s.data
    if d.source != "files":
        return []
    found: list[str] = []
    for key, split in (("train_file", "train"), ("test_file", "test")):
        name = getattr(d, key)
        if name and Path(name).is_file() and os.access(name, os.R_OK):
            found += scan_file(Path(name), f"data.{key}={name}", d, split == "train")
    return found


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")


def offline() -> bool:
    """huggingface_hub's own switch (HF_HUB_OFFLINE, or transformers' older name)."""
    return _truthy("HF_HUB_OFFLINE") or _truthy("TRANSFORMERS_OFFLINE")


def hf_home() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "huggingface"
    return Path(os.path.expandvars(os.environ.get("HF_HOME", str(default)))).expanduser()


def hub_cache() -> Path:
    """Where huggingface_hub keeps downloads (its constants.HF_HUB_CACHE, same order)."""
    legacy = os.environ.get("HUGGINGFACE_HUB_CACHE", str(hf_home() / "hub"))
    return Path(os.path.expandvars(os.environ.get("HF_HUB_CACHE", legacy))).expanduser()


def in_hub_cache(repo_id: str, kind: str = "model", needed: str = "config.json") -> bool:
    """True when a snapshot of `repo_id` with file `needed` is in the hub cache."""
    folder = hub_cache() / f"{kind}s--{repo_id.replace('/', '--')}" / "snapshots"
    try:
        return any((snapshot / needed).exists() for snapshot in folder.iterdir())
    except OSError:
        return False


def is_local_path(name: str) -> bool:
    """A path, not a hub name: transformers tries a local folder first, then the hub."""
    return (name.startswith(("/", "./", "../", "~")) or name in (".", "..")
            or name.count("/") > 1 or Path(name).expanduser().is_dir())


def _check_model(s: Settings, errors: bool) -> list[str]:
    """errors=True: what is certain (a missing local folder; offline without the model
    where the jobs share this environment); errors=False: what is only likely."""
    if s.train.command:
        return []  # users' scripts load {model} their own way
    name = s.model.name_or_path
    key = f"model.name_or_path={name}"
    if name == "tiny":
        m = s.model
        if errors and m.tiny_hidden % max(m.tiny_heads, 1):
            return [f"model.tiny_hidden={m.tiny_hidden} must be a multiple of "
                    f"model.tiny_heads={m.tiny_heads}"]
        return []
    if is_local_path(name):
        return _check_model_folder(key, Path(name).expanduser()) if errors else []
    if not offline() or in_hub_cache(name):
        return []
    shares_environment = s.executor.name in ("local", "debug")
    if errors != shares_environment:
        return []
    where = "" if shares_environment else " (the jobs run elsewhere: if their set-up lines " \
        "give them internet or another cache, ignore this)"
    return [f"{key}: not in the Hugging Face cache ({hub_cache()}) and HF_HUB_OFFLINE=1: the "
            f"jobs cannot download it{where}; download it once where there is internet "
            f"(huggingface-cli download {name}) or set model.name_or_path to a local folder"]


def _check_model_folder(key: str, path: Path) -> list[str]:
    hint = "point it at a folder holding a saved model (config.json and weights)"
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        return [f"{key}: {path} {what}; {hint}"]
    config = path / "config.json"
    if not config.is_file():
        return [f"{key}: {path} has no config.json; {hint}"]
    try:
        parsed = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"{key}: {config} cannot be read as JSON ({exc}); re-save the model"]
    if not isinstance(parsed, dict):
        return [f"{key}: {config} is not a JSON object; re-save the model"]
    return []


def _check_hub_data(s: Settings) -> list[str]:
    d = s.data
    if d.source != "hub" or not d.hub_name or not offline() or s.train.command:
        return []
    prepared = hf_home() / "datasets"
    prepared = Path(os.environ.get("HF_DATASETS_CACHE", str(prepared))).expanduser()
    if (prepared / d.hub_name.replace("/", "___")).exists():
        return []
    if (hub_cache() / f"datasets--{d.hub_name.replace('/', '--')}").exists():
        return []
    return [f"data.hub_name={d.hub_name}: not in the Hugging Face cache and HF_HUB_OFFLINE=1: "
            "the jobs will not load it; load it once where there is internet (it fills the "
            "cache) or use data=files"]


# --------------------------------------------------------------------------- the recipe
def _check_recipe(s: Settings) -> list[str]:
    """Train settings the Trainer (or jobs.train.check_settings) refuses at its start."""
    if s.train.command:
        return []  # users' scripts: train.* reach them only as placeholders
    t, found = s.train, []
    if t.early_stopping_patience > 0 and not t.load_best_model_at_end:
        found.append(f"train.early_stopping_patience={t.early_stopping_patience} needs "
                     "train.load_best_model_at_end=true (the Trainer's early stopping keeps "
                     "the best model); set it, or train.early_stopping_patience=0")
    metric = t.metric_for_best_model.removeprefix("eval_")
    if metric not in (*TRAINER_METRICS, "auto") and s.data.task != Task.REGRESSION:
        # a regression's: task_checks
        close = {"f1_macro": "f1", "precision_macro": "precision", "recall_macro": "recall",
                 "acc": "accuracy"}.get(metric)
        hint = f"; use train.metric_for_best_model={close}" if close else ""
        found.append(f"train.metric_for_best_model={t.metric_for_best_model}: the training "
                     f"job's evaluation reports {', '.join(TRAINER_METRICS)} (macro averages)"
                     f"{hint}")
    if s.model.dropout is not None and not 0 <= s.model.dropout < 1:
        found.append(f"model.dropout={s.model.dropout:g}: must be in [0, 1)")
    return found


def _check_grid(s: Settings) -> list[str]:
    """The trials a grid will run, each with its own train settings, checked as the base
    ones (and save/eval steps alignment, which validate checks on the base only). Random and
    optuna draw: a bad draw ends its trial at its start (an input error, not retried)."""
    space, search = s.search.space, s.search
    names = {f.name for f in dataclasses.fields(TrainSettings)} - {"command"}
    if (not space or search.sampler != SamplerName.GRID or s.train.command or set(space) - names
            or not all(isinstance(v, list) and v for v in space.values())):
        return []  # nothing to check, or validate reports the space itself
    base = set(_check_recipe(s))
    found: dict[str, str] = {}  # problem -> the first trial that has it
    points = sampler.grid(space)[:search.max_trials]
    for number, params in enumerate(points, start=1):
        try:
            train = dataclasses.replace(s.train, **params)
            trial = [*_check_recipe(dataclasses.replace(s, train=train)),
                     *_misaligned(train)]
        except TypeError:  # a choice of the wrong type: validate's business
            continue
        for problem in trial:
            if problem not in base:
                shown = ", ".join(f"{k}={v}" for k, v in params.items())
                found.setdefault(problem, f"search.space: trial {number} ({shown}): {problem}")
    return list(found.values())


def _misaligned(t: TrainSettings) -> list[str]:
    if t.load_best_model_at_end and t.eval_steps >= 1 and t.save_steps % t.eval_steps:
        return [f"train.save_steps={t.save_steps} must be a multiple of train.eval_steps="
                f"{t.eval_steps} when train.load_best_model_at_end=true"]
    return []
