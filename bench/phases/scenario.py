"""The standard scenario, and the tiny-model run, for both the controller and the legacy loop.

Theory of operation. Both sides run the users' own scripts as real SLURM jobs:
- the controller through its bring-your-own-scripts mode (`train.command=` and
  `infer.command=` with `{output_dir}` and `{checkpoint}`), started as
  `python -m orchestrator run executor=slurm ... --plain` with the slurm executor's own poll
  settings (conf/executor/slurm.yaml: sacct every 5 s backing off to 75 s, files every 1 s);
- the legacy loop (bench.phases.legacy_loop) through two tiny sbatch scripts written here, exactly
  as its users call them: `sbatch run_train.sh <model> <output_dir>` and
  `sbatch run_inf.sh <checkpoint>`, the inference output going to one fixed `bert-inf.out`.
Each run has its own scheduler-call counter on PATH and its own job-name prefix, so that
sacct's accounting and the call counts can be read per run afterwards. Timings are unix
times: the controller's from its journal (`t` of each event) and from file mtimes, the
legacy loop's from its result JSON; both are measured from the moment the bench launched
the process.
"""

from __future__ import annotations

import json
import math
import pickle
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cluster.journal import journal_events
from bench.cluster.slurmtools import CallCounter, count_calls, final_rows, job_seconds, queue_wait_s
from bench.phases.legacy_loop import legacy_run
from orchestrator.common import layout

ROOT = Path(__file__).resolve().parents[2]
BYO = ROOT / "tests" / "fixtures" / "byo"
PY = sys.executable
# target (80 %) first met at checkpoint 5, a fall at checkpoint 9 (the same curve as the tests)
CURVE = (40.0, 55.0, 62.0, 70.0, 81.0, 83.0, 84.0, 86.0, 85.0, 87.0, 88.0, 88.0)
DECISION_EVENTS = ("trial_ended", "search_ended")


@dataclass(frozen=True)
class ByoScenario:
    """12 checkpoints at a fixed interval, inference with a fixed cost, the prescribed curve."""

    checkpoints: int = 12
    every_s: float = 20.0
    infer_s: float = 10.0
    save_steps: int = 100
    target: float = 80.0  # percent, as the users' script prints it
    curve: tuple[float, ...] = CURVE

    def curve_arg(self) -> str:
        return ",".join(f"{v:g}" for v in self.curve)

    def train_words(self, output_dir: str) -> list[str]:
        return [PY, str(BYO / "fake_train.py"), output_dir, "--checkpoints",
                str(self.checkpoints), "--every-s", f"{self.every_s:g}", "--save-steps",
                str(self.save_steps)]

    def infer_words(self, checkpoint: str) -> list[str]:
        return [PY, str(BYO / "fake_infer.py"), checkpoint, "--curve", self.curve_arg(),
                "--save-steps", str(self.save_steps), "--sleep-s", f"{self.infer_s:g}"]


def ours_byo_overrides(scn: ByoScenario, search_dir: Path) -> list[str]:
    # Hydra takes the command in single quotes, and the controller splits it like a shell:
    # plain words only (the bench's paths have no spaces or quotes)
    train_words, infer_words = scn.train_words("{output_dir}"), scn.infer_words("{checkpoint}")
    for word in (*train_words, *infer_words):
        if any(c in word for c in " '\"\\"):
            raise ValueError(f"{word!r}: the bench needs paths without spaces or quotes")
    train, infer = " ".join(train_words), " ".join(infer_words)
    # the fake scripts only sleep: every job of the scenario, ours and the legacy loop's,
    # asks for one CPU (the slurm executor's default gives training 2)
    return ["executor=slurm", f"search.dir={search_dir}", f"search.target={scn.target:g}",
            f"train.command='{train}'", f"infer.command='{infer}'",
            "executor.train.cpus_per_task=1"]


def tiny_overrides(search_dir: Path, target: float) -> list[str]:
    return ["executor=slurm", "data=synthetic", "model=tiny", f"search.target={target:g}",
            f"search.dir={search_dir}"]


