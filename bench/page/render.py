"""BENCHMARKS.md, rendered from results.json's content alone (so it can be re-rendered).

The page's text is bench/page/BENCHMARKS.md.in: named sections with `string.Template`
placeholders. The functions here only compute the values (numbers, tables, the optional
sentences) that fill them; `render` joins the sections in page order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bench.page import busy as busy_page
from bench.page import early_stop as early_stop_page
from bench.page import multinode as multinode_page
from bench.page import scale as scale_page
from bench.page.missed import deciding_queue_wait, limits, missed
from bench.page.report import TARGETS, fmt, table, verdict
from bench.page.template import fill, get, num
from bench.phases.legacy_loop import legacy_run

Obj = Mapping[str, Any]
BREAKDOWN_LABELS = {
    "checkpoint_detect_s": "checkpoint's last file written -> journaled (file poll, 1 s)",
    "submit_s": "journaled -> inference job submitted (sbatch)",
    "job_until_result_s": "submitted -> result file written (queue, start-up, evaluation)",
    "result_detect_s": "result file written -> evaluation journaled (file poll, 1 s)",
    "decide_s": "evaluation journaled -> decision journaled",
}
MACHINE_KEYS = ("cores", "cpu_model", "memory_gib", "os", "kernel", "python", "torch",
                "transformers", "submitit", "hydra-core", "slurm", "gpu")


def _ratio(a: Any, b: Any) -> float | None:
    return a / b if a and b else None


def render(results: Obj) -> str:
    raw: Obj = results.get("raw", {})
    parts = [
        _intro(results, raw),
        _machine(results),
        _headline(results, raw),
        _scenario(raw),
        _tiny(raw),
        _sched(raw),
        _footprint(raw),
        _login_footprint(raw),
        _resume(raw),
        _disk(raw),
        _inference(raw),
        _bertbase(raw),
        busy_page.busy(results, raw),
        busy_page.placements(results, raw),
        early_stop_page.early_stop(raw),
        early_stop_page.early_stop_cluster(raw),
        scale_page.scale(raw),
        multinode_page.multinode(raw),
        missed(results, raw),
        fill("gpu"),
        _errors(raw),
    ]
    return "\n".join(p for p in parts if p)


def _intro(results: Obj, raw: Obj) -> str:
    return fill("intro", mode=results.get("mode"), wall=num(raw.get("wall_s"), 0),
                generated=results.get("generated"),
                commit=get(results, "machine", "git_commit"), later=_later(raw))


def _later(raw: Obj) -> str:
    """Phases added after that run, measured in later `--only` runs on the same machine and
    folded into results.json (`raw.later_phases`: one entry, or a list of them): said, never
    passed off as the same run."""
    later = raw.get("later_phases")
    runs = [later] if isinstance(later, dict) else later if isinstance(later, list) else []
    return "".join(
        f" Exception: the phases {', '.join(run.get('phases', []))} were added later and "
        f"measured in a separate `--only` run (mode {run.get('mode')}, "
        f"{run.get('generated')}, commit `{run.get('git_commit')}`), on the same machine."
        for run in runs if isinstance(run, dict))


def _machine(results: Obj) -> str:
    m: Obj = results.get("machine", {})
    rows = [[k, str(m.get(k, "-"))] for k in MACHINE_KEYS]
    return fill("machine", versions=table(["", ""], rows))


def _headline(results: Obj, raw: Obj) -> str:
    met: Obj = results.get("met", {})
    capped = limits(results, raw)
    rows = [[f"`{key}`", fmt(results.get(key)), f"{target.op} {target.value:g}",
             capped[key].headline if key in capped else verdict(met.get(key))]
            for key, target in TARGETS.items()]
    if get(raw, "early_stop", "simulated") and "seeds" not in raw.get("early_stop_cluster", {}):
        rows = [[*row[:3], row[3] + " (simulated: see below)"] if "asha_job" in row[0] else row
                for row in rows]
    legacy = results.get("legacy_sched_queries_per_hour")
    rows.append(["`legacy_sched_queries_per_hour`", fmt(legacy), "reference", "-"])
    rows.append(["`inference_speedup_bertbase_cpu`",
                 fmt(results.get("inference_speedup_bertbase_cpu")), "reference", "-"])
    rows.append(["`multinode_examples_per_s_ratio`",
                 fmt(results.get("multinode_examples_per_s_ratio")), "reference", "-"])
    poll = get(raw, "scenario", "legacy_poll_note") or "-"
    if results.get("mode") == "quick":
        note = fill("headline.quick", poll=poll)
    else:
        note = fill("headline.full", poll=poll,
                    equal_poll=num(get(raw, "scenario", "equal_poll_s"), 0))
    return fill("headline", targets=table(["key", "measured", "target", "met?"], rows),
                poll_note=note)


def _run_rows(runs: Obj, names: list[str]) -> list[list[str]]:
    """One row per measure, one column per run (`-` for a run that is not there)."""
    def train(run: Obj) -> str:
        jobs = [j for j in run.get("jobs", []) if "train" in j["name"]]
        return ", ".join(f"{j['state']} after {j['elapsed_s']:.0f} s" for j in jobs) or "-"

    def waits(run: Obj) -> str:
        values = [j["queue_wait_s"] for j in run.get("jobs", []) if j["queue_wait_s"] is not None]
        return f"{max(values):.0f}" if values else "-"

    def calls(run: Obj) -> str:
        c = run.get("calls", {})
        return " / ".join(str(c.get(k, 0)) for k in ("sacct", "squeue", "sbatch", "scancel"))

    def exit_after(run: Obj) -> str:
        return num(run["t_exit"] - run["t_launch"]) if run.get("t_exit") else "-"

    spec: list[tuple[str, Callable[[Obj], object]]] = [
        ("time to decision (s)", lambda r: num(r.get("time_to_decision_s"))),
        ("decided: outcome, checkpoint step",
         lambda r: f"{r.get('outcome')}, {r.get('decided_step')}"),
        ("checkpoints evaluated", lambda r: r.get("evaluated")),
        ("training job (sacct)", train),
        ("job-seconds (sum of sacct Elapsed)", lambda r: num(r.get("job_seconds"), 0)),
        ("CPU-seconds (Elapsed x AllocCPUS)", lambda r: num(r.get("cpu_job_seconds"), 0)),
        ("jobs", lambda r: len(r.get("jobs", []))),
        ("longest queue wait of a job (s)", waits),
        ("scheduler calls sacct / squeue / sbatch / scancel", calls),
        ("process exit after launch (s)", exit_after),
    ]
    return [[label, *("-" if runs.get(n) is None else str(f(runs[n])) for n in names)]
            for label, f in spec]


def _scenario_runs(sc: Obj) -> str:
    """The side-by-side table of the standard scenario, with the closed-form estimates."""
    rows = _run_rows(sc["runs"], ["ours", "legacy", "legacyeq"])
    pred: Obj = sc.get("predicted_s", {})
    rows.insert(1, ["closed-form estimate (s)", num(pred.get("ours")), num(pred.get("legacy")),
                    num(pred.get("legacyeq"))])
    header = ["", "ours", f"legacy, poll {sc['legacy_poll_s']:g} s",
              f"legacy, poll {sc['equal_poll_s']:g} s"]
    return table(header, rows)


def _scenario_latency(runs: Obj) -> dict[str, str]:
    """The decision latency, its breakdown table and the queue-wait sentence."""
    bd = get(runs, "ours", "extra", "breakdown") or {}
    bd_rows = [[BREAKDOWN_LABELS.get(k, k), num(v, 2)] for k, v in bd.items()]
    latency = get(runs, "ours", "extra", "decision_latency_s")
    queued = deciding_queue_wait(runs.get("ours", {}))
    queue_wait = ""
    if queued and latency is not None:
        queue_wait = fill("scenario.queue_wait", queued=f"{queued:.0f}",
                          without=f"{latency - queued:.1f}")
    return {"latency": num(latency, 2), "breakdown": table(["part", "seconds"], bd_rows),
            "queue_wait": queue_wait}


def _scenario(raw: Obj) -> str:
    sc = raw.get("scenario")
    if not sc:
        return ""
    p: Obj = sc["parameters"]
    return fill(
        "scenario", checkpoints=p["checkpoints"], last=p["checkpoints"] * p["save_steps"],
        every_s=f"{p['every_s']:g}", infer_s=f"{p['infer_s']:g}",
        curve=", ".join(f"{v:g}" for v in p["curve"]), target=f"{p['target']:g}",
        k=legacy_run(p["curve"], p["target"]).evaluated,
        poll=f"{raw.get('slurm_poll_s', 5.0):g}", cap=f"{raw.get('slurm_poll_cap_s', 60.0):g}",
        settle=f"{sc['settle_s']:g}", others=len(raw.get("scenario_other_jobs_at_start") or []),
        runs=_scenario_runs(sc), **_scenario_latency(sc["runs"]))


def _tiny(raw: Obj) -> str:
    tiny = raw.get("tiny")
    if not tiny:
        return ""
    runs: Obj = tiny["runs"]
    ours, legacy = runs.get("ours", {}), runs.get("legacy", {})
    poll = f"{tiny['legacy_poll_s']:g}"
    acc = get(runs, "legacy", "extra", "accuracies") or []
    return fill(
        "tiny", overrides=" ".join(tiny["overrides"][:-1]), legacy_poll=poll,
        runs=table(["", "ours", f"legacy, poll {poll} s"], _run_rows(runs, ["ours", "legacy"])),
        accuracies=", ".join(f"{a:g} %" for a in acc if a is not None),
        ratio=num(_ratio(legacy.get("time_to_decision_s"), ours.get("time_to_decision_s")), 2),
        job_ratio=num(_ratio(legacy.get("job_seconds"), ours.get("job_seconds")), 2))


def _sched_rates(sched: Obj, legacy: Obj) -> str:
    rows = []
    for n, data in sched.items():
        early = sum(1 for t in data.get("poll_times_s", []) if t < 180)
        rows.append([n, num(data["per_hour"], 0), str(early), str(data["ids_in_largest_call"]),
                     num(data["cpu_s"] / max(1, data["ticks"]) * 1000, 2),
                     num(get(legacy, n, "per_hour"), 0)])
    return table(["N jobs", "ours per hour", "ours in the first 3 min", "job ids per sacct call",
                  "ours CPU per tick (ms)", "legacy per hour"], rows)


def _sched_active(raw: Obj) -> str:
    """The sacct calls of the standard scenario's own run, if it ran to its exit."""
    active = get(raw, "scenario", "runs", "ours")
    if not (active and active.get("t_exit")):
        return ""
    return fill("sched.active", sacct=active["calls"].get("sacct", 0),
                span=f"{active['t_exit'] - active['t_launch']:.0f}")


