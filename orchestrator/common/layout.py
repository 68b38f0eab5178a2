"""Where a search keeps its files, the names its jobs go by, and the seed rule.

Theory of operation: the controller and the jobs run in different processes, often on
different nodes, and meet only through files under `search.dir` and through the names the
scheduler shows. Every such path, file name and job name is derived here, from the search
folder and a few numbers, the way submitit's `JobPaths` derives a job's files from its folder
and id, so that the writer and the reader of a file cannot disagree on where it is:

    <search.dir>/
      journal.jsonl                the journal: every fact of the search, in order
      .controller.lock, controller.json   the search's lock, and who holds it
      summary.json                 the outcome, written once the search has ended
      report.md, metric.png, report.html  the reports, rewritten as the search goes
      cancel.request               `orchestrator cancel`'s request to the controller
      controller.log, controller-job.json a detached controller's log, its SLURM job
      trials/NNN/                  a trial's training output (`output_dir`)
        plan.json                  written by the training job when training starts
        progress.json              rewritten by the training job at each logging step
        log_history.json           the Trainer's log (losses, validation metrics), rewritten
                                   at each logging step: outside any checkpoint, so
                                   retention never deletes it (report.html's curves)
        tb/                        the trial's TensorBoard run (training, validation, test scalars)
        checkpoint-<step>/         ...with `checkpoint_complete.json` written last
        train_done.json            written by the training job when it ends
        train-aN.out               stdout of a user's training script, attempt N
        evals/step-XXXXXXXX.json   the built-in inference job's result
        evals/step-XXXXXXXX.examples.json  ...and its per-example scores (common.example_scores)
        evals/step-XXXXXXXX.out    a user's inference script's stdout (the metric's source)
      jobs/<key>/                  submitit's folder of one job; `<id>_failure.json` in it
      evaluators/<queue>/          infer.placement=worker|with_training: evaluation tasks
                                   (orchestrator.placement.work_queue has the protocol)
      best/                        a copy of the best checkpoint, with best.json
      assets/                      generated data and locally built models (default cache)

Pure and standard library only: the jobs import it as well as the controller.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

PLAN_FILE = "plan.json"
WORKERS = "workers"  # the evaluation queue of the worker jobs (infer.placement=worker)
DONE_FILE = "train_done.json"
PROGRESS_FILE = "progress.json"
LOG_HISTORY_FILE = "log_history.json"
TENSORBOARD_DIR = "tb"
COMPLETE_MARKER = "checkpoint_complete.json"
BEST_INFO = "best.json"
ASSETS_DIR = "assets"
# the search folder's own files
JOURNAL_FILE = "journal.jsonl"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.md"
PLOT_FILE = "metric.png"
HTML_FILE = "report.html"
LOCK_FILE = ".controller.lock"
HOLDER_FILE = "controller.json"
CANCEL_FILE = "cancel.request"
CONTROLLER_LOG_FILE = "controller.log"
CONTROLLER_JOB_FILE = "controller-job.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def trial_seed(base_seed: int, trial: int, params: Mapping[str, Any] | None = None) -> int:
    """THE seed rule: a `seed` sampled from `search.space` if there is one, else
    `train.seed + trial - 1`. Training and the `{seed}` of every job command use this."""
    sampled = (params or {}).get("seed")
    return int(sampled) if sampled is not None else base_seed + trial - 1


# ----------------------------------------------------------------- a trial's folder
def trials_dir(search_dir: Path) -> Path:
    """The folder of every trial's folder."""
    return search_dir / "trials"


def trial_dir(search_dir: Path, trial: int) -> Path:
    """The trial's training output folder; the jobs get it as `output_dir`."""
    return trials_dir(search_dir) / f"{trial:03d}"


def trial_of_dir(name: str) -> int | None:
    """The trial whose folder is named `name` (the inverse of `trial_dir`), else None."""
    ascii_digits = name.isascii() and name.isdigit()  # isdigit() takes "²" (int() not)
    return int(name) if ascii_digits and f"{int(name):03d}" == name else None