# ---------------------------------------------------------------------------- sbatch scripts
def _script(path: Path, header: dict[str, str], body: list[str]) -> Path:
    lines = ["#!/bin/bash"] + [f"#SBATCH --{k}={v}" for k, v in header.items()]
    lines += ["# written by bench/phases/scenario.py: the users' wrapper, as legacy-loop.md "
              "calls it"]
    lines += [" ".join(body)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o755)
    return path


@dataclass(frozen=True)
class LegacySetup:
    train_script: Path
    infer_script: Path
    output_dir: Path
    out_file: Path


def write_byo_legacy(scn: ByoScenario, folder: Path, prefix: str) -> LegacySetup:
    """run_train.sh <model> <output_dir> and run_inf.sh <checkpoint> for the fake scripts."""
    folder.mkdir(parents=True, exist_ok=True)
    out_file = folder / "bert-inf.out"
    train_words = [shlex.quote(w) for w in scn.train_words("OUT")]
    train_words[2] = '"$2"'
    infer_words = [shlex.quote(w) for w in scn.infer_words("CKPT")]
    infer_words[2] = '"$1"'
    common = {"chdir": str(folder), "cpus-per-task": "1", "time": "60"}
    train = _script(folder / "run_train.sh",
                    {"job-name": f"{prefix}train", "output": str(folder / "train-%j.out"),
                     **common}, ["exec", *train_words])
    infer = _script(folder / "run_inf.sh",
                    {"job-name": f"{prefix}inf", "output": str(out_file), **common},
                    ["exec", *infer_words])
    return LegacySetup(train, infer, folder / "output_model", out_file)


def write_tiny_legacy(folder: Path, prefix: str, overrides: list[str]) -> LegacySetup:
    """The built-in jobs in the users' wrappers: training from the controller's own request
    builder (same TrainSpec, pickled), inference through `python -m jobs.infer --per-example`
    (the users' one-at-a-time evaluation)."""
    from orchestrator.config import compose as config
    from orchestrator.engine import job_requests

    folder.mkdir(parents=True, exist_ok=True)
    settings = config.to_settings(config.compose(overrides))
    request = job_requests.train_request(settings, folder, 1, settings.train.seed, 0)
    spec_path = folder / "train_spec.pkl"
    spec_path.write_bytes(pickle.dumps(request.spec))
    assets = Path(request.spec.data.cache_dir)
    out_file = folder / "bert-inf.out"
    train = _script(
        folder / "run_train.sh",
        {"job-name": f"{prefix}train", "output": str(folder / "train-%j.out"),
         "chdir": str(ROOT), "cpus-per-task": str(settings.executor.train.cpus_per_task),
         "time": "60"},
        ["exec", shlex.quote(PY), "-m", "bench.phases.legacy_jobs", "--spec",
         shlex.quote(str(spec_path)), "--output-dir", '"$2"'])
    infer = _script(
        folder / "run_inf.sh",
        {"job-name": f"{prefix}inf", "output": str(out_file), "chdir": str(ROOT),
         "cpus-per-task": str(settings.executor.infer.cpus_per_task), "time": "60"},
        ["exec", shlex.quote(PY), "-m", "jobs.infer", "--checkpoint", '"$1"', "--result",
         shlex.quote(str(folder / "inf-result.json")), "--cache-dir", shlex.quote(str(assets)),
         "--max-length", str(settings.data.max_length), "--per-example"])
    return LegacySetup(train, infer, folder / "output_model", out_file)


# ---------------------------------------------------------------------------- processes
@dataclass
class Launched:
    name: str
    process: subprocess.Popen[bytes]
    t_launch: float
    log: Path
    counter: CallCounter
    t_exit: float | None = None
    returncode: int | None = None


def child_env(counter: CallCounter) -> dict[str, str]:
    env = counter.env()
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TQDM_DISABLE", "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def launch(name: str, argv: list[str], log: Path, counter: CallCounter) -> Launched:
    handle = open(log, "ab")  # the child writes to it
    t0 = time.time()
    process = subprocess.Popen(argv, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, env=child_env(counter))
    handle.close()
    return Launched(name, process, t0, log, counter)


