"""Helpers for tests/e2e (bad input, exit codes, outside commands): fast local searches with
users' scripts that misbehave on purpose, and stand-in built-in jobs that leave broken results
(running the CLI, reading the journal and the fake scheduler commands are beside it).

Also a script: `python badkit.py train|infer ...`, a user's training or inference script
that can misbehave in the ways listed in `main`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BYO = ROOT / "tests" / "fixtures" / "byo"
PY = sys.executable
SELF = Path(__file__).resolve()
# only checkpoint 5 reaches the target of 80 (percent, as users' scripts print it)
CURVE = "40,55,62,70,81,76,74,72"


# --------------------------------------------------------------------------- searches
def search(directory: Path, *, train: str = "", infer: str = "", target: float = 80.0,
           eval_retries: int = 1, extra: tuple[str, ...] = ()) -> list[str]:
    """`orchestrator run` arguments of a fast local search with users' own scripts."""
    train = train or f"{PY} {BYO / 'fake_train.py'} {{output_dir}} --checkpoints 6 --every-s 0.3"
    infer = infer or f"{PY} {BYO / 'fake_infer.py'} {{checkpoint}} --curve {CURVE}"
    return ["run", "executor=local", f"search.dir={directory}", f"search.target={target:g}",
            f"train.command='{train}'", f"infer.command='{infer}'",
            "executor.poll_interval_s=0.5", "executor.max_poll_interval_s=1",
            "executor.fs_interval_s=0.1", f"search.eval_retries={eval_retries}",
            "search.train_retries=0",
            "search.drain_timeout_s=20", *extra, "--plain"]


def own_train(*flags: str) -> str:
    return f"{PY} {SELF} train {{output_dir}} --search-dir {{search_dir}} " + " ".join(flags)


def own_infer(*flags: str) -> str:
    return f"{PY} {SELF} infer {{checkpoint}} --curve {CURVE} " + " ".join(flags)


# --------------------------------------------------------------------------- built-in jobs
SHADOW_TRAIN = '''"""Stand-in for jobs.train: checkpoints with the completion marker, no torch."""
import json, os, time
from pathlib import Path
from orchestrator.common import layout
from orchestrator.common.checkpoints import write_marker

def run(spec):
    out = Path(spec.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    last = spec.train.max_steps
    layout.plan_path(out).write_text(json.dumps({"max_steps": last}))
    for step in range(spec.train.save_steps, last + 1, spec.train.save_steps):
        time.sleep(0.3)
        folder = layout.checkpoint_dir(out, step)
        folder.mkdir(exist_ok=True)
        (folder / "model.safetensors").write_bytes(os.urandom(64))
        write_marker(folder, step)
    layout.done_path(out).write_text(json.dumps({"global_step": last}))
    return {"global_step": last}
'''

SHADOW_INFER = '''"""Stand-in for jobs.infer: writes BADKIT_RESULTS[step] as the result."""
import json, os
from pathlib import Path
from orchestrator.common import layout

def run(spec):
    step = layout.step_of(Path(spec.checkpoint))
    curve = [0.40, 0.55, 0.62, 0.70, 0.81, 0.76, 0.74, 0.72]
    raw = json.loads(os.environ.get("BADKIT_RESULTS", "{}")).get(str(step))
    text = raw if raw is not None else json.dumps({"accuracy": curve[step // 100 - 1]})
    Path(spec.result_path).parent.mkdir(parents=True, exist_ok=True)
    Path(spec.result_path).write_text(text)
    return {}
'''


def stand_in_jobs(folder: Path) -> Path:
    """A folder to put first on PYTHONPATH: its `jobs` package replaces the built-in jobs in
    the job processes (the controller never imports them). Run the controller with another
    working directory than the repository, whose own `jobs/` would come first."""
    package = folder / "stand-in" / "jobs"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "train.py").write_text(SHADOW_TRAIN)
    (package / "infer.py").write_text(SHADOW_INFER)
    return package.parent


# --------------------------------------------------------------------------- the script
def _wait_for_event(search_dir: Path, name: str, step: int) -> None:
    """Until the controller has journaled event `name` for `step` (60 s at most)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in (search_dir / "journal.jsonl").read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:  # a line being written
                continue
            if event.get("event") == name and event.get("step") == step:
                return
        time.sleep(0.01)
    # fail loudly: carrying on would bring back the race this wait exists to rule out
    raise SystemExit(f"badkit: no {name!r} event for step {step} in {search_dir} after 60 s")


def _train(args: argparse.Namespace) -> None:
    """Write checkpoint-<step>/ folders; --remove STEP deletes that one as soon as the
    controller has journaled it (it vanishes between its appearance and its evaluation)."""
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for step in range(100, args.checkpoints * 100 + 1, 100):
        time.sleep(args.every_s)
        folder = args.output_dir / f"checkpoint-{step}"
        folder.mkdir(exist_ok=True)
        (folder / "model.safetensors").write_bytes(os.urandom(256))
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        if step == args.remove:
            _wait_for_event(args.search_dir, "checkpoint", step)
            shutil.rmtree(folder)
            print(f"badkit: removed {folder}", flush=True)
            # Later checkpoints wait for the vanished one's final (failed) evaluation, so a
            # target reached by them can never cancel its retry on a slow machine.
            _wait_for_event(args.search_dir, "evaluation", step)


def _infer(args: argparse.Namespace) -> None:
    """Print the legacy lines for a checkpoint, with the faults asked for."""
    time.sleep(args.sleep_s)
    step = int(args.checkpoint.name.split("-")[1])
    if args.read_checkpoint:  # as a real script loads the model: fails if it is gone
        json.loads((args.checkpoint / "trainer_state.json").read_text())
    value = args.curve.split(",")[min(step // 100, len(args.curve.split(","))) - 1]
    if step == args.nan_at:
        value = "nan"
    if step == args.garbage_at:
        value = "8.1.2"
    print("length of dataset is 3432")
    print(f"The generation accuracy is {value} %.")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    train = sub.add_parser("train")
    train.add_argument("output_dir", type=Path)
    train.add_argument("--search-dir", type=Path, required=True)
    train.add_argument("--checkpoints", type=int, default=6)
    train.add_argument("--every-s", type=float, default=0.3)
    train.add_argument("--remove", type=int, default=-1)
    infer = sub.add_parser("infer")
    infer.add_argument("checkpoint", type=Path)
    infer.add_argument("--curve", required=True)
    infer.add_argument("--sleep-s", type=float, default=0.0)
    infer.add_argument("--read-checkpoint", action="store_true")
    infer.add_argument("--nan-at", type=int, default=-1)
    infer.add_argument("--garbage-at", type=int, default=-1)
    args = parser.parse_args()
    (_train if args.what == "train" else _infer)(args)


if __name__ == "__main__":
    main()
