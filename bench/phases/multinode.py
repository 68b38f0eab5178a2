"""The `multinode` phase (issue #24): one fixed tiny-BERT training on 1 node, then the same on
2 nodes (DDP over gloo), each a one-trial search through the real controller on the local
cluster's partition `nodes`.

Both trainings see the same examples: the same global batch (per-device batch = GLOBAL_BATCH /
nodes), the same STEPS, synthetic data, one checkpoint and one validation at the last step
only (so that neither is in the figure more than once). examples/s is the Trainer's own
`train_samples_per_second` over every rank (jobs/device_facts.py, in train_done.json); the
training job's wall time is sacct's Elapsed. A plumbing figure, not a scaling one: n1..n3 are
namespaces of one 2-core machine, so 2 nodes share the cores 1 node had (see the page).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.cluster.journal import journal_events
from bench.cluster.slurmtools import parse_elapsed, squeue_rows
from bench.phases.scenario import launch_ours, wait_all

STEPS = 200
GLOBAL_BATCH = 32
NODES = (1, 2)
CPUS_PER_TASK = 2
PARTITION = "nodes"
TARGET = 0.999  # out of reach in STEPS steps: the trial trains to its last step
QUIET_WAIT_S = 240.0  # the longest wait for a moment when no one else's job runs


def overrides(search_dir: Path, nodes: int) -> list[str]:
    """The one-trial search for `nodes` nodes: the same global batch and steps for every N."""
    if GLOBAL_BATCH % nodes:
        raise ValueError(f"the global batch {GLOBAL_BATCH} does not split over {nodes} nodes")
    return ["executor=slurm", "data=synthetic", "model=tiny",
            f"train.max_steps={STEPS}", f"train.per_device_batch_size={GLOBAL_BATCH // nodes}",
            "train.grad_accum_steps=1", f"train.save_steps={STEPS}", f"train.eval_steps={STEPS}",
            f"executor.train.nodes={nodes}", f"executor.train.partition={PARTITION}",
            f"executor.train.cpus_per_task={CPUS_PER_TASK}", f"search.target={TARGET}",
            "search.max_trials=1", "executor.poll_interval_s=1",
            "executor.max_poll_interval_s=2", f"search.dir={search_dir}"]


def training_job(events: list[dict[str, Any]]) -> str | None:
    """The id of the search's (last) training job, from its journal."""
    ids = [str(e["job_id"]) for e in events
           if e.get("event") == "submitted" and str(e.get("key", "")).startswith("train")]
    return ids[-1] if ids else None


def sacct_row(text: str) -> dict[str, Any]:
    """`sacct -n -X -P -o Elapsed,NodeList,State` output: the job's first row."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return {"elapsed_s": None, "node_list": None, "state": None}
    elapsed, nodes, state = lines[0].split("|")[:3]
    return {"elapsed_s": parse_elapsed(elapsed), "node_list": nodes, "state": state}


def running_others(rows: list[tuple[str, str, str, str]], tag: str) -> list[str]:
    """Other people's running jobs (squeue rows): every node here shares the same 2 cores."""
    return [f"{job_id}|{name}" for job_id, name, state, _ in rows
            if state == "RUNNING" and not name.startswith(tag)]


def _wait_for_quiet(tag: str) -> float:
    """Wait (at most QUIET_WAIT_S) until no one else's job runs; the seconds waited."""
    t0 = time.monotonic()
    while running_others(squeue_rows(), tag) and time.monotonic() - t0 < QUIET_WAIT_S:
        time.sleep(3.0)
    return round(time.monotonic() - t0, 1)


def run_result(nodes: int, done: Mapping[str, Any], sacct: Mapping[str, Any],
               job_id: str | None, returncode: int | None) -> dict[str, Any]:
    """One training's figures: examples/s (all ranks), train seconds, the job's wall time."""
    return {"nodes": nodes, "per_device_batch": GLOBAL_BATCH // nodes,
            "global_step": done.get("global_step"), "examples_per_s": done.get("examples_per_s"),
            "train_seconds": done.get("train_seconds"), "job_id": job_id,
            "job_elapsed_s": sacct.get("elapsed_s"), "node_list": sacct.get("node_list"),
            "job_state": sacct.get("state"), "controller_returncode": returncode}


def summarise(runs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The phase's record: the runs and 2-node / 1-node ratios (None where one is missing)."""
    one, two = runs.get("1", {}), runs.get("2", {})

    def ratio(key: str) -> float | None:
        a, b = two.get(key), one.get(key)
        return round(a / b, 3) if isinstance(a, int | float) and isinstance(b, int | float) \
            and b else None

    return {"steps": STEPS, "global_batch": GLOBAL_BATCH, "cpus_per_task": CPUS_PER_TASK,
            "partition": PARTITION, "backend": "gloo", "runs": dict(runs),
            "examples_per_s_ratio": ratio("examples_per_s"),
            "job_elapsed_ratio": ratio("job_elapsed_s")}


def headline(raw: Mapping[str, Any]) -> dict[str, Any]:
    """multinode_examples_per_s_ratio: 2 nodes / 1 node (a reference figure, no target)."""
    return {"multinode_examples_per_s_ratio":
            raw.get("multinode", {}).get("examples_per_s_ratio")}


def _sacct(job_id: str) -> dict[str, Any]:
    proc = subprocess.run(["sacct", "-n", "-X", "-P", "-j", job_id, "-o",
                           "Elapsed,NodeList,State"], capture_output=True, text=True,
                          check=False, timeout=60)
    return sacct_row(proc.stdout)


def _one(workdir: Path, tag: str, nodes: int, counter: Any) -> dict[str, Any]:
    waited = _wait_for_quiet(tag)
    alongside = set(running_others(squeue_rows(), tag))
    search_dir = workdir / f"{tag}-multinode{nodes}"
    launched = launch_ours(f"multinode{nodes}", overrides(search_dir, nodes),
                           workdir / f"multinode{nodes}.log", counter)
    wait_all([launched], 900)
    alongside |= set(running_others(squeue_rows(), tag))  # seen at the start or the end
    done_files = sorted(search_dir.rglob("train_done.json"))
    if not done_files:
        raise RuntimeError(f"the {nodes}-node training wrote no train_done.json "
                           f"(see {workdir / f'multinode{nodes}.log'})")
    done = json.loads(done_files[-1].read_text(encoding="utf-8"))
    job_id = training_job(journal_events(search_dir))
    sacct = _sacct(job_id) if job_id else sacct_row("")
    return {**run_result(nodes, done, sacct, job_id, launched.returncode),
            "waited_for_quiet_s": waited, "others_running": sorted(alongside)}


def phase(workdir: Path, tag: str, counter: Callable[[str], Any],
          log: Callable[[str], None]) -> dict[str, Any]:
    """The 1-node training, then the 2-node one (one after the other: they share the cores)."""
    runs: dict[str, dict[str, Any]] = {}
    for nodes in NODES:
        log(f"multinode: {STEPS} steps of tiny on {nodes} node(s)")
        runs[str(nodes)] = _one(workdir, tag, nodes, counter(f"multinode{nodes}"))
    return summarise(runs)