def launch_ours(name: str, overrides: list[str], log: Path, counter: CallCounter) -> Launched:
    return launch(name, [PY, "-m", "orchestrator", "run", *overrides, "--plain"], log, counter)


def launch_legacy(name: str, setup: LegacySetup, target: float, poll_s: float,
                  settle_s: float, result: Path, log: Path, counter: CallCounter,
                  model: str = "google-bert/bert-base-uncased") -> Launched:
    argv = [PY, "-m", "bench.phases.legacy_loop", "--train-script", str(setup.train_script),
            "--infer-script", str(setup.infer_script), "--model", model,
            "--output-dir", str(setup.output_dir), "--out-file", str(setup.out_file),
            "--target", f"{target:g}", "--poll-s", f"{poll_s:g}", "--settle-s",
            f"{settle_s:g}", "--result", str(result)]
    return launch(name, argv, log, counter)


def wait_all(runs: list[Launched], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    pending = list(runs)
    while pending:
        for run in list(pending):
            code = run.process.poll()
            if code is not None:
                run.t_exit, run.returncode = time.time(), code
                pending.remove(run)
        if pending and time.monotonic() > deadline:
            for run in pending:
                run.process.kill()
                run.process.wait()
                run.t_exit, run.returncode = time.time(), -9
            names = ", ".join(r.name for r in pending)
            raise TimeoutError(f"{names} did not finish in {timeout_s:.0f} s")
        time.sleep(0.2)


# ---------------------------------------------------------------------------- analysis
def first_decision(events: list[dict[str, Any]], after: float = 0.0) -> dict[str, Any] | None:
    return next((e for e in events if e["event"] in DECISION_EVENTS and e["t"] >= after), None)


@dataclass
class Breakdown:
    """Where the time between a checkpoint being written and the decision went."""

    step: int
    t_written: float  # mtime of the checkpoint's last file
    t_checkpoint_seen: float  # journal `checkpoint`
    t_submitted: float  # journal `submitted` of its inference job
    t_result_written: float  # mtime of the result file the job left
    t_evaluation: float  # journal `evaluation`
    t_decision: float  # journal `trial_ended`

    def parts(self) -> dict[str, float]:
        return {
            "checkpoint_detect_s": self.t_checkpoint_seen - self.t_written,
            "submit_s": self.t_submitted - self.t_checkpoint_seen,
            "job_until_result_s": self.t_result_written - self.t_submitted,
            "result_detect_s": self.t_evaluation - self.t_result_written,
            "decide_s": self.t_decision - self.t_evaluation,
        }


def breakdown(search_dir: Path, events: list[dict[str, Any]]) -> Breakdown | None:
    decision = next((e for e in events if e["event"] == "trial_ended"
                     and e.get("step") is not None), None)
    if decision is None:
        return None
    step = int(decision["step"])
    trial = int(decision["trial"])
    ckpt = next(e for e in events if e["event"] == "checkpoint" and e["step"] == step)
    folder = Path(ckpt["path"])
    marker = folder / layout.COMPLETE_MARKER
    written = (marker if marker.exists() else folder / "trainer_state.json").stat().st_mtime
    key_part = layout.infer_key_stem(trial, step)
    submitted = [e for e in events if e["event"] == "submitted" and key_part in e["key"]]
    evaluation = next(e for e in events if e["event"] == "evaluation" and e["step"] == step
                      and e["trial"] == trial)
    result = next((p for p in (layout.output_path(search_dir, trial, step),
                               layout.result_path(search_dir, trial, step)) if p.exists()), None)
    t_result = result.stat().st_mtime if result else float("nan")
    return Breakdown(step, written, ckpt["t"], submitted[-1]["t"] if submitted else float("nan"),
                     t_result, evaluation["t"], decision["t"])


@dataclass
class RunResult:
    name: str
    poll_s: float | None
    t_launch: float
    t_decision: float | None
    time_to_decision_s: float | None
    t_exit: float | None
    returncode: int | None
    outcome: str
    decided_step: int | None
    evaluated: int
    job_seconds: float
    cpu_job_seconds: float
    jobs: list[dict[str, Any]]
    calls: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)


