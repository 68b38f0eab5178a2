"""The busy-cluster and placements sections of BENCHMARKS.md (bench/phases/busy.py's phases).

Values only: the text is in bench/page/BENCHMARKS.md.in (sections `busy`, `placements` and their
`missed.*`), filled by bench.page.template.fill like every other section.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from bench.page.report import fmt, table
from bench.page.template import fill, num
from bench.phases.busy import PLACEMENTS, best_time
from bench.phases.legacy_loop import legacy_run
from bench.phases.scenario import ByoScenario

Obj = Mapping[str, Any]
COLUMNS = ("legacy", *PLACEMENTS)
KIND = re.compile(r"-(train|infer|inf|worker)(?=-|$)")


def _waits(run: Obj) -> str:
    w: Obj = run.get("extra", {}).get("waits") or {}
    if not w.get("n"):
        return "-"
    return f"{num(w['median_s'], 0)} / {num(w['min_s'], 0)} / {num(w['max_s'], 0)} ({w['n']})"


def _evaluators(run: Obj) -> str:
    by: Obj = run.get("extra", {}).get("evaluated_by") or {}
    return ", ".join(f"{n} by {job}" for job, n in by.items()) or "-"


def _jobs(run: Obj) -> str:
    # the kind is the last such word: the run's own name may hold one (busy-worker-train-...)
    kinds = [(KIND.findall(str(j["name"])) or ["other"])[-1] for j in run.get("jobs", [])]
    counts = {k: kinds.count(k) for k in dict.fromkeys(kinds)}
    return f"{len(kinds)} (" + ", ".join(f"{v} {k}" for k, v in counts.items()) + ")"


def run_rows(runs: Obj, names: tuple[str, ...]) -> list[list[str]]:
    """One row per measure, one column per run (`-` where a run is missing)."""
    spec: list[tuple[str, Callable[[Obj], object]]] = [
        ("time to decision (s)", lambda r: num(r.get("time_to_decision_s"))),
        ("decided: outcome, checkpoint step",
         lambda r: f"{r.get('outcome')}, {r.get('decided_step')}"),
        ("checkpoints evaluated", lambda r: r.get("evaluated")),
        ("evaluations by job id (ours)", _evaluators),
        ("job-seconds (sum of sacct Elapsed)", lambda r: num(r.get("job_seconds"), 0)),
        ("jobs", _jobs),
        ("queue wait per job: median / min / max (n), s", _waits),
        ("process exit after launch (s)",
         lambda r: num(r["t_exit"] - r["t_launch"]) if r.get("t_exit") else "-"),
    ]
    return [[label, *("-" if runs.get(n) is None else str(f(runs[n])) for n in names)]
            for label, f in spec]


def predicted_busy(p: Obj, wait_s: float, poll_s: float, settle_s: float) -> dict[str, float]:
    """Closed-form times to decision on the busy cluster (every job waits wait_s)."""
    k = legacy_run(p["curve"], p["target"]).evaluated
    e, c, n = p["every_s"], p["infer_s"], p["checkpoints"]
    per_eval = math.ceil((wait_s + c) / poll_s) * poll_s + settle_s
    legacy = math.ceil((wait_s + n * e) / poll_s) * poll_s + settle_s + k * per_eval
    return {"legacy": legacy, "with_training": wait_s + k * e + c, "k": k}


def busy(results: Obj, raw: Obj) -> str:
    b: Obj = raw.get("busy", {})
    runs: Obj = b.get("runs", {})
    if not runs:
        return ""
    plan: Obj = b["plan"]
    p: Obj = plan["scenario"]
    pred = predicted_busy(p, plan["wait_s"], plan["legacy_poll_s"], plan["settle_s"])
    best = best_time(runs, PLACEMENTS)
    tenants: Obj = b.get("tenants", {})
    tw: Obj = tenants.get("waits", {})
    header = ["", f"legacy, poll {plan['legacy_poll_s']:g} s", *(f"`{n}`" for n in PLACEMENTS)]
    return fill(
        "busy", wait_s=f"{plan['wait_s']:g}", gap_s=f"{plan['gap_s']:g}",
        every_s=f"{p['every_s']:g}", infer_s=f"{p['infer_s']:g}", checkpoints=p["checkpoints"],
        k=int(pred["k"]), warm=num(b.get("warm_up_s"), 0),
        tenants_submitted=tenants.get("submitted"),
        tenants_ended=tenants.get("ended_for_a_pending_job"),
        tenant_waits=f"{num(tw.get('median_s'), 0)} / {num(tw.get('min_s'), 0)} / "
                     f"{num(tw.get('max_s'), 0)} ({tw.get('n')})",
        others=len(runs.get("other_jobs_at_start") or []),
        runs=table(header, run_rows(runs, COLUMNS)),
        pred_legacy=f"{pred['legacy']:.0f}", pred_with=f"{pred['with_training']:.0f}",
        pred_ratio=f"{pred['legacy'] / pred['with_training']:.1f}",
        best=f"`{best[0]}`" if best else "-",
        ratio=fmt(results.get("busy_time_to_decision_ratio")), **_standard(raw, plan))


def _standard(raw: Obj, plan: Obj) -> dict[str, str]:
    """The standard scenario's checkpoint interval, and the closed-form busy ratio for it."""
    std: Obj = raw.get("plan", {}).get("scenario") or asdict(ByoScenario())
    pred = predicted_busy(std, plan["wait_s"], plan["legacy_poll_s"], plan["settle_s"])
    return {"std_every": f"{std['every_s']:g}",
            "std_ratio": f"{pred['legacy'] / pred['with_training']:.1f}"}


