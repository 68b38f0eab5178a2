"""The page's `scale` section (issue 25): the trials table at 10, 100 and 1,000 concurrent
trials, the samplers, the 10,000 held SLURM jobs and the long journal, beside today's
10-trial login-node figures (the `footprint` phase)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.page.template import fill, get, num

Obj = Mapping[str, Any]


def _trials_table(raw: Obj) -> str:
    rows = ["| concurrent trials | tick p50 ms | tick p99 ms | CPU s/h | metadata calls "
            "/ trial-hour (stat, listdir, scandir, open) | scheduler polls/h |",
            "|---:|---:|---:|---:|---|---:|"]
    for n, d in (get(raw, "scale", "trials") or {}).items():  # none: not run this time
        kinds = d.get("fs_ops_by_kind_per_trial_hour", {})
        split = ", ".join(f"{num(kinds.get(k, 0), 0)}" for k in
                          ("stat", "listdir", "scandir", "open"))
        rows.append(f"| {n} | {num(d.get('tick_ms_p50'))} | {num(d.get('tick_ms_p99'))} | "
                    f"{num(d.get('cpu_s_per_hour'))} | {num(d.get('fs_ops_per_trial_hour'), 0)}"
                    f" ({split}) | {num(d.get('polls_per_hour'), 0)} |")
    today = raw.get("footprint") or {}
    if today:
        rows.append(f"| today's footprint phase: {today.get('trials')} trials, "
                    f"{today.get('jobs')} real jobs, real CLI | - | - | "
                    f"{num(today.get('cpu_s_per_hour'))} | - | - |")
    return "\n".join(rows)


def _samplers(raw: Obj) -> str:
    found = get(raw, "scale", "samplers") or {}
    return ", ".join(f"{name} {num(1000 * d.get('mean_s', 0), 2)} ms "
                     f"(last tenth {num(1000 * d.get('last_tenth_mean_s', 0), 2)} ms)"
                     for name, d in found.items()) or "not measured"


def _slurm(raw: Obj) -> dict[str, Any]:
    s: Obj = get(raw, "scale", "slurm") or {}
    probe: Obj = s.get("probe") or {}
    hours = (probe.get("virtual_s") or 0) / 3600.0
    return {"jobs": s.get("jobs"), "max_job_count": s.get("max_job_count"),
            "before": s.get("jobs_in_slurmctld_before"), "submit": num(s.get("submit_s"), 0),
            "sacct": num(s.get("sacct_s"), 2),
            "per_hour": num(probe.get("per_hour") or probe.get("queries_per_hour_projected"), 0),
            "calls": _calls(probe.get("calls_by_command")),
            "cpu": num(probe["cpu_s"] / hours if hours >= 1 and "cpu_s" in probe
                       else probe.get("cpu_s_per_hour_projected")),
            "rss": num(probe.get("max_rss_mb")), "cancel": num(s.get("cancel_s"), 0),
            "note": s.get("note", "")}


def _calls(by_command: Obj | None) -> str:
    """`53 sacct, 1 squeue`: the commands the probe ran, those it did not left out."""
    if not by_command:
        return "projected, see below"
    return ", ".join(f"{n} {command}" for command, n in by_command.items() if n) or "none"


def _journal(raw: Obj) -> str:
    found: Obj = get(raw, "scale", "journal") or {}
    if "note" in found:
        return str(found["note"])
    return ", ".join(f"{k} {num(v, 2)}" for k, v in found.items())


def scale(raw: Obj) -> str:
    if not raw.get("scale"):
        return ""
    return fill("scale", trials=_trials_table(raw), samplers=_samplers(raw),
                journal=_journal(raw),
                bound=num(get(raw, "scale", "fs_ops_bound_per_trial_hour"), 0),
                **_slurm(raw))


SCALE_KEYS = ("tick_ms_p99_1000_trials", "controller_cpu_s_per_hour_1000_trials",
              "fs_metadata_ops_per_trial_hour", "sched_queries_per_hour_10k_jobs",
              "controller_cpu_s_per_hour_10k_jobs", "controller_rss_mb_10k_jobs",
              "resume_s_1m_events", "status_s_1m_events", "watch_first_frame_s_1m_events",
              "report_html_s_1000_trials")


def missed(results: Obj) -> list[str]:
    """A note for each scale target this run missed: SCALE.md says why and what would meet it."""
    met: Obj = results.get("met", {})
    return [fill("missed.scale", key=key, value=num(results.get(key), 1))
            for key in SCALE_KEYS if met.get(key) is False]