def _jobs_table(prefix: str, since: float) -> tuple[list[dict[str, Any]], float, float]:
    rows = final_rows(prefix, since)
    table = [{"job_id": r.job_id, "name": r.name, "state": r.state, "elapsed_s": r.elapsed_s,
              "alloc_cpus": r.alloc_cpus, "queue_wait_s": queue_wait_s(r)} for r in rows]
    return table, job_seconds(rows), float(sum(r.elapsed_s * r.alloc_cpus for r in rows))


def ours_result(run: Launched, search_dir: Path, prefix: str,
                infer_cost_s: float | None) -> RunResult:
    events = journal_events(search_dir)
    decision = first_decision(events)
    ended = next((e for e in events if e["event"] == "search_ended"), None)
    trial_end = next((e for e in events if e["event"] == "trial_ended"), None)
    jobs, seconds, cpu_seconds = _jobs_table(prefix, run.t_launch)
    extra: dict[str, Any] = {"search_dir": str(search_dir)}
    parts = breakdown(search_dir, events)
    if parts is not None:
        extra["breakdown"] = parts.parts()
        if infer_cost_s is not None:
            extra["decision_latency_s"] = parts.t_decision - parts.t_written - infer_cost_s
    evaluated = sum(1 for e in events if e["event"] == "evaluation")
    return RunResult(
        name=run.name, poll_s=None, t_launch=run.t_launch,
        t_decision=decision["t"] if decision else None,
        time_to_decision_s=decision["t"] - run.t_launch if decision else None,
        t_exit=run.t_exit, returncode=run.returncode,
        outcome=str(ended["status"]) if ended else "no decision",
        decided_step=trial_end.get("step") if trial_end else None,
        evaluated=evaluated, job_seconds=seconds, cpu_job_seconds=cpu_seconds, jobs=jobs,
        calls=count_calls(run.counter.calls()), extra=extra,
    )


def legacy_result(run: Launched, result_path: Path, prefix: str, poll_s: float) -> RunResult:
    data: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
    jobs, seconds, cpu_seconds = _jobs_table(prefix, run.t_launch)
    decision = data.get("decision") or {}
    t_decision = data.get("t_decision")
    evaluations = data.get("evaluations", [])
    step = None
    if decision:
        best = Path(evaluations[decision["best_index"]]["checkpoint"]).name
        step = int(best.split("-")[1])
    outcome = ("target_reached" if decision.get("success") else "not_reached") if decision \
        else f"error: {data.get('error')}"
    return RunResult(
        name=run.name, poll_s=poll_s, t_launch=run.t_launch, t_decision=t_decision,
        time_to_decision_s=t_decision - run.t_launch if t_decision else None,
        t_exit=run.t_exit, returncode=run.returncode, outcome=outcome, decided_step=step,
        evaluated=len(evaluations), job_seconds=seconds, cpu_job_seconds=cpu_seconds,
        jobs=jobs, calls=count_calls(run.counter.calls()),
        extra={"how": decision.get("how"), "training_left_queue_s":
               data["t_train_done"] - run.t_launch if data.get("t_train_done") else None,
               "accuracies": [e["accuracy"] for e in evaluations]},
    )


def predicted_legacy_s(scn: ByoScenario, poll_s: float, settle_s: float) -> float:
    """A closed-form estimate of the legacy loop's time to decision (for the report).

    Training ends after checkpoints * every_s; the loop notices at its next poll (on average
    half a poll late), sleeps settle_s, then pays per evaluated checkpoint the inference cost
    rounded up to whole polls plus settle_s.
    """
    k = legacy_run(scn.curve, scn.target).evaluated
    train = scn.checkpoints * scn.every_s
    per_eval = max(1, math.ceil(scn.infer_s / poll_s)) * poll_s + settle_s
    return train + poll_s / 2 + settle_s + k * per_eval


def predicted_ours_s(scn: ByoScenario, overhead_s: float = 3.0) -> float:
    k = legacy_run(scn.curve, scn.target).evaluated
    return k * scn.every_s + scn.infer_s + overhead_s