def _sched(raw: Obj) -> str:
    sched = raw.get("sched")
    if not sched:
        return ""
    first_times = next(iter(sched.values())).get("poll_times_s", [])
    cap = raw.get("slurm_poll_cap_s", 60.0)
    rss: Obj = raw.get("rss", {})
    return fill(
        "sched", poll=f"{raw.get('slurm_poll_s', 5.0):g}", cap=f"{cap:g}",
        real_times=", ".join(f"{t:g}" for t in rss.get("sacct_times_s", [])[:12]),
        times=", ".join(f"{t:g}" for t in first_times[:10]),
        rates=_sched_rates(sched, raw.get("legacy_sched", {})),
        early=sum(1 for t in first_times if t < 180), steady=f"{3600 / cap:.0f}",
        active=_sched_active(raw))


def _footprint(raw: Obj) -> str:
    rss: Obj = raw.get("rss", {})
    start: Obj = raw.get("controller_start", {})
    if not rss and not start:
        return ""
    sched = raw.get("sched", {})
    return fill(
        "footprint", command=start.get("command", "orchestrator --help"),
        median=num(start.get("median_s"), 3),
        runs=", ".join(f"{t:.3f}" for t in start.get("runs_s", [])),
        jobs=rss.get("jobs"), journal_write=num(rss.get("journal_write_s")),
        window=num(rss.get("window_s"), 0), vm_hwm=num(rss.get("vm_hwm_mb")),
        vm_rss=num(rss.get("vm_rss_mb_last")), state_events=rss.get("job_state_events"),
        status_calls=rss.get("status_calls"), cpu=num(rss.get("cpu_s")),
        cpu_share=num(100 * (rss.get("cpu_share") or 0), 0),
        probe_rss=", ".join(f"N={n}: {d.get('max_rss_mb', 0):.0f} MB" for n, d in sched.items()))


