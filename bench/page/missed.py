"""The page's "missed targets" section: for each headline target a run missed, the arithmetic
of why (the legacy poll, the checkpoint interval, the queue wait), filled into the template's
`missed.*` sections; the busy phases' notes come from bench.page.busy."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from bench.page import busy as busy_page
from bench.page import scale as scale_page
from bench.page.report import TARGETS, fmt
from bench.page.template import fill, get, num
from bench.phases.legacy_loop import legacy_run

Obj = Mapping[str, Any]


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
    """The section on the targets this run missed, each with why (or that none was)."""
    met: Obj = results.get("met", {})
    sc = raw.get("scenario")
    notes: list[str] = []
    if met.get("time_to_decision_ratio") is False and sc:
        notes.append(_why_ratio(results, sc, "time_to_decision_ratio", sc["legacy_poll_s"]))
    if met.get("time_to_decision_ratio_equal_poll") is False and sc:
        notes.append(_why_ratio(results, sc, "time_to_decision_ratio_equal_poll",
                                sc["equal_poll_s"]))
    if met.get("job_seconds_ratio") is False and sc:
        notes.append(_why_job_seconds(results, sc))
    if met.get("decision_latency_s") is False:
        notes.append(_why_latency(results, sc))
    if met.get("sched_queries_per_hour") is False:
        notes.append(_why_sched(results, raw))
    if met.get("inference_speedup_cpu") is False:
        notes.append(_why_inference(results, raw))
    notes += [fill("missed.other", key=key, value=fmt(results.get(key)))
              for key in ("controller_start_s", "controller_rss_mb_1000_jobs", "resume_s")
              if met.get(key) is False]
    notes += busy_page.missed(results, raw)
    notes += scale_page.missed(results)
    return fill("missed", notes="\n\n".join(notes)) if notes else fill("missed.none")


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


def _why_inference(results: Obj, raw: Obj) -> str:
    inf: Obj = raw.get("inference", {})
    speed: Obj = inf.get("examples_per_s", {})
    return fill(
        "missed.inference", value=fmt(results.get("inference_speedup_cpu")),
        one=num(1000 / speed["per_example"], 2) if speed.get("per_example") else "-",
        batched=num(1000 / speed["batched"], 2) if speed.get("batched") else "-",
        vs_naive=num(inf.get("speedup_vs_naive"), 1))


def _why_ratio(results: Obj, sc: Obj, key: str, poll: float) -> str:
    p: Obj = sc["parameters"]
    k = legacy_run(p["curve"], p["target"]).evaluated
    e, c, n = p["every_s"], p["infer_s"], p["checkpoints"]
    per_eval = max(1, math.ceil(c / poll)) * poll + sc["settle_s"]
    floor = k * e + c
    legacy_est = n * e + poll / 2 + sc["settle_s"] + k * per_eval
    return fill(
        "missed.ratio", key=key, value=fmt(results.get(key)),
        target=f"{TARGETS[key].value:g}", poll=f"{poll:g}", k=k, every_s=f"{e:g}",
        infer_s=f"{c:g}", floor=f"{floor:g}",
        ours=num(get(sc, "runs", "ours", "time_to_decision_s")),
        legacy_est=f"{legacy_est:.0f}", per_eval=f"{per_eval:g}",
        best=f"{legacy_est / floor:.1f}")


def _why_job_seconds(results: Obj, sc: Obj) -> str:
    p: Obj = sc["parameters"]
    k = legacy_run(p["curve"], p["target"]).evaluated
    e, c, n = p["every_s"], p["infer_s"], p["checkpoints"]
    legacy = n * e + k * c
    ours = k * e + c + k * c
    return fill(
        "missed.job_seconds", value=fmt(results.get("job_seconds_ratio")), k=k,
        checkpoints=n, every_s=f"{e:g}", infer_s=f"{c:g}", legacy=f"{legacy:g}",
        ours=f"{ours:g}", ratio=f"{legacy / ours:.2f}", ideal=f"{n / k:.1f}",
        speedup=num(get(results, "inference_speedup_cpu"), 1))
