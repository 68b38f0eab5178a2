"""The busy cluster, and the placements against their physical limit (issue 12's benchmarks).

Theory of operation. Two phases, both with the users' own scripts (tests/fixtures/byo) as
bench/phases/scenario.py runs them:

- `busy`: other tenants (bench/cluster/tenants.py) keep the node's slots full, so that every newly
  submitted job waits about `wait_s` for one; our jobs queue among theirs in SLURM's own
  order, and their real waits (sacct Submit -> Start) are reported per run, not assumed.
  Then the legacy loop and ours with each `infer.placement` run side by side, launched at
  the same moment.
- `placements`: the standard scenario on an idle cluster with each placement at once: the
  evaluation overhead per checkpoint (its last file written -> its result file written,
  minus the evaluation's own cost) and the decision time against the physical limit (the
  deciding checkpoint written + one evaluation).

Every job is named with the run tag (`<tag>-tenant-...` for the tenants) and the tenants are
cancelled at the end, on failure or Ctrl-C too (and the bench cancels `<tag>-*` again).
The pure parts (statistics, ratios, the release rule) are tested in tests/bench/.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.cluster.journal import journal_events
from bench.cluster.slurmtools import (
    CallCounter,
    final_rows,
    other_jobs,
    queue_wait_s,
    wait_for_idle,
)
from bench.cluster.tenants import Tenants
from bench.phases.scenario import (
    ByoScenario,
    Launched,
    launch_legacy,
    launch_ours,
    legacy_result,
    ours_byo_overrides,
    ours_result,
    predicted_legacy_s,
    wait_all,
    write_byo_legacy,
)

PLACEMENTS = ("job", "worker", "with_training")


@dataclass(frozen=True)
class BusyPlan:
    """The busy cluster's parameters. The scenario differs from the standard one on purpose
    (see BENCHMARKS.md.in `busy`): training is short next to the queue wait."""

    wait_s: float = 60.0  # the queue wait the tenants keep for every new job
    gap_s: float = 2.0  # one tenant job submitted every gap_s
    scenario: ByoScenario = field(default_factory=lambda: ByoScenario(every_s=5.0, infer_s=5.0))
    legacy_poll_s: float = 30.0
    settle_s: float = 5.0


# ---------------------------------------------------------------------------- pure parts
def wait_stats(waits: Iterable[float | None]) -> dict[str, float | int | None]:
    """Median, min and max of queue waits (s), and how many; None where there are none."""
    values = sorted(float(w) for w in waits if w is not None)
    if not values:
        return {"n": 0, "median_s": None, "min_s": None, "max_s": None}
    return {"n": len(values), "median_s": statistics.median(values), "min_s": values[0],
            "max_s": values[-1]}


def run_wait_stats(run: Mapping[str, Any]) -> dict[str, float | int | None]:
    """The wait statistics of one run's jobs (RunResult.jobs, from sacct)."""
    return wait_stats(j.get("queue_wait_s") for j in run.get("jobs", []))


def best_time(runs: Mapping[str, Mapping[str, Any]],
              names: Iterable[str]) -> tuple[str, float] | None:
    """The run with the shortest time to decision among `names` (None if none decided)."""
    timed = [(n, float(runs[n]["time_to_decision_s"])) for n in names
             if n in runs and runs[n].get("time_to_decision_s") is not None]
    return min(timed, key=lambda item: item[1]) if timed else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


@dataclass(frozen=True)
class Overhead:
    """One evaluated checkpoint: written (its last file's mtime) -> result file written."""

    step: int
    t_written: float
    t_result: float
    infer_s: float

    @property
    def overhead_s(self) -> float:
        return self.t_result - self.t_written - self.infer_s


def overhead_after_first(points: Sequence[Overhead]) -> float | None:
    """The median overhead over the checkpoints after the first (the first pays start-up)."""
    later = sorted(points, key=lambda p: p.step)[1:]
    return statistics.median(p.overhead_s for p in later) if later else None


def limit_s(t_launch: float, t_deciding_written: float, infer_s: float) -> float:
    """The physical limit of a decision, from launch: the deciding checkpoint written, plus
    one evaluation of it."""
    return t_deciding_written + infer_s - t_launch


# ---------------------------------------------------------------------------- file times
def written_at(checkpoint: Path) -> float | None:
    """When a checkpoint was complete: the completion marker's mtime, else (a user's own
    training script writes none) its trainer_state.json's, the last file it writes."""
    for name in ("checkpoint_complete.json", "trainer_state.json"):
        path = checkpoint / name
        if path.exists():
            return path.stat().st_mtime
    return None


def overheads(events: Sequence[Mapping[str, Any]], infer_s: float) -> list[Overhead]:
    """Every evaluation with a result file and a checkpoint still on disk (search.keep=all)."""
    out = []
    for e in events:
        if e["event"] != "evaluation" or e.get("value") is None or not e.get("result"):
            continue
        result = Path(e["result"])
        t_written = written_at(Path(e["checkpoint"]))
        if result.exists() and t_written is not None:
            out.append(Overhead(int(e["step"]), t_written, result.stat().st_mtime, infer_s))
    return out