def _login_footprint(raw: Obj) -> str:
    f: Obj = raw.get("footprint", {})
    if not f:
        return ""
    return fill("login_footprint", trials=f.get("trials"), jobs=f.get("jobs"),
                window=num(f.get("window_s"), 0), cpu_per_hour=num(f.get("cpu_s_per_hour")),
                warmup=num(f.get("warmup_s"), 0), cpu_total=num(f.get("cpu_s_total"), 2),
                vm_hwm=num(f.get("vm_hwm_mb")), status_calls=f.get("status_calls"))


def _resume(raw: Obj) -> str:
    r: Obj = raw.get("resume", {})
    if not r:
        return ""
    return fill(
        "resume", killed_after=num(r.get("killed_after_s")), in_flight=r.get("in_flight_at_kill"),
        waited=num(r.get("waited_for_in_flight_s")),
        resumed_after=num(r.get("rerun_resumed_after_s"), 2),
        first_event=r.get("first_decision_event"), first_step=r.get("first_decision_step"),
        resume_s=num(r.get("resume_s"), 2), final_status=r.get("final_status"),
        final_after=num(r.get("final_decision_after_s")),
        nothing_twice=fmt(r.get("nothing_submitted_twice")))


def _inference(raw: Obj) -> str:
    inf: Obj = raw.get("inference", {})
    if not inf:
        return ""
    speed: Obj = inf["examples_per_s"]
    rows = [["`jobs.infer.run` (batched, length-sorted, dynamic padding, inference_mode)",
             num(speed["batched"], 0), "1.0"],
            ["`jobs.infer.run_per_example` (one at a time, inference_mode)",
             num(speed["per_example"], 0), num(speed["batched"] / speed["per_example"], 1)],
            ["naive loop (one at a time, autograd on, padded to max_length, `.item()` each)",
             num(speed["naive"], 0), num(speed["batched"] / speed["naive"], 1)]]
    return fill("inference", checkpoint=inf.get("checkpoint"), threads=inf.get("threads"),
                repeats=inf.get("repeats"),
                speeds=table(["mode", "examples/s", "batched is x faster"], rows))


