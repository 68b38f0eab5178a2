"""What the search's jobs held, by kind: job-hours, GPU-hours, and the workers' idle hours.

A pure function of the journaled state. A job holds its resources from its first RUNNING
poll to its end (JobRecord.seconds); a GPU-hour is one of those hours times the GPUs the job
asked for (`executor.<train|infer>.gpus_per_node` x `nodes`; a worker job asks for the
inference resources), as the latest run's settings say: the journal keeps settings per run,
not per job, and GPUs asked for only through `executor.*.additional` are not seen.

A worker job (infer.placement=worker) is idle while it holds its allocation without an
evaluation: its held time less the seconds it spent on its tasks, as it wrote them in each
task's done or failed file (work_queue.finish); for a task without them (a live one, or an
evaluator of an earlier version), from the poll that saw it claimed to the poll that saw
it end. An evaluator beside training holds nothing of its own: its time is the training
job's.
"""

from __future__ import annotations

from typing import Any

from orchestrator.model.state import JobRecord, SearchState
from orchestrator.model.transitions import JobKind

KINDS = ("train", "infer", "worker")


def usage(state: SearchState, now: float) -> dict[str, Any]:
    """{job_hours_by_kind, gpu_hours, worker_idle_hours}, each rounded to 4 decimals."""
    gpus = _gpus(state.settings())
    by_kind = dict.fromkeys(KINDS, 0.0)
    gpu_s = 0.0
    for job in state.jobs.values():
        held = job.seconds(now)
        by_kind[job.kind] = by_kind.get(job.kind, 0.0) + held
        gpu_s += held * gpus.get(job.kind, 0)
    return {"job_hours_by_kind": {kind: round(s / 3600.0, 4) for kind, s in by_kind.items()},
            "gpu_hours": round(gpu_s / 3600.0, 4),
            "worker_idle_hours": round(_worker_idle_s(state, now) / 3600.0, 4)}


def _gpus(settings: dict[str, Any]) -> dict[str, int]:
    executor = settings.get("executor", {})

    def per_job(kind: str) -> int:
        res = executor.get(kind, {})
        return int(res.get("gpus_per_node", 0) or 0) * int(res.get("nodes", 1) or 1)

    return {"train": per_job("train"), "infer": per_job("infer"), "worker": per_job("infer")}


def _worker_idle_s(state: SearchState, now: float) -> float:
    busy: dict[str, float] = {}
    for task in state.jobs.values():
        if task.queue and task.runner:
            busy[task.runner] = busy.get(task.runner, 0.0) + _task_s(task, now)
    return sum(max(0.0, job.seconds(now) - busy.get(job.job_id or "", 0.0))
               for job in state.jobs.values() if job.kind == JobKind.WORKER)


def _task_s(task: JobRecord, now: float) -> float:
    return task.held_s or task.span(now)


def usage_text(data: dict[str, Any]) -> str:
    """The reports' sentence, from summary.json: job-hours by kind, the workers' idle part,
    and the GPU-hours when any job asked for a GPU."""
    kinds = data.get("job_hours_by_kind") or {}
    parts = [f"{kind} {hours:.3f}" + (f", {data.get('worker_idle_hours', 0.0):.3f} of it idle"
                                      if kind == JobKind.WORKER else "")
             for kind, hours in kinds.items() if hours]
    line = f"job-hours used: {data['job_hours']:.3f}" + (f" ({'; '.join(parts)})"
                                                          if parts else "")
    if data.get("gpu_hours"):
        line += f"; GPU-hours: {data['gpu_hours']:.3f}"
    return line