def evaluators(events: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Evaluations per job id that did them (the worker's, the training job's, or one each)."""
    counts: dict[str, int] = {}
    for e in events:
        if e["event"] == "evaluation":
            key = str(e.get("job_id"))
            counts[key] = counts.get(key, 0) + 1
    return counts


# ---------------------------------------------------------------------------- the phases
Counter = Callable[[str], CallCounter]


@dataclass
class Side:
    """One of our runs, launched: its placement and search folder."""

    placement: str
    folder: Path
    launched: Launched
    extra: dict[str, Any] = field(default_factory=dict)


def placement_overrides(scn: ByoScenario, folder: Path, placement: str) -> list[str]:
    # search.keep=all: every checkpoint's files stay, for their mtimes
    return [*ours_byo_overrides(scn, folder), f"infer.placement={placement}", "search.keep=all"]


def launch_sides(workdir: Path, tag: str, label: str, scn: ByoScenario,
                 placements: Sequence[str], counter: Counter) -> list[Side]:
    sides = []
    for placement in placements:
        name = f"{label}-{placement.replace('_', '')}"
        folder = workdir / f"{tag}-{name}"
        launched = launch_ours(name, placement_overrides(scn, folder, placement),
                               workdir / f"{name}.log", counter(name))
        sides.append(Side(placement, folder, launched))
    return sides


def side_result(side: Side, infer_s: float) -> dict[str, Any]:
    result = asdict(ours_result(side.launched, side.folder, f"{side.folder.name}-", infer_s))
    events = journal_events(side.folder)
    points = overheads(events, infer_s)
    result["extra"].update(
        placement=side.placement, waits=run_wait_stats(result),
        evaluated_by=evaluators(events),
        overheads=[{**asdict(p), "overhead_s": p.overhead_s} for p in points],
        overhead_after_first_s=overhead_after_first(points))
    decided = next((p for p in points if p.step == result.get("decided_step")), None)
    if decided is not None and result.get("time_to_decision_s") is not None:
        limit = limit_s(side.launched.t_launch, decided.t_written, infer_s)
        result["extra"].update(limit_s=limit,
                               to_limit_ratio=ratio(result["time_to_decision_s"], limit))
    return result


def busy(workdir: Path, tag: str, plan: BusyPlan, counter: Counter,
         log: Callable[[str], None]) -> dict[str, Any]:
    """Tenants fill the node; the legacy loop and every placement run side by side."""
    out: dict[str, Any] = {"plan": asdict(plan), "waited_for_idle_s": wait_for_idle(8, 120)}
    tenants = Tenants(f"{tag}-tenant-", plan.wait_s, plan.gap_s, log)
    t_start = time.time()
    try:
        tenants.start()
        out["warm_up_s"] = tenants.wait_warm(plan.wait_s * 2 + 60)
        log(f"tenants warm after {out['warm_up_s']:.0f} s; launching the runs")
        out["runs"] = _busy_runs(workdir, tag, plan, counter)
    finally:
        tenants.stop()
    rows = final_rows(f"{tag}-tenant-", t_start, timeout_s=120)
    started = [r for r in rows if queue_wait_s(r) is not None and r.start != "None"]
    out["tenants"] = {"submitted": len(tenants.submitted), "ended_for_a_pending_job":
                      len(tenants.releases), "errors": tenants.errors[:20],
                      "waits": wait_stats(queue_wait_s(r) for r in started)}
    return out


def _busy_runs(workdir: Path, tag: str, plan: BusyPlan,
               counter: Counter) -> dict[str, Any]:
    scn = plan.scenario
    setup = write_byo_legacy(scn, workdir / "busylegacy", f"{tag}-busylegacy-")
    result_path = workdir / "busylegacy-result.json"
    legacy = launch_legacy("busylegacy", setup, scn.target, plan.legacy_poll_s, plan.settle_s,
                           result_path, workdir / "busylegacy.log", counter("busylegacy"))
    sides = launch_sides(workdir, tag, "busy", scn, PLACEMENTS, counter)
    others = other_jobs(tag)
    budget = predicted_legacy_s(scn, plan.legacy_poll_s, plan.settle_s) + 8 * plan.wait_s + 300
    wait_all([legacy, *(s.launched for s in sides)], budget)
    runs: dict[str, Any] = {s.placement: side_result(s, scn.infer_s) for s in sides}
    legacy_run_ = asdict(legacy_result(legacy, result_path, f"{tag}-busylegacy-",
                                       plan.legacy_poll_s))
    legacy_run_["extra"]["waits"] = run_wait_stats(legacy_run_)
    runs["legacy"] = legacy_run_
    return {"other_jobs_at_start": others, **runs}


def placements(workdir: Path, tag: str, scn: ByoScenario, counter: Counter) -> dict[str, Any]:
    """The standard scenario, idle cluster, every placement at once."""
    waited = wait_for_idle(6, 300)
    sides = launch_sides(workdir, tag, "std", scn, PLACEMENTS, counter)
    others = other_jobs(tag)
    wait_all([s.launched for s in sides], scn.checkpoints * scn.every_s * 2 + 300)
    runs = {s.placement: side_result(s, scn.infer_s) for s in sides}
    return {"parameters": asdict(scn), "waited_for_idle_s": waited,
            "other_jobs_at_start": others, "runs": runs}


# ---------------------------------------------------------------------------- headline keys
def headline(raw: Mapping[str, Any]) -> dict[str, Any]:
    """busy_time_to_decision_ratio, eval_overhead_s_per_checkpoint_worker,
    standard_to_limit_ratio (None where not measured)."""
    out: dict[str, Any] = {}
    runs: Mapping[str, Any] = raw.get("busy", {}).get("runs", {})
    best = best_time(runs, PLACEMENTS)
    legacy = runs.get("legacy", {}).get("time_to_decision_s")
    out["busy_time_to_decision_ratio"] = ratio(legacy, best[1] if best else None)
    std: Mapping[str, Any] = raw.get("placements", {}).get("runs", {})
    out["eval_overhead_s_per_checkpoint_worker"] = (
        std.get("worker", {}).get("extra", {}).get("overhead_after_first_s"))
    best_std = best_time(std, PLACEMENTS)
    out["standard_to_limit_ratio"] = (
        std[best_std[0]]["extra"].get("to_limit_ratio") if best_std else None)
    return out