def _errors(raw: Obj) -> str:
    errors: Obj = raw.get("errors", {})
    if not errors:
        return ""
    return fill("errors", lines="\n".join(f"- `{k}`: {v}" for k, v in errors.items()))


def _disk(raw: Obj) -> str:
    """The disk phase (bench/phases/disk.py): keep=all against the default, and bert-base."""
    d: Obj = raw.get("disk", {})
    runs: Obj = d.get("runs", {})
    if not runs:
        return ""
    from orchestrator.model.ledger import human

    names = {"all": "search.keep=all", "1": "default (keep=1, latest)"}
    rows = [[names.get(k, k), str(r["checkpoints"]), str(r["evaluated"]),
             human(r["peak_bytes_sampled"]), human(r["final_bytes_walked"]),
             f"{human(r['journal']['peak_bytes'])} / {human(r['journal']['final_bytes'])} / "
             f"{human(r['journal']['freed_bytes'])}", num(r["wall_s"], 0)]
            for k, r in runs.items()]
    bert: Obj = d.get("bert_base", {})
    bert_text = "; ".join(f"{names.get(k, k)}: peak {human(v['peak_bytes'])}, final "
                          f"{human(v['final_bytes'])}" for k, v in bert.items()) or "-"
    users: Obj = d.get("users_search", {})
    full = runs.get("all", {}).get("checkpoint_bytes", 0)
    from bench.phases.disk import BERT_FULL

    return fill("disk", checkpoints=runs.get("all", {}).get("checkpoints"),
                checkpoint_bytes=human(full), sample_s=d.get("sample_s"),
                runs=table(["run", "checkpoints", "evaluated", "peak (sampled)",
                            "final (walked)", "journal: peak / final / freed", "wall (s)"],
                           rows),
                peak_ratio=fmt(d.get("peak_ratio")), final_ratio=fmt(d.get("final_ratio")),
                bert_full=human(BERT_FULL), bert=bert_text,
                users_all=human(users.get("all_bytes", 0)),
                users_final=human(users.get("default_final_bytes", 0)))


def _bertbase(raw: Obj) -> str:
    """The bertbase phase (bench/phases/bertbase.py): batched vs one at a time on CPU, GPU bf16."""
    cpu: Obj = get(raw, "bertbase", "cpu") or {}
    if not cpu:
        return ""
    speed: Obj = cpu["examples_per_s"]
    batched = (f"`jobs.infer.run` (batched, batch {cpu['batch_size']}, length-sorted, "
               "padded per batch)")
    rows = [[batched, num(speed["batched"]), num(1000 / speed["batched"], 1), "1.0"],
            ["`jobs.infer.run_per_example` (one at a time)", num(speed["per_example"]),
             num(1000 / speed["per_example"], 1), num(cpu["speedup"], 2)]]
    model: Obj = cpu["model"]
    return fill("bertbase", parameters=f"{model['parameters'] / 1e6:.1f} M",
                layers=model["layers"], hidden=model["hidden"], vocab=f"{model['vocab_size']:,}",
                tokenizer=model["tokenizer"], tokenizer_vocab=model["tokenizer_vocab"],
                examples=cpu["examples"], tokens_mean=num(cpu["tokens_mean"], 1),
                tokens_min=cpu["tokens_min"], tokens_max=cpu["tokens_max"],
                threads=cpu["threads"], repeats=cpu["repeats"], cores=cpu.get("cores", "-"),
                load=" and ".join(f"{v:.1f}" for v in cpu.get("load_average", [])) or "-",
                speeds=table(["mode", "examples/s", "ms per example", "one at a time is x slower"],
                             rows),
                speedup=fmt(cpu["speedup"]), gpu=_bertbase_gpu(get(raw, "bertbase", "gpu")))


def _bertbase_gpu(gpu: Obj | None) -> str:
    if not gpu or not gpu.get("available"):
        return fill("bertbase.no_gpu")
    rate = gpu["examples_per_s"]
    return fill("bertbase.gpu", device=gpu["device_name"], batch=gpu["batch_size"],
                examples=gpu["examples"], tokens_mean=num(gpu["tokens_mean"], 1),
                repeats=gpu["repeats"], rate=f"{rate:,.0f}",
                runs=", ".join(f"{r['examples_per_s']:,.0f}" for r in gpu["runs"]),
                met=verdict(rate >= TARGETS["inference_bf16_examples_per_s_gpu"].value))
