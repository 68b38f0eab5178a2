"""The rendezvous port of a several-task job: one per SLURM job and step, so that two
multi-node jobs sharing a node never ask for the same port.

submitit's TorchDistributedEnvironment draws MASTER_PORT at random from 20000..60000 seeded
by the job id (two concurrent jobs collide with a small but real chance, and the draw falls
in Linux's ephemeral range, 32768..60999, where outgoing connections take ports), and it
keeps a MASTER_PORT inherited from the submitting shell (sbatch exports the controller's
environment: every job would get the same port). Here the port is a function of the job id
and the step id alone: PORT_LOW + (job_id * STEPS + step % STEPS) % PORT_SPAN. Jobs whose
ids are fewer than PORT_SPAN / STEPS (5,000) apart never share a port, and a requeued job
(same id) gets its own port back, its earlier run being over.
"""

from __future__ import annotations

import zlib

# 12000..31999: above the well-known and most registered service ports, below the
# ephemeral range (net.ipv4.ip_local_port_range 32768 60999 by default)
PORT_LOW = 12000
PORT_SPAN = 20000
STEPS = 4  # srun steps of one job told apart; more wrap around to the first ones


def port_for(job_id: str, step_id: str = "0") -> int:
    """The rendezvous port of step `step_id` of job `job_id` (SLURM's ids; a non-numeric
    id, as the debug executor's, is hashed)."""
    base = job_id.split("_")[0]  # an array task "123_4": SLURM_JOB_ID is its own id anyway
    number = int(base) if base.isdigit() else zlib.crc32(job_id.encode())
    step = int(step_id) if step_id.isdigit() else 0
    return PORT_LOW + (number * STEPS + step % STEPS) % PORT_SPAN
