"""The page's "missed targets" section: for each headline target a run missed, the arithmetic
of why (the legacy poll, the checkpoint interval, the queue wait), filled into the template's
`missed.*` sections; the busy phases' notes come from bench.page.busy.

A missed target whose own scenario caps it below the target (no controller could decide before
the deciding checkpoint exists; no job-second can be saved on evaluations both sides run) is
stated against that cap instead: `limits` computes the cap from the same run's parameters and
measurements, the headline says "at its limit" when the run reached 90 % of it, and those
targets get their own section. A target missed well below its cap stays a plain miss."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.page import busy as busy_page
from bench.page import scale as scale_page
from bench.page.report import TARGETS, fmt, table
from bench.page.template import fill, get, num
from bench.phases.legacy_loop import legacy_run

Obj = Mapping[str, Any]
AT_LIMIT = 0.9  # a run within 10 % of its scenario's cap is "at its limit", not a miss
WHY = "[why](#targets-beyond-their-scenarios-limit)"


@dataclass(frozen=True)
class Limit:
    """What a headline target's own scenario allows at most, and how the page says it."""
    key: str
    value: float  # the cap
    share: float  # measured / cap
    arithmetic: str  # the cap's sum, for the section's table
    headline: str  # the headline table's "met?" cell
    note: str  # the section's paragraph


def limits(results: Obj, raw: Obj) -> dict[str, Limit]:
    """The missed headline targets that reached AT_LIMIT of their scenario's cap, by key."""
    return {lim.key: lim for lim in _capped(results, raw) if lim.share >= AT_LIMIT}


def _capped(results: Obj, raw: Obj) -> list[Limit]:
    """Each missed headline target that has a cap, with it."""
    met: Obj = results.get("met", {})
    sc = raw.get("scenario")
    found: list[Limit | None] = []
    if sc and met.get("time_to_decision_ratio") is False:
        found.append(_ratio_limit(results, sc, "time_to_decision_ratio", "legacy"))
    if sc and met.get("job_seconds_ratio") is False:
        found.append(_job_seconds_limit(results, sc))
    if met.get("inference_speedup_cpu") is False:
        found.append(_inference_limit(results, raw))
    return [lim for lim in found if lim]


def _share(value: Any, cap: float) -> float:
    return float(value) / cap if isinstance(value, (int, float)) and cap else 0.0


def deciding_queue_wait(ours: Obj) -> float | None:
    """Queue wait (s) of the inference job that evaluated the deciding checkpoint."""
    step = ours.get("decided_step")
    if step is None:
        return None
    for job in ours.get("jobs", []):
        if f"-infer-t001-s{int(step):08d}-" in job["name"]:
            wait = job.get("queue_wait_s")
            return float(wait) if wait is not None else None
    return None


def missed(results: Obj, raw: Obj) -> str:
    """The sections on the targets this run missed: those at their scenario's limit, then
    the others, each with why (or that none was)."""
    met: Obj = results.get("met", {})
    sc = raw.get("scenario")
    capped = limits(results, raw)
    notes: list[str] = []
    if met.get("time_to_decision_ratio_equal_poll") is False and sc:
        notes.append(_why_ratio(results, sc, "time_to_decision_ratio_equal_poll",
                                sc["equal_poll_s"], "legacyeq"))
    notes += [lim.note for lim in _capped(results, raw) if lim.key not in capped]
    if met.get("decision_latency_s") is False:
        notes.append(_why_latency(results, sc))
    if met.get("sched_queries_per_hour") is False:
        notes.append(_why_sched(results, raw))
    notes += [fill("missed.other", key=key, value=fmt(results.get(key)))
              for key in ("controller_start_s", "controller_rss_mb_1000_jobs", "resume_s")
              if met.get(key) is False]
    notes += busy_page.missed(results, raw)
    notes += scale_page.missed(results)
    parts = [_limits_section(results, capped)] if capped else []
    parts.append(fill("missed", notes="\n\n".join(notes)) if notes else
                 "" if capped else fill("missed.none"))
    return "\n".join(p for p in parts if p)


def _limits_section(results: Obj, capped: Mapping[str, Limit]) -> str:
    rows = [[f"`{lim.key}`", fmt(results.get(lim.key)),
             f"{TARGETS[lim.key].op} {TARGETS[lim.key].value:g}", lim.arithmetic,
             f"{lim.share:.0%}".replace("%", " %")] for lim in capped.values()]
    words = {1: "One", 2: "Two", 3: "Three"}
    count = words.get(len(capped), str(len(capped)))
    return fill("limits", count=count, count_lower=count.lower(),
                table=table(["key", "measured", "target", "the scenario's limit",
                             "measured / limit"], rows),
                notes="\n\n".join(lim.note for lim in capped.values()))


def _why_latency(results: Obj, sc: Obj | None) -> str:
    bd = get(sc, "runs", "ours", "extra", "breakdown") or {}
    cost = float(get(sc, "parameters", "infer_s") or 0.0)
    queued = deciding_queue_wait(get(sc, "runs", "ours") or {}) or 0.0
    latency = results.get("decision_latency_s")
    queue_wait = ""
    if queued and isinstance(latency, (int, float)):
        queue_wait = fill("missed.decision_latency.queue_wait", queued=f"{queued:.0f}",
                          without=f"{latency - queued:.1f}")
    return fill(
        "missed.decision_latency", value=fmt(latency), infer_s=f"{cost:g}",
        job_extra=(num(bd["job_until_result_s"] - cost, 2) if "job_until_result_s" in bd
                   else "-"),
        polls=num(bd.get("checkpoint_detect_s", 0.0) + bd.get("result_detect_s", 0.0), 2),
        queue_wait=queue_wait)


