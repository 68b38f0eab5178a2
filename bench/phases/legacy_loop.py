"""A faithful baseline of the hand-written loop (shared/docs/legacy-loop.md), defects included.

Theory of operation, step by step as the document describes it:
1. `sbatch run_train.sh <model> <output_dir>`; the id comes from `Submitted batch job (\\d+)`.
2. Wait: `squeue -j <id>` every `poll_s` (30 s by default) until the id no longer appears,
   then the fixed `settle_s` (5 s) sleep. "Left the queue" is taken as "done": the job's
   final state is never asked for.
3. Only then list `<output_dir>/checkpoint-*`, sorted by the number after `checkpoint-`
   (no completeness check: a half-written checkpoint would be picked up too).
4. One checkpoint at a time, in step order: `sbatch run_inf.sh <checkpoint>`, the same wait,
   then read the FIXED output file (`bert-inf.out`, overwritten by every inference job) and
   take `The generation accuracy is ([\\d.]+) %`.
5. The stop rule (`legacy_verdict`, pure): a fall below the previous checkpoint stops with
   the best so far (success only if it beats the target); a value ABOVE the target stops
   with success; after the last checkpoint, success only if the best beats the target.
Where the real loop copies the best checkpoint with `cp -r` through a shell, this one uses
shutil (no shell anywhere in the bench); that happens after the decision and is not timed.
Every scheduler call is an argument list passed to subprocess, never a shell string.

Run as `python -m bench.phases.legacy_loop --train-script ... --result result.json`; the timings
(unix times) go into the result JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.cluster.slurmtools import submitted_id

ACCURACY = re.compile(r"The generation accuracy is ([\d.]+) %")
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")

FELL = "fell"
ABOVE_TARGET = "above_target"
ALL_EVALUATED = "all_evaluated"


@dataclass(frozen=True)
class LegacyDecision:
    how: str  # fell | above_target | all_evaluated
    evaluated: int  # checkpoints evaluated when it stopped
    best_index: int  # index (in step order) of the checkpoint it keeps
    best: float
    success: bool


def _first_best(values: Sequence[float]) -> int:
    best = 0
    for i, value in enumerate(values):
        if value > values[best]:
            best = i
    return best


def legacy_verdict(accuracies: Sequence[float], target: float,
                   total: int) -> LegacyDecision | None:
    """The §5 rule after evaluating `accuracies[-1]`; None means evaluate the next one."""
    k = len(accuracies)
    if k == 0:
        return None
    last = accuracies[-1]
    if k >= 2 and last < accuracies[-2]:
        best = _first_best(accuracies[:-1])
        return LegacyDecision(FELL, k, best, accuracies[best], accuracies[best] > target)
    if last > target:
        return LegacyDecision(ABOVE_TARGET, k, k - 1, last, True)
    if k >= total:
        best = _first_best(accuracies)
        return LegacyDecision(ALL_EVALUATED, k, best, accuracies[best],
                              accuracies[best] > target)
    return None


def legacy_run(curve: Sequence[float], target: float) -> LegacyDecision:
    """The decision the loop reaches on a whole curve (for tests and predictions)."""
    for k in range(1, len(curve) + 1):
        decision = legacy_verdict(curve[:k], target, len(curve))
        if decision is not None:
            return decision
    raise ValueError("an empty curve has no decision")


def parse_accuracy(text: str) -> float | None:
    match = ACCURACY.search(text)
    return float(match.group(1)) if match else None


def sorted_checkpoints(output_dir: Path) -> list[Path]:
    found = [p for p in output_dir.glob("checkpoint-*") if _CHECKPOINT.match(p.name)]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


# ---------------------------------------------------------------------------- the loop
@dataclass
class Evaluation:
    checkpoint: str
    job_id: str
    t_submitted: float
    t_done: float  # after the wait (queue left + settle sleep)
    accuracy: float | None


@dataclass
class LegacyRecord:
    t_start: float
    poll_s: float
    settle_s: float
    train_job: str = ""
    t_train_submitted: float = 0.0
    t_train_done: float = 0.0
    checkpoints: list[str] = field(default_factory=list)
    evaluations: list[Evaluation] = field(default_factory=list)
    decision: LegacyDecision | None = None
    t_decision: float | None = None
    error: str = ""
    squeue_calls: int = 0
    sbatch_calls: int = 0
    job_ids: list[str] = field(default_factory=list)


Runner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


class LegacyLoop:
    def __init__(self, train_script: Path, infer_script: Path, model: str, output_dir: Path,
                 out_file: Path, target: float, poll_s: float = 30.0, settle_s: float = 5.0,
                 run: Runner = _run, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        self.train_script, self.infer_script = train_script, infer_script
        self.model, self.output_dir, self.out_file = model, output_dir, out_file
        self.target, self.poll_s, self.settle_s = target, poll_s, settle_s
        self.run_, self.sleep, self.clock = run, sleep, clock
        self.record = LegacyRecord(t_start=clock(), poll_s=poll_s, settle_s=settle_s)

    def sbatch(self, script: Path, *args: str) -> str:
        self.record.sbatch_calls += 1
        proc = self.run_(["sbatch", str(script), *args])
        job_id = submitted_id(proc.stdout)
        self.record.job_ids.append(job_id)
        return job_id

    def in_queue(self, job_id: str) -> bool:
        self.record.squeue_calls += 1
        proc = self.run_(["squeue", "-j", job_id])
        return job_id in proc.stdout.split()

    def wait(self, job_id: str) -> None:
        while self.in_queue(job_id):
            self.sleep(self.poll_s)
        self.sleep(self.settle_s)

    def wait_all(self, job_ids: Sequence[str], rounds: int) -> None:
        """`rounds` polling rounds over several waiting jobs: one squeue per job per poll."""
        for _ in range(rounds):
            for job_id in job_ids:
                self.in_queue(job_id)
            self.sleep(self.poll_s)

    def run(self) -> LegacyRecord:
        rec = self.record
        rec.t_train_submitted = self.clock()
        rec.train_job = self.sbatch(self.train_script, self.model, str(self.output_dir))
        self.wait(rec.train_job)
        rec.t_train_done = self.clock()
        checkpoints = sorted_checkpoints(self.output_dir)
        rec.checkpoints = [str(p) for p in checkpoints]
        accuracies: list[float] = []
        for checkpoint in checkpoints:
            t_submitted = self.clock()
            job_id = self.sbatch(self.infer_script, str(checkpoint))
            self.wait(job_id)
            try:
                text = self.out_file.read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = ""
            accuracy = parse_accuracy(text)
            rec.evaluations.append(Evaluation(str(checkpoint), job_id, t_submitted,
                                              self.clock(), accuracy))
            if accuracy is None:  # the real loop crashes here (None.group)
                rec.error = f"no accuracy line in {self.out_file} for {checkpoint}"
                rec.t_decision = self.clock()
                return rec
            accuracies.append(accuracy)
            decision = legacy_verdict(accuracies, self.target, len(checkpoints))
            if decision is not None:
                rec.decision, rec.t_decision = decision, self.clock()
                self._keep_best(checkpoints[decision.best_index], decision.best)
                return rec
        rec.error = "no checkpoints found" if not checkpoints else rec.error
        rec.t_decision = self.clock()
        return rec

    def _keep_best(self, checkpoint: Path, accuracy: float) -> None:
        best = self.output_dir.parent / f"best_model_acc_{accuracy}"
        shutil.copytree(checkpoint, best, dirs_exist_ok=True)


def record_json(record: LegacyRecord) -> dict[str, Any]:
    return asdict(record)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.phases.legacy_loop",
                                     description="The legacy train-then-evaluate loop.")
    parser.add_argument("--train-script", type=Path, required=True)
    parser.add_argument("--infer-script", type=Path, required=True)
    parser.add_argument("--model", default="google-bert/bert-base-uncased")
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--out-file", type=Path, required=True,
                        help="the fixed inference output file (bert-inf.out)")
    parser.add_argument("--target", type=float, required=True, help="percent, e.g. 79.43")
    parser.add_argument("--poll-s", type=float, default=30.0)
    parser.add_argument("--settle-s", type=float, default=5.0)
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args(argv)
    loop = LegacyLoop(args.train_script, args.infer_script, args.model, args.output_dir,
                      args.out_file, args.target, args.poll_s, args.settle_s)
    record = loop.run()
    tmp = args.result.with_suffix(".tmp")
    tmp.write_text(json.dumps(record_json(record), indent=2), encoding="utf-8")
    tmp.replace(args.result)
    print(json.dumps({"decision": record_json(record)["decision"], "error": record.error}),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
