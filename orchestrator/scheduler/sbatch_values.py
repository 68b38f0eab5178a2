"""Values the SLURM backend writes into sbatch and srun options (pure but for reading a
setup template): submitit's SlurmExecutor parameters of a request.

sbatch reads `--mem` as a whole number with a unit (`1.5GB` is refused: "Invalid --mem
specification"), and a job of several tasks must end when one rank fails: the others would
wait in the collective for `ddp_timeout` (30 minutes), holding every GPU.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from orchestrator.config.settings import JobResources
from orchestrator.scheduler.interface import JobRequest

KILL_ON_BAD_EXIT = "--kill-on-bad-exit=1"


def mem_option(mem_gb: float) -> str | None:
    """`--mem`'s value for `mem_gb` GB: whole GB as before (`2GB`), else whole MB rounded up
    (`1.5` -> `1536M`, the alias `mem=500M` -> `500M`); None for 0 (the cluster's default)."""
    if mem_gb <= 0:
        return None
    if float(mem_gb).is_integer():
        return f"{int(mem_gb)}GB"
    # round() first: 500/1024*1024 is 499.99999999999994, not a reason to ask for 501M
    return f"{max(1, math.ceil(round(mem_gb * 1024, 6)))}M"


def srun_args(res: JobResources) -> list[str]:
    """The srun options of the job's tasks: the user's, and --kill-on-bad-exit=1 when it runs
    several tasks (unless the user chose a --kill-on-bad-exit of their own)."""
    args = list(res.srun_args)
    several = res.nodes * res.tasks_per_node > 1
    if several and not any(a.startswith(("--kill-on-bad-exit", "-K")) for a in args):
        args.append(KILL_ON_BAD_EXIT)
    return args


def slurm_parameters(request: JobRequest) -> dict[str, Any]:
    """submitit's SlurmExecutor parameters (sbatch options) for `request`."""
    res: JobResources = request.resources
    params: dict[str, Any] = {
        "job_name": request.name,
        "time": res.timeout_min,
        "nodes": res.nodes,
        "ntasks_per_node": res.tasks_per_node,
        "cpus_per_task": res.cpus_per_task,
        "setup": list(_setup_lines(res)),
        "additional_parameters": dict(res.additional),
        "srun_args": srun_args(res),
        "stderr_to_stdout": False,
        "signal_delay_s": res.signal_delay_s,
    }
    optional: dict[str, Any] = {
        "partition": res.partition,
        "account": res.account,
        "qos": res.qos,
        "constraint": res.constraint,
        "gpus_per_node": res.gpus_per_node or None,
        "mem": mem_option(res.mem_gb),
    }
    params.update({k: v for k, v in optional.items() if v})
    return params


def _setup_lines(res: JobResources) -> list[str]:
    lines: list[str] = []
    if res.setup_template:
        text = Path(res.setup_template).read_text(encoding="utf-8")
        lines += [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#!")]
    return lines + list(res.setup)