def _why_sched(results: Obj, raw: Obj) -> str:
    probe = next(iter((raw.get("sched") or {"": {}}).values()))
    poll_times = probe.get("poll_times_s", [])
    early = sum(1 for t in poll_times if t < 180)
    return fill("missed.sched", value=fmt(results.get("sched_queries_per_hour")),
                times=", ".join(f"{t:g}" for t in poll_times[:early]), early=early,
                cap=f"{raw.get('slurm_poll_cap_s', 60.0):g}",
                first_hour=f"{float(probe.get('per_hour', 0.0)):.0f}")


def _inference_limit(results: Obj, raw: Obj) -> Limit | None:
    inf: Obj = raw.get("inference", {})
    speed: Obj = inf.get("examples_per_s", {})
    if not speed.get("per_example") or not speed.get("batched"):
        return None
    one, batched = 1000 / speed["per_example"], 1000 / speed["batched"]
    cap = one / batched
    value = results.get("inference_speedup_cpu")
    note = fill("missed.inference", value=fmt(value), limit=f"{cap:.1f}", one=f"{one:.2f}",
                batched=f"{batched:.2f}", vs_naive=num(inf.get("speedup_vs_naive"), 1))
    return Limit("inference_speedup_cpu", cap, _share(value, cap),
                 f"{one:.3f} ms / {batched:.3f} ms per example = {cap:.1f} (batching removes "
                 "all per-call overhead)",
                 f"at its limit: a 0.5 M-parameter model on this CPU allows about {cap:.1f} "
                 f"(the 20x is a GPU figure, not measured; {WHY})", note)


def _ratio_limit(results: Obj, sc: Obj, key: str, run: str) -> Limit:
    p: Obj = sc["parameters"]
    k = legacy_run(p["curve"], p["target"]).evaluated
    floor = k * p["every_s"] + p["infer_s"]
    measured = get(sc, "runs", run, "time_to_decision_s")
    legacy = float(measured) if measured else _legacy_estimate(sc, sc["legacy_poll_s"])
    cap = legacy / floor
    share = _share(results.get(key), cap)
    return Limit(key, cap, share,
                 f"{legacy:.1f} s / {floor:g} s = {cap:.2f} (a zero-overhead controller)",
                 f"at its limit: the scenario allows {cap:.2f} at most ({share:.0%}; {WHY})"
                 .replace("%;", " %;"),
                 _why_ratio(results, sc, key, sc["legacy_poll_s"], run))


def _legacy_estimate(sc: Obj, poll: float) -> float:
    """The legacy loop's time to decision in closed form: training to the end, then each
    evaluation's own time rounded up to the poll, plus the settle time."""
    p: Obj = sc["parameters"]
    k = legacy_run(p["curve"], p["target"]).evaluated
    per_eval = max(1, math.ceil(p["infer_s"] / poll)) * poll + sc["settle_s"]
    return float(p["checkpoints"] * p["every_s"] + poll / 2 + sc["settle_s"] + k * per_eval)


def _why_ratio(results: Obj, sc: Obj, key: str, poll: float, run: str) -> str:
    p: Obj = sc["parameters"]
    k = legacy_run(p["curve"], p["target"]).evaluated
    e, c = p["every_s"], p["infer_s"]
    per_eval = max(1, math.ceil(c / poll)) * poll + sc["settle_s"]
    floor = k * e + c
    legacy_est = _legacy_estimate(sc, poll)
    measured = get(sc, "runs", run, "time_to_decision_s")
    legacy = float(measured) if measured else legacy_est
    return fill(
        "missed.ratio", key=key, value=fmt(results.get(key)),
        target=f"{TARGETS[key].value:g}", poll=f"{poll:g}", k=k, every_s=f"{e:g}",
        infer_s=f"{c:g}", floor=f"{floor:g}",
        ours=num(get(sc, "runs", "ours", "time_to_decision_s")),
        legacy_est=f"{legacy_est:.0f}", per_eval=f"{per_eval:g}",
        best=f"{legacy_est / floor:.2f}", legacy_measured=f"{legacy:.1f}",
        limit=f"{legacy / floor:.2f}",
        share=f"{_share(results.get(key), legacy / floor):.0%}".replace("%", " %"))


def _job_seconds_limit(results: Obj, sc: Obj) -> Limit:
    p: Obj = sc["parameters"]
    k = legacy_run(p["curve"], p["target"]).evaluated
    e, c, n = p["every_s"], p["infer_s"], p["checkpoints"]
    legacy = n * e + k * c
    ours = k * e + c + k * c
    cap = legacy / ours
    value = results.get("job_seconds_ratio")
    share = _share(value, cap)
    used = get(sc, "runs", "ours", "job_seconds")
    note = fill(
        "missed.job_seconds", value=fmt(value), k=k,
        checkpoints=n, every_s=f"{e:g}", infer_s=f"{c:g}", legacy=f"{legacy:g}",
        ours=f"{ours:g}", ratio=f"{cap:.2f}", ideal=f"{n / k:.1f}",
        used=num(used, 0), share=f"{share:.0%}".replace("%", " %"),
        speedup=num(get(results, "inference_speedup_cpu"), 1))
    return Limit("job_seconds_ratio", cap, share,
                 f"{legacy:g} / {ours:g} job-s = {cap:.2f} (no job-second but the work itself)",
                 f"at its limit: the scenario allows {cap:.2f} at most ({share:.0%}; {WHY})"
                 .replace("%;", " %;"), note)
