"""report.html: the whole search in one self-contained file (no network: figures are inline
PNG as base64 or inline SVG, the style is inline, there is no script).

Written at the same moments as report.md (an evaluation landed, the search's end,
`orchestrator report DIR`), atomically, from `report_data.collect`.
"""

from __future__ import annotations

import base64
import html
import io
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from orchestrator.common import layout
from orchestrator.common.fsutil import atomic_write_text
from orchestrator.decide.stop_rule import Rule
from orchestrator.model.state import SearchState
from orchestrator.model.usage import usage_text
from orchestrator.reporting.outcome import LEGEND_TRIALS, by_trial, params_text
from orchestrator.reporting.report_data import collect
from orchestrator.reporting.summary import Summary, Trial

STYLE = """body{font-family:sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;
padding:3px 8px;text-align:right}th{background:#f0f0f0}td.l,th.l{text-align:left}
img{max-width:100%}h2{border-bottom:1px solid #ddd;margin-top:1.5em}.note{color:#666}"""
KIND_COLOURS = {"train": "#1f77b4", "infer": "#2ca02c"}


def esc(value: Any) -> str:
    return html.escape("-" if value is None or value == "" else str(value))


def table(heads: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 1) -> str:
    """An HTML table; the first `left` columns are text (left-aligned)."""
    def cell(tag: str, i: int, value: Any) -> str:
        return f"<{tag}{' class=l' if i < left else ''}>{esc(value)}</{tag}>"
    head = "".join(cell("th", i, h) for i, h in enumerate(heads))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>"
                   for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _png(draw: Callable[[Any], None], size: tuple[float, float]) -> str:
    """An <img> of the figure `draw(fig)` makes, inline as base64 PNG."""
    import matplotlib  # lazy: only writing a report pays for it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=size)
    try:
        draw(fig)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def _label(trial: Trial) -> str:
    settings = params_text(trial.params) if trial.params else f"seed {trial.seed}"
    end = trial.why_ended() or trial.ended or "running"
    return f"trial {trial.trial} ({settings[:50]})\n{end[:60]}"


def metric_figure(c: dict[str, Any]) -> str:
    data: Summary = c["summary"]
    by_examples = c["x"] == "examples"

    def draw(fig: Any) -> None:
        ax, evaluated = fig.add_subplot(1, 1, 1), by_trial(data)
        for trial in data.trials:
            scale = c["examples_per_step"][trial.trial] if by_examples else 1
            points = [(e.step * scale, e.value) for e in evaluated.get(trial.trial, [])
                      if e.value is not None]
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=_label(trial)
                        if len(data.trials) <= LEGEND_TRIALS else None)
        ax.axhline(data.target, color="red", linestyle="--", label=f"target {data.target:g}")
        ax.set_xlabel("examples seen" if by_examples else "training step")
        ax.set_ylabel(f"{data.metric} ({data.split})")
        ax.grid(alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, frameon=False,
                  fontsize=8)
    return _png(draw, (10, 5.5))


def curves_figure(c: dict[str, Any]) -> str:
    curves = {n: h for n, h in c["curves"].items() if h}
    if not curves:
        return ('<p class=note>No training log to read yet (log_history.json in the trial\'s '
                'folder, or a checkpoint\'s trainer_state.json).</p>')

    def draw(fig: Any) -> None:
        loss, metrics = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        for number, history in curves.items():
            for key, ax, style in (("loss", loss, "-"), ("eval_loss", loss, "--")):
                points = [(e["step"], e[key]) for e in history if key in e and "step" in e]
                if points:
                    ax.plot(*zip(*points, strict=True), style, label=f"trial {number} {key}")
            keys = sorted({k for e in history for k in e if k.startswith("eval_")
                           and k != "eval_loss" and not k.endswith(("runtime", "per_second"))})
            for key in keys:
                points = [(e["step"], e[key]) for e in history if key in e and "step" in e]
                metrics.plot(*zip(*points, strict=True), marker=".",
                             label=f"trial {number} {key.removeprefix('eval_')}")
        for ax, title in ((loss, "training (solid) and validation (dashed) loss"),
                          (metrics, "validation metrics")):
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("training step")
            ax.grid(alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7)
    return _png(draw, (12, 4.5)) + _curves_extent(curves)


def _curves_extent(curves: dict[int, list[dict[str, Any]]]) -> str:
    """How far each trial's curves go: a figure alone cannot say it misses a part."""
    lines = []
    for number, history in curves.items():
        steps = [int(e["step"]) for e in history if isinstance(e.get("step"), int | float)]
        if steps:
            lines.append(f"trial {number}: {len(history)} log entries, steps {min(steps)} to "
                         f"{max(steps)}")
    return f"<p class=note>{esc('; '.join(lines))}</p>" if lines else ""


def scores_section(c: dict[str, Any]) -> str:
    scores = c["best_scores"]
    if scores is None:
        return ("<p class=note>No per-class scores: no best checkpoint yet, or its result has "
                "none (a regression, or your own inference script's plain output).</p>")
    per_class = [(name, f"{s['precision']:.4f}", f"{s['recall']:.4f}", f"{s['f1']:.4f}",
                  s.get("support")) for name, s in scores["per_class"].items()]
    labels = scores["labels"] or [str(i) for i in range(len(scores["matrix"]))]
    counts = [[label, *row] for label, row in zip(labels, scores["matrix"], strict=False)]
    percent = [[label, *(f"{100 * v / max(1, sum(row)):.1f} %" for v in row)]
               for label, row in zip(labels, scores["matrix"], strict=False)]
    heads = ["true \\ predicted", *labels]
    return (f"<p>On the {esc(scores['split'])} split.</p>"
            + table(["class", "precision", "recall", "F1", "support"], per_class)
            + "<h3>Confusion matrix: counts</h3>" + table(heads, counts)
            + "<h3>Confusion matrix: row percentages (recall per true class)</h3>"
            + table(heads, percent))