def placements(results: Obj, raw: Obj) -> str:
    pl: Obj = raw.get("placements", {})
    runs: Obj = pl.get("runs", {})
    if not runs:
        return ""
    p: Obj = pl["parameters"]
    rows = run_rows(runs, PLACEMENTS)
    rows.insert(1, ["physical limit: deciding checkpoint written + one evaluation (s)",
                    *(num(_extra(runs, n, "limit_s")) for n in PLACEMENTS)])
    rows.insert(2, ["time to decision / limit",
                    *(num(_extra(runs, n, "to_limit_ratio"), 3) for n in PLACEMENTS)])
    rows.insert(3, ["overhead per checkpoint after the first, median (s)",
                    *(num(_extra(runs, n, "overhead_after_first_s"), 2) for n in PLACEMENTS)])
    rows.insert(4, ["overhead per checkpoint, in step order (s)",
                    *(", ".join(f"{o['overhead_s']:.2f}" for o in
                                sorted(_extra(runs, n, "overheads") or [],
                                       key=lambda o: o["step"])) or "-"
                      for n in PLACEMENTS)])
    best = best_time(runs, PLACEMENTS)
    job_overhead = _extra(runs, "job", "overhead_after_first_s")
    return fill(
        "placements", every_s=f"{p['every_s']:g}", infer_s=f"{p['infer_s']:g}",
        others=len(pl.get("other_jobs_at_start") or []),
        runs=table(["", *(f"`{n}`" for n in PLACEMENTS)], rows),
        best=f"`{best[0]}`" if best else "-",
        to_limit=fmt(results.get("standard_to_limit_ratio"), 3),
        worker=fmt(results.get("eval_overhead_s_per_checkpoint_worker")),
        job=fmt(job_overhead))


def _extra(runs: Obj, name: str, key: str) -> Any:
    return (runs.get(name) or {}).get("extra", {}).get(key)


def missed(results: Obj, raw: Obj) -> list[str]:
    """The `Targets missed` notes of this module's keys."""
    met: Obj = results.get("met", {})
    notes = []
    b: Obj = raw.get("busy", {})
    if met.get("busy_time_to_decision_ratio") is False and b.get("plan"):
        plan: Obj = b["plan"]
        pred = predicted_busy(plan["scenario"], plan["wait_s"], plan["legacy_poll_s"],
                              plan["settle_s"])
        notes.append(fill("missed.busy", value=fmt(results.get("busy_time_to_decision_ratio")),
                           pred_ratio=f"{pred['legacy'] / pred['with_training']:.1f}",
                           k=int(pred["k"])))
    for key in ("eval_overhead_s_per_checkpoint_worker", "standard_to_limit_ratio"):
        if met.get(key) is False:
            notes.append(fill(f"missed.{key}", value=fmt(results.get(key), 3)))
    return notes
