"""The page's `multinode` section: one fixed tiny-BERT training on 1 node and on 2 (gloo),
examples/s and the training job's wall time side by side (bench.phases.multinode)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bench.page.report import fmt, table
from bench.page.template import fill, num
from bench.phases.multinode import QUIET_WAIT_S

Obj = Mapping[str, Any]


def _others(jobs: list[str]) -> str:
    """`id|name` rows as `id (name)`: a bare `|` would split the Markdown table's cell."""
    return ", ".join("{} ({})".format(*job.split("|", 1)) if "|" in job else job
                     for job in jobs) or "none"


def multinode(raw: Obj) -> str:
    """The section, or nothing when the phase did not run."""
    mn: Obj | None = raw.get("multinode")
    if not mn:
        return ""
    rows = []
    for key in sorted(mn["runs"], key=int):
        run: Obj = mn["runs"][key]
        rows.append([str(run["nodes"]), str(run["per_device_batch"]),
                     num(run.get("examples_per_s"), 1), num(run.get("train_seconds"), 1),
                     num(run.get("job_elapsed_s"), 0), str(run.get("node_list") or "-"),
                     str(run.get("job_state") or "-"),
                     _others(run.get("others_running", []))])
    return fill("multinode", steps=mn["steps"], batch=mn["global_batch"],
                cpus=mn["cpus_per_task"], partition=mn["partition"],
                ratio=fmt(mn.get("examples_per_s_ratio"), 2),
                elapsed_ratio=fmt(mn.get("job_elapsed_ratio"), 2), quiet=f"{QUIET_WAIT_S:g}",
                table=table(["nodes", "per-device batch", "examples/s (all ranks)",
                             "train s (Trainer)", "job wall s (sacct Elapsed)", "nodes used",
                             "state", "others' jobs running (start or end)"], rows))
