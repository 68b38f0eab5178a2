"""The scheduler: the only package that talks to submitit and SLURM.

Theory of operation: the controller knows a job only by its id, folder and name (`JobRef`)
and talks to the `Scheduler` interface (`interface`); each backend rebuilds submitit's job
object from a `JobRef` alone whenever it needs one, so a fresh controller re-attaches to the
jobs of a killed one without pickled state. Raw states (sacct's `State`, a local process's
exit, a debug run's outcome) are mapped onto `JobState` inside the backend and nowhere else.

- `interface`: JobRequest, JobRef and the Scheduler protocol.
- `submitit_jobs`: what the three backends share (the job's callable, its failure, its logs,
  the submission template); `slurm`, `local`, `debug`: one module per submitit executor.
- `slurm_parse`: what sacct and squeue print, read (pure), and sacct's states as JobState.
- `slurm_nodes`: which node a NODE_FAIL'd job lost (sacct's NodeList, sinfo's states).
- `sbatch_values`: what we write into sbatch and srun options (`--mem`, --kill-on-bad-exit,
  submitit's SlurmExecutor parameters of a request).
- `commands`: the one place where sacct, squeue, scancel and `sbatch --test-only` are run
  (without the user's SACCT_*/SQUEUE_*/... settings), counted, a silent slurmctld turned
  into SchedulerUnavailable and one that rate-limits backed off from.
- `rendezvous`: the MASTER_PORT of a several-task job, one per SLURM job and step.
- `in_job`: what a submitted job runs, inside the job's process (never in the controller);
  `orphan_watch`: the thread in it that ends the job once its controller is gone.

A dry-run (`render`) is built by the same executor builder a submission uses, so the script
shown is the script sent. Importing this package imports no backend (nor submitit):
`make_scheduler` imports the one it is asked for.

May import: common, model.transitions, config.settings, placement.work_queue.
(`in_job` runs a user's script per task as a job runs it; the interface names job states.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from orchestrator.scheduler.interface import JobRef, JobRequest, Scheduler

if TYPE_CHECKING:
    from orchestrator.scheduler.submitit_jobs import SubmititBackend


def _slurm() -> type[SubmititBackend]:
    from orchestrator.scheduler.slurm import SlurmScheduler

    return SlurmScheduler


def _local() -> type[SubmititBackend]:
    from orchestrator.scheduler.local import LocalScheduler

    return LocalScheduler


def _debug() -> type[SubmititBackend]:
    from orchestrator.scheduler.debug import DebugScheduler

    return DebugScheduler


# executor name -> its backend class, imported only when asked for
BACKENDS: dict[str, Callable[[], type[SubmititBackend]]] = {
    "local": _local, "debug": _debug, "slurm": _slurm}


def make_scheduler(cluster: str, interactive: bool | None = None) -> SubmititBackend:
    """The backend for `executor=<cluster>`. `interactive` (default: stdin is a terminal)
    lets the debug backend open pdb on a job's exception."""
    if cluster not in BACKENDS:
        raise ValueError(f"unknown executor {cluster!r}; expected one of {', '.join(BACKENDS)}")
    return BACKENDS[cluster]()(interactive)


__all__ = ["BACKENDS", "JobRef", "JobRequest", "Scheduler", "make_scheduler"]