def search_dir_of(output_dir: Path) -> Path:
    """The search folder of a trial's output folder (the inverse of `trial_dir`)."""
    return output_dir.parent.parent


def plan_path(output_dir: str | Path) -> Path:
    return Path(output_dir) / PLAN_FILE


def done_path(output_dir: str | Path) -> Path:
    return Path(output_dir) / DONE_FILE


def progress_path(output_dir: str | Path) -> Path:
    """The training progress file: {step, max_steps, epoch, steps_per_s, examples_per_s, loss,
    learning_rate, t} as JSON, rewritten atomically by the training job at each logging step."""
    return Path(output_dir) / PROGRESS_FILE


def log_history_path(output_dir: str | Path) -> Path:
    """The Trainer's `state.log_history` (a JSON list of its log dicts, each with `step`),
    rewritten atomically by the training job at each log: the curves outlive checkpoints."""
    return Path(output_dir) / LOG_HISTORY_FILE


def tensorboard_dir(output_dir: str | Path) -> Path:
    """The trial's TensorBoard run: the Trainer's `logging_dir` and where test scalars go."""
    return Path(output_dir) / TENSORBOARD_DIR


def checkpoint_dir(output_dir: str | Path, step: int) -> Path:
    return Path(output_dir) / f"checkpoint-{step}"


def step_of(path: Path) -> int | None:
    """The step in a `checkpoint-<step>` folder name, or None for any other name."""
    return step_in(path.name)


def step_in(name: str) -> int | None:
    """`step_of` for a bare name (a poll loop lists thousands: no Path for each)."""
    match = _CHECKPOINT.match(name)
    return int(match.group(1)) if match else None


def train_output_path(search_dir: Path, trial: int, attempt: int) -> Path:
    """Where a user's own training script's stdout is kept."""
    return trial_dir(search_dir, trial) / f"train-a{attempt}.out"


def result_path(search_dir: Path, trial: int, step: int, rewrite: int = 0) -> Path:
    """Where the built-in inference job writes its JSON result. `rewrite`: how many times a
    later training run wrote the checkpoint again (each is a new checkpoint, its own result)."""
    return evals_dir(search_dir, trial) / result_name(step, rewrite)


def examples_path(result: str | Path) -> Path:
    """Beside a result `step-N.json`, its per-example scores `step-N.examples.json`."""
    result = Path(result)
    return result.with_name(result.name.removesuffix(".json") + ".examples.json")


def output_path(search_dir: Path, trial: int, step: int, rewrite: int = 0) -> Path:
    """Where a user's own inference script's stdout is kept (the metric is read from it)."""
    return evals_dir(search_dir, trial) / result_name(step, rewrite, OUTPUT_SUFFIX)


def evals_dir(search_dir: Path, trial: int) -> Path:
    """The folder of a trial's results and its own inference script's outputs."""
    return trial_dir(search_dir, trial) / "evals"


RESULT_SUFFIX, OUTPUT_SUFFIX = ".json", ".out"


def result_name(step: int, rewrite: int = 0, suffix: str = RESULT_SUFFIX) -> str:
    """The name in `evals_dir` of a checkpoint's result (or, suffix .out, output)."""
    return f"step-{step:08d}{_again(rewrite)}{suffix}"


def _again(rewrite: int) -> str:
    return f"-r{rewrite}" if rewrite else ""


# ----------------------------------------------------------------- the search's own files
def journal_path(search_dir: Path) -> Path:
    """The journal (orchestrator.journal.jsonl): a search folder is a folder that has one."""
    return search_dir / JOURNAL_FILE


def state_snapshot_path(search_dir: Path) -> Path:
    """The journal's fold, cached for long journals (journal.state_snapshot)."""
    return search_dir / "state.snapshot"