def timeline_svg(rows: list[dict[str, Any]], width: int = 1000) -> str:
    if not rows:
        return "<p class=note>No job submitted yet.</p>"
    t0 = min(r["submitted"] for r in rows)
    span = max(1e-6, max(r["ended"] for r in rows) - t0)
    left, height = 240, 16
    scale = (width - left - 10) / span
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height * len(rows) + 24}" font-size="11" font-family="sans-serif">']
    for i, r in enumerate(rows):
        y = i * height
        start = r["started"] if r["started"] is not None else r["ended"]
        x0, x1, x2 = (left + (t - t0) * scale for t in (r["submitted"], start, r["ended"]))
        wait, run = start - r["submitted"], r["ended"] - start
        parts.append(f'<text x="0" y="{y + 12}">{esc(r["key"])} ({esc(r["state"])})</text>'
                     f'<rect x="{x0:.1f}" y="{y + 3}" width="{max(1.0, x1 - x0):.1f}" '
                     f'height="10" fill="#ccc"><title>queue wait {wait:.1f} s</title></rect>'
                     f'<rect x="{x1:.1f}" y="{y + 3}" width="{max(1.0, x2 - x1):.1f}" '
                     f'height="10" fill="{KIND_COLOURS.get(r["kind"], "#999")}">'
                     f'<title>ran {run:.1f} s</title></rect>')
    parts.append(f'<text x="{left}" y="{height * len(rows) + 16}">0 s</text>'
                 f'<text x="{width - 60}" y="{height * len(rows) + 16}">{span:.0f} s</text>')
    return "".join(parts) + "</svg>"


def _device(fact: dict[str, Any]) -> str:
    device = str(fact.get("device") or "")
    if device.startswith("cpu"):
        return "CPU"
    return str(fact.get("device_name") or device or "-")


def resources_section(c: dict[str, Any]) -> str:
    data: Summary = c["summary"]
    sizes = c["disk"]
    rows = [(name, f"{size / 1e6:.1f} MB") for name, size in sizes.items()]
    gpu = [(f["job"], _device(f), "-" if f.get("peak_gpu_memory_bytes") is None
            else f"{f['peak_gpu_memory_bytes'] / 2**30:.2f} GiB",
            "-" if f.get("examples_per_s") is None else f"{f['examples_per_s']:.1f}")
           for f in c["gpu"]]
    used = _sentence(usage_text(data.usage_figures()))
    return (f"<p>{html.escape(used)} (from each job's first RUNNING poll to "
            "its end).</p><h3>Disk</h3>" + table(["folder", "size"], rows)
            + "<h3>Devices</h3>" + (table(["job", "device", "peak GPU memory", "examples/s"],
                                          gpu, left=2) if gpu else
                                    "<p class=note>No job result records its device.</p>"))


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _x_note(c: dict[str, Any]) -> str:
    if c["x"] != "examples":
        return "<p class=note>x axis: the training step (report.x=step).</p>"
    per = ", ".join(f"trial {n}: {k}" for n, k in sorted(c["examples_per_step"].items()))
    return ("<p class=note>x axis: examples seen (report.x=examples): the step times the "
            f"examples per step ({esc(per)}).</p>")


def render(c: dict[str, Any]) -> str:
    data: Summary = c["summary"]
    direction = ">=" if data.mode == "max" else "<="
    best = data.best
    head = (f"<p>Status <b>{esc(data.status)}</b>; target {esc(data.metric)} "
            f"{direction} {data.target:g} on the {esc(data.split)} split; best "
            + (f"{best.value:.4f} at trial {best.trial}, step {best.step}" if best
               else "none yet") + (f"; ended because {esc(data.reason)}"
                                   if data.reason else "") + "</p>")
    trials = table(["trial", "params", "state", "step", "best", "last", "why ended"],
                   [[r["trial"], r["params"], r["state"], r["step"], r["best"], r["last"],
                     r["why"]] for r in c["trials_table"]], left=7)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Search report</title>"
            f"<style>{STYLE}</style></head><body><h1>Search report</h1>{head}"
            f"<h2>{esc(data.metric)} per trial</h2>{metric_figure(c)}{_x_note(c)}"
            f"<h2>Trials</h2>{trials}"
            f"<h2>Training and validation curves</h2>{curves_figure(c)}"
            f"<h2>Best checkpoint: per-class scores</h2>{scores_section(c)}"
            "<h2>Job timeline</h2><p class=note>Grey: queue wait (submitted to the first poll "
            "that saw it RUNNING); colour: run time (blue training, green inference).</p>"
            f"{timeline_svg(c['timeline'])}<h2>Resources</h2>{resources_section(c)}"
            f"<p class=note>Written {time.strftime('%Y-%m-%d %H:%M:%S')} from journal.jsonl."
            "</p></body></html>\n")


def write_html(state: SearchState, rule: Rule, search_dir: Path, x: str | None = None,
               summary: Summary | None = None) -> Path:
    """Write report.html. A file the report reads but cannot make sense of (a foreign
    result, an edited trainer_state.json) gives a page that says so, never a failed search.
    `summary`: the one built for this write (files.write_outcome), else built here."""
    path = layout.html_path(search_dir)
    try:
        page = render(collect(state, rule, search_dir, time.time(), x, summary))
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Search report"
                f"</title></head><body><h1>Search report</h1><p>report.html could not be "
                f"drawn: {esc(type(exc).__name__)}: {esc(exc)}; report.md has the outcome."
                "</p></body></html>\n")
    atomic_write_text(path, page)
    return path
