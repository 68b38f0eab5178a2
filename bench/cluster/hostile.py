"""What a real cluster does to a search, run N times per fault on the local cluster's hostile
parts (scripts/local-slurm: namespaced nodes n1..n3, partitions scav/requeue/urgent/nodes, QOS
tinyq, kill-node/revive-node), for RELIABILITY.md's "real cluster" table
(scripts/reliability.py --real-cluster N).

Every run is the fault kit's BYO search (bench.cluster.faults: a checkpoint every 2 s, only
step 500 reaches the target, so the decision is fixed) with its training on the node the
fault hits, the fault struck once the second checkpoint is journaled. Each run is checked
for: the same decision as a run without a fault; evaluations lost (a checkpoint up to the
decision step left without a value) and duplicated (a checkpoint evaluated twice); and what
the jobs held after the search stopped: the CPU-seconds of allocations that outlived the
`search_ended` event (a GPU job holds its GPUs exactly as long), and any job still queued.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.cluster import daemons, faults
from bench.cluster.journal import journal_events
from bench.cluster.slurmtools import cancel_prefix, final_rows, live_jobs_with_prefix, sacct_time
from orchestrator.common import layout

NODE_CPUS = 2  # each namespaced node's CPUs (LOCAL_SLURM_NODE_CPUS)
START = "<!-- real-cluster -->"
END = "<!-- /real-cluster -->"


@dataclass
class Run:
    fault: str
    decision: faults.Decision | None = None
    lost: int = 0
    duplicated: int = 0
    held_cpu_s: float = 0.0
    left_queued: list[str] = field(default_factory=list)
    exit_code: int | None = None
    note: str = ""
    wall_s: float = 0.0


def _train_on(partition: str, node: str) -> list[str]:
    return [f"executor.train.partition={partition}", f"executor.train.cpus_per_task={NODE_CPUS}",
            f"executor.train.additional={{nodelist: {node}}}"]


def _urgent(node: str, seconds: int) -> Callable[[str], str]:
    def strike(train_id: str) -> str:
        subprocess.run(["sbatch", "--job-name=hostile-urgent", "-o", "/dev/null", "-p", "urgent",
                        "-w", node,
                        f"-c{NODE_CPUS}", "--time=5", "--wrap", f"sleep {seconds}"],
                       capture_output=True, text=True, check=True, timeout=60)
        return f"urgent job took {node} for {seconds} s"
    return strike


def _lose_node(node: str) -> Callable[[str], str]:
    def strike(train_id: str) -> str:
        subprocess.run([str(daemons.LOCAL_SLURM), "kill-node", node], capture_output=True,
                       check=True, timeout=120)
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < 120:  # NODE_FAIL after SlurmdTimeout (~25-30 s)
                state = subprocess.run(["sinfo", "-h", "-n", node, "-o", "%T"],
                                       capture_output=True, text=True, check=False).stdout
                if "down" in state:
                    break
                time.sleep(1)
        finally:
            subprocess.run([str(daemons.LOCAL_SLURM), "revive-node", node],
                           capture_output=True, check=False, timeout=120)
        return f"{node} lost (down after {time.monotonic() - t0:.0f} s), then revived"
    return strike


def _requeue_hold(train_id: str) -> str:
    subprocess.run(["scontrol", "requeuehold", train_id], capture_output=True, check=False)
    return f"training job {train_id} requeued and held"


# fault -> (extra run arguments, what strikes once the 2nd checkpoint is journaled)
FAULTS: dict[str, tuple[list[str], Callable[[str], str] | None]] = {
    "none (reference)": (_train_on("nodes", "n1"), None),
    "training preempted, PreemptMode=CANCEL": (_train_on("scav", "n3"), _urgent("n3", 8)),
    "training preempted, PreemptMode=REQUEUE": (_train_on("requeue", "n3"), _urgent("n3", 8)),
    "training's node lost (NODE_FAIL)": (_train_on("nodes", "n2"), _lose_node("n2")),
    "QOS MaxSubmitJobsPerUser=3 below the search's width": (
        ["executor.qos=tinyq", "search.max_concurrent_evals=4"], None),
    "training requeued and held": (
        [*_train_on("nodes", "n1"), "search.held_grace_s=10"], _requeue_hold),
}


def run_once(fault: str, parent: Path) -> Run:
    extra, strike = FAULTS[fault]
    directory = faults.new_search_dir(parent, "hostile")
    prefix = layout.job_name(directory, "")
    # evaluations of 4 s: more than 3 jobs at once, so that the submit limit bites
    args = faults.overrides(directory, checkpoints=12, every_s=2.0, extra=extra,
                            infer_sleep_s=4.0 if "QOS" in fault else 1.0)
    log = parent / f"{directory.name}.log"
    result, since, t0 = Run(fault), time.time(), time.monotonic()
    proc = faults.start(args, faults.controller_env(), log)
    try:
        if strike is not None:
            evs = faults.wait_for(lambda: _second_checkpoint(directory), 300, "2 checkpoints")
            result.note = strike(_train_id(evs))
        result.exit_code = proc.wait(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
            result.note += "; controller killed after 900 s"
        cancel_prefix("hostile-urgent")
    result.wall_s = time.monotonic() - t0
    _judge(result, directory, prefix, since)
    return result


def _second_checkpoint(directory: Path) -> list[dict[str, object]] | None:
    evs = journal_events(directory)
    return evs if sum(1 for e in evs if e["event"] == "checkpoint") >= 2 else None


def _train_id(evs: list[dict[str, object]]) -> str:
    return next(str(e["job_id"]) for e in reversed(evs)
                if e["event"] == "submitted" and str(e["key"]).startswith("train"))


def _what_happened(evs: list[dict[str, object]]) -> str:
    """What the controller journaled about the fault: retries and their causes, waits for a
    submit limit, releases of held jobs."""
    trains = sum(1 for e in evs if e["event"] == "submitted" and str(e["key"]).startswith("train"))
    causes = Counter(str(e["cause"]) for e in evs if e["event"] == "job_failed")
    waits = sum(1 for e in evs if e["event"] == "scheduler_unavailable" and e.get("limit"))
    released = sum(1 for e in evs if e["event"] == "job_released")
    parts = [f"training jobs {trains}"] + [f"{c} x{n}" for c, n in sorted(causes.items())]
    parts += [f"submit-limit waits {waits}"] if waits else []
    parts += [f"released {released}"] if released else []
    return ", ".join(parts)


def _judge(result: Run, directory: Path, prefix: str, since: float) -> None:
    evs = journal_events(directory)
    result.note = "; ".join(p for p in (result.note, _what_happened(evs)) if p)
    try:
        result.decision = faults.decision(directory)
    except (OSError, ValueError):
        result.note += "; no summary.json"
    values = Counter((e["trial"], e["step"]) for e in evs if e["event"] == "evaluation")
    result.duplicated = sum(n - 1 for n in values.values())
    valued = {(e["trial"], e["step"]) for e in evs
              if e["event"] == "evaluation" and e.get("value") is not None}
    steps = {(e["trial"], e["step"]) for e in evs if e["event"] == "checkpoint"}
    result.lost = sum(1 for key in steps if key[1] <= faults.DECISION_STEP and key not in valued)
    stopped = next((float(e["t"]) for e in evs if e["event"] == "search_ended"), None)
    time.sleep(5)  # a cancelled job's record reaches slurmdbd within KillWait
    result.left_queued = live_jobs_with_prefix(prefix)
    if result.left_queued:
        cancel_prefix(prefix)
    if stopped is None:
        return
    for row in final_rows(prefix, since, timeout_s=120):
        end = sacct_time(row.end)
        if end is not None and end > stopped:
            result.held_cpu_s += (end - stopped) * row.alloc_cpus


def campaign(parent: Path, runs: int, progress: Callable[[str], None]) -> list[Run]:
    parent.mkdir(parents=True, exist_ok=True)
    done: list[Run] = []
    for fault in FAULTS:
        for n in range(runs if FAULTS[fault][1] is not None or "QOS" in fault else 1):
            run = run_once(fault, parent)
            progress(f"{fault} #{n + 1}: decision {run.decision}, lost {run.lost}, "
                     f"duplicated {run.duplicated}, held {run.held_cpu_s:.0f} CPU-s "
                     f"after the stop, {run.wall_s:.0f} s")
            done.append(run)
    return done


def table(parent: Path, runs: int, when: str, progress: Callable[[str], None]) -> str:
    """Run the campaign; its section of RELIABILITY.md."""
    return section(campaign(parent, runs, progress), runs, when)


def section(done: list[Run], runs: int, when: str) -> str:
    """RELIABILITY.md's real-cluster table, between its markers."""
    reference = next((r.decision for r in done if r.fault.startswith("none")), None)
    lines = [START, "## Real cluster: preemption, lost nodes, submit limits, held jobs", "",
             f"{when}; `python scripts/reliability.py --real-cluster {runs}` "
             "(bench/cluster/hostile.py). Decision of the run without a fault: "
             f"`{reference}`. Held after the stop: CPU-seconds of allocations that outlived "
             "the search's end, to sacct's 1 s (a GPU job holds its GPUs as long), and jobs "
             "left queued.", "",
             "| fault | runs | same decision | evaluations lost | duplicated | held after the "
             "stop (CPU-s, max) | left queued | what happened (last run) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for fault in FAULTS:
        group = [r for r in done if r.fault == fault]
        if not group:
            continue
        same = sum(1 for r in group if r.decision == reference and r.decision is not None)
        lines.append(
            f"| {fault} | {len(group)} | {same} | {sum(r.lost for r in group)} | "
            f"{sum(r.duplicated for r in group)} | {max(r.held_cpu_s for r in group):.0f} | "
            f"{sum(len(r.left_queued) for r in group)} | {group[-1].note or '-'} |")
    return "\n".join([*lines, "", END])


def splice(previous: str, text: str) -> str:
    """`previous` with its real-cluster section replaced by `text` (added before the known
    limitations when it has none)."""
    if START in previous and END in previous:
        head, rest = previous.split(START, 1)
        return head + text + rest.split(END, 1)[1]
    anchor = "## Known limitations of these figures"
    if anchor in previous:
        head, rest = previous.split(anchor, 1)
        return f"{head}{text}\n\n{anchor}{rest}"
    return f"{previous.rstrip()}\n\n{text}\n"