def summary_path(search_dir: Path) -> Path:
    """The outcome; written only once the search has ended (scripts take it to mean that)."""
    return search_dir / SUMMARY_FILE


def report_path(search_dir: Path) -> Path:
    return search_dir / REPORT_FILE


def plot_path(search_dir: Path) -> Path:
    return search_dir / PLOT_FILE


def html_path(search_dir: Path) -> Path:
    return search_dir / HTML_FILE


def lock_path(search_dir: Path) -> Path:
    """The lock file that keeps one controller per search (orchestrator.journal.lock)."""
    return search_dir / LOCK_FILE


def holder_path(search_dir: Path) -> Path:
    """Who holds the lock, or held it last: {host, pid, since, argv, slurm_job_id}."""
    return search_dir / HOLDER_FILE


# ----------------------------------------------------------------- the search's folders
def best_dir(search_dir: Path) -> Path:
    return search_dir / "best"


def assets_dir(search_dir: Path) -> Path:
    """The default `data.cache_dir`: generated data and locally built models."""
    return search_dir / ASSETS_DIR


def jobs_dir(search_dir: Path) -> Path:
    return search_dir / "jobs"


def evaluators_dir(search_dir: Path) -> Path:
    """The work queues of long-lived evaluators (orchestrator.placement.work_queue)."""
    return search_dir / "evaluators"


def queue_dir(search_dir: Path, queue: str) -> Path:
    """One work queue's folder: a task's folder, as a job's is its own."""
    return evaluators_dir(search_dir) / queue


# ----------------------------------------------------------------- jobs
def train_key(trial: int, attempt: int) -> str:
    return f"train-t{trial:03d}-a{attempt}"


def infer_key(trial: int, step: int, attempt: int) -> str:
    return f"{infer_key_stem(trial, step)}-a{attempt}"


def worker_key(slot: int, attempt: int) -> str:
    """A long-lived evaluator job (infer.placement=worker): its slot (1..infer.workers)."""
    return f"worker-w{slot:02d}-a{attempt}"


def infer_key_stem(trial: int, step: int) -> str:
    """What the keys of every attempt at evaluating `step` of `trial` start with."""
    return f"infer-t{trial:03d}-s{step:08d}"


def job_folder(search_dir: Path, key: str) -> Path:
    """submitit's folder of the job with `key`: its script, pickles and logs."""
    return jobs_dir(search_dir) / key


def job_name(search_dir: Path, key: str) -> str:
    """What squeue shows: the search folder's name (made inert), a digest of its full path
    and the job's key. Unique to this search and this job, so the scheduler can be asked
    for it by name: to find a submission a killed controller never journaled, and to tell
    our job from another that SLURM has given a reused id."""
    digest = hashlib.sha1(str(search_dir.absolute()).encode()).hexdigest()[:6]
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', search_dir.name)[:40]}-{digest}-{key}"


def failure_path(folder: str | Path, job_id: str) -> Path:
    """Where the job with `job_id` writes why it failed; beside submitit's own files."""
    return Path(folder) / f"{job_id}_failure.json"


# ----------------------------------------------------------------- from outside the controller
def cancel_request_path(search_dir: Path) -> Path:
    """`orchestrator cancel` writes it ({request, by, t}); the controller checks it each tick."""
    return search_dir / CANCEL_FILE


def controller_log_path(search_dir: Path) -> Path:
    """A detached controller's stdout and stderr (`orchestrator run --detach`)."""
    return search_dir / CONTROLLER_LOG_FILE


def controller_job_path(search_dir: Path) -> Path:
    """A detached SLURM controller's job: {job_id, folder, name} (`run --detach`)."""
    return search_dir / CONTROLLER_JOB_FILE


def trial_queue(trial: int) -> str:
    """The evaluation queue of the evaluator beside trial `trial`'s training (with_training)."""
    return f"trial-{trial:03d}"
