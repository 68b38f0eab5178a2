"""The `disk` phase: peak and final disk of one tiny-model search with search.keep=all and
with the default (keep=1, keep_optimizer=latest), side by side, and the bert-base estimate.

Each run is the real CLI on the local executor (no cluster needed): one trial of 12
checkpoints (paced by STEPS), a target out of reach so that every checkpoint is written and
evaluated. A sampler thread walks the trial folders every SAMPLE_S while it runs (our own
measurement, independent of the controller's journaled figures, recorded beside it). The
bert-base figures are an extrapolation, never a measurement: the measured peak and final of
each run in units of one measured full checkpoint, times a bert-base checkpoint's bytes
(110 M parameters: 4-byte weights, plus 8 bytes of Adam state per parameter).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from orchestrator.engine.deletion import size_of

SAMPLE_S = 0.2
CHECKPOINTS = 12
# training steps between checkpoints: about 12 s of tiny training on 2 shared cores, a little
# more than one evaluation (most of it loading torch), so that evaluation keeps up with
# training as it does for bert-base on a GPU (minutes per 250 steps, seconds per evaluation).
# With 10 steps (0.6 s) every checkpoint waits for its evaluation and the peak ratio is 1.0:
# a checkpoint is never deleted before it is evaluated.
STEPS = 200
BERT_PARAMS = 109_482_240  # bert-base-uncased + a 3-class head
BERT_WEIGHTS = BERT_PARAMS * 4
BERT_FULL = BERT_PARAMS * 12  # weights + Adam's two moments; scheduler and RNG are KB
USERS_SEARCH = (12, 9)  # the issue's users' search: 12 trials, ~9 checkpoints each


def overrides(search_dir: Path, keep: str) -> list[str]:
    return ["executor=local", "data=synthetic", "model=tiny", f"search.dir={search_dir}",
            "search.target=0.999", "search.patience=99", f"search.keep={keep}",
            "data.synthetic_train_size=1200", "data.synthetic_test_size=300",
            f"train.max_steps={CHECKPOINTS * STEPS}", f"train.save_steps={STEPS}",
            f"train.eval_steps={STEPS}",
            "train.early_stopping_patience=0", "train.load_best_model_at_end=false",
            "train.per_device_batch_size=16", "train.grad_accum_steps=1",
            "search.max_concurrent_evals=2", "executor.poll_interval_s=0.5",
            "executor.fs_interval_s=0.2", "--plain"]


def _sample(folder: Path, stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], size_of(folder))
        stop.wait(SAMPLE_S)


def one_run(search_dir: Path, keep: str, root: Path) -> dict[str, Any]:
    """Run the search with search.keep=`keep`; its measured and journaled disk figures."""
    stop, peak = threading.Event(), [0]
    trials = search_dir / "trials"
    sampler = threading.Thread(target=_sample, args=(trials, stop, peak), daemon=True)
    sampler.start()
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "orchestrator", "run",
                           *overrides(search_dir, keep)], cwd=root, capture_output=True,
                          text=True, timeout=1800, check=False)
    stop.set()
    sampler.join()
    summary = json.loads((search_dir / "summary.json").read_text(encoding="utf-8"))
    journal = [json.loads(line) for line in
               (search_dir / "journal.jsonl").read_text(encoding="utf-8").splitlines()]
    sizes = [e["bytes"] for e in journal if e["event"] == "checkpoint_sized"]
    return {"keep": keep, "returncode": proc.returncode, "wall_s": round(time.monotonic() - t0, 1),
            "checkpoints": len(sizes), "checkpoint_bytes": max(sizes, default=0),
            "evaluated": len(summary["evaluations"]),
            "peak_bytes_sampled": peak[0], "final_bytes_walked": size_of(trials),
            "journal": summary["disk"], "best_bytes": size_of(search_dir / "best")}


def measure(workdir: Path, tag: str, root: Path) -> dict[str, Any]:
    runs = {keep: one_run(workdir / f"{tag}-disk-{keep}", keep, root) for keep in ("all", "1")}
    full = runs["all"]["checkpoint_bytes"]
    out: dict[str, Any] = {"runs": runs, "sample_s": SAMPLE_S}
    all_peak, default_peak = runs["all"]["peak_bytes_sampled"], runs["1"]["peak_bytes_sampled"]
    out["peak_ratio"] = round(default_peak / all_peak, 3) if all_peak else None
    out["final_ratio"] = (round(runs["1"]["final_bytes_walked"] / runs["all"]["final_bytes_walked"],
                                3) if runs["all"]["final_bytes_walked"] else None)
    if full:
        out["bert_base"] = {
            keep: {"peak_bytes": round(r["peak_bytes_sampled"] / full * BERT_FULL),
                   "final_bytes": round(r["final_bytes_walked"] / full * BERT_FULL)}
            for keep, r in runs.items()}
    trials, per_trial = USERS_SEARCH
    out["users_search"] = {"all_bytes": trials * per_trial * BERT_FULL,
                           "default_final_bytes": trials * BERT_WEIGHTS}
    return out
