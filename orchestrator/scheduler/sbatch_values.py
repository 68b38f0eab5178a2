"""Values the SLURM backend writes into sbatch and srun options (pure).

sbatch reads `--mem` as a whole number with a unit (`1.5GB` is refused: "Invalid --mem
specification"), and a job of several tasks must end when one rank fails: the others would
wait in the collective for `ddp_timeout` (30 minutes), holding every GPU.
"""

from __future__ import annotations

import math

from orchestrator.config.settings import JobResources

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
