"""Before anything is submitted: would the scheduler accept the search's jobs?

On SLURM, `sbatch --test-only` (through the scheduler adapter) is given the scripts of the
first training job and of an inference job exactly as they would be submitted; every option
slurmctld refuses becomes one configuration problem naming the key to fix. A scheduler that
does not answer is not a refusal: the search goes on (a resume must not wait for slurmctld)
and the controller's own retries take over.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

from orchestrator.config.settings import SHARED_RESOURCES, ExecutorSettings, Settings
from orchestrator.engine import job_requests
from orchestrator.errors import ConfigError, SchedulerUnavailable
from orchestrator.scheduler import JobRequest

# what to run to find a value the cluster accepts, per JobResources field
HINTS = {
    "partition": "use a partition from 'sinfo -s'",
    "account": "use an account from 'sacctmgr show assoc user=$USER format=account,partition'",
    "qos": "use a QOS from 'sacctmgr show assoc user=$USER format=account,qos'",
    "constraint": "use a node feature from 'sinfo -o \"%P %f\"'",
    "timeout_min": "stay within the partition's time limit ('sinfo -o \"%P %l\"')",
    "cpus_per_task": "ask for what a node has ('sinfo -N -o \"%P %c %m %G\"')",
    "mem_gb": "ask for what a node has ('sinfo -N -o \"%P %c %m %G\"')",
    "gpus_per_node": "ask for GPUs on a partition that has them ('sinfo -o \"%P %G\"')",
    "nodes": "ask for no more nodes than the partition has ('sinfo -s')",
}


class RefusalLike(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def field(self) -> str: ...
    @property
    def reason(self) -> str: ...


class Refused(NamedTuple):
    kind: str
    field: str
    reason: str


class Asks(Protocol):
    def preflight(self, requests: Sequence[JobRequest]) -> Sequence[RefusalLike]: ...


def first_requests(settings: Settings) -> list[JobRequest]:
    """The search's first jobs as they will be submitted (job_requests.first_requests)."""
    return job_requests.first_requests(settings)


def resources_of(kind: str) -> str:
    """The executor.<key> whose resources a kind of job asks for: a worker job, infer's."""
    return "infer" if kind == "worker" else kind


def key_of(executor: ExecutorSettings, kind: str, field: str) -> str:
    """The key a user set for `field` of `kind` jobs: the shared executor.<field> when the
    kind's value came from it, else executor.<kind>.<field>."""
    own = getattr(getattr(executor, kind), field)
    if field in SHARED_RESOURCES and own and getattr(executor, field) == own:
        return f"executor.{field}"
    return f"executor.{kind}.{field}"


def refusal_lines(executor: ExecutorSettings, refusals: Sequence[RefusalLike]) -> list[str]:
    """One actionable line per refusal (a shared key refused for both kinds: once)."""
    lines: list[str] = []
    for refused in refusals:
        r = Refused(resources_of(refused.kind), refused.field, refused.reason)
        if r.field:
            value: Any = getattr(getattr(executor, r.kind), r.field)
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            line = (f"{key_of(executor, r.kind, r.field)}={shown}: SLURM refuses it "
                    f"({r.reason}); {HINTS.get(r.field, 'see sbatch --help')}")
        else:
            line = (f"executor.{r.kind}: SLURM refuses the {r.kind} jobs ({r.reason}); "
                    f"check what executor.{r.kind} asks for (cpus_per_task, mem_gb, "
                    "gpus_per_node, nodes, timeout_min) against 'sinfo -N -o \"%P %c %m %G "
                    "%l\"' and your limits in 'sacctmgr show assoc user=$USER'; --dry-run "
                    "prints the script")
        if line not in lines:
            lines.append(line)
    return lines


def check(settings: Settings, scheduler: Asks) -> None:
    """Raise ConfigError with every refusal; warn and go on when nobody answers."""
    try:
        refusals = scheduler.preflight(first_requests(settings))
    except SchedulerUnavailable as exc:
        print(f"warning: cannot ask the scheduler whether it accepts the jobs ({exc}); "
              "going on: submissions are retried until it answers", file=sys.stderr,
              flush=True)
        return
    lines = refusal_lines(settings.executor, refusals)
    if lines:
        raise ConfigError(lines)
