"""`orchestrator run ... --detach`: a controller that outlives the terminal and the login node.

Theory of operation. The detaching process composes and checks the configuration as `run`
does (so a mistake is reported at once, on the terminal), then starts the same `run`
command, less `--detach` and with `--plain`, somewhere that survives it:
- executor=local: a background process in a new session (no terminal, stdin /dev/null),
  its output appended to `layout.controller_log_path`;
- executor=slurm: a small SLURM job (`executor.controller.*`), submitted through the
  scheduler package like any job of the search, named with the key `controller`; it is
  requeued by submitit before its time limit (and on preemption) and the new run resumes
  from the journal. Its id is kept in `layout.controller_job_path`.
With search.snapshot on, the controller runs the frozen code as the jobs do
(engine.snapshot.for_controller picks the snapshot: the journal's, or the code now, copied),
first on its PYTHONPATH: editing the checkout while it waits in the queue, or before it is
requeued, changes nothing. The search's lock keeps exactly one controller whatever is
started twice, and the
journal's recovery keeps anything from being submitted twice, so detaching again after a
controller died (or was scancel'ed) simply resumes the search.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator import exit_codes
from orchestrator.common import layout
from orchestrator.common.fsutil import atomic_write_json, make_search_dir
from orchestrator.config.settings import JobResources, Settings
from orchestrator.engine import folder_checks, snapshot
from orchestrator.journal import state_snapshot
from orchestrator.journal.lock import read_holder
from orchestrator.model.transitions import JobKind, JobState
from orchestrator.scheduler import JobRef, JobRequest, make_scheduler

START_WAIT_S = 20.0  # how long to watch the background controller take the search's lock


def controller_argv(argv: Sequence[str]) -> list[str]:
    """The `run` command a detached controller runs: the user's own, less --detach, plain."""
    args = [a for a in argv if a != "--detach"]
    return [*args, "--plain"] if "--plain" not in args else args


def follow_lines(search_dir: Path) -> str:
    return (f"follow it:  orchestrator watch {search_dir}\n"
            f"state:      orchestrator status {search_dir}\n"
            f"stop it:    orchestrator cancel {search_dir}\n")


def frozen_code(settings: Settings, argv: Sequence[str]) -> Path | None:
    """The snapshot the detached controller runs (None: the code in place); a resume whose
    code differs is told so here, on the terminal."""
    search_dir = Path(settings.search.dir)
    before = state_snapshot.fold(search_dir).facts.code if search_dir.is_dir() else None
    code, lines = snapshot.for_controller(settings, before, "--force-resume" in argv)
    for line in lines:
        print(line, file=sys.stderr, flush=True)
    return code


def controller_env(code: Path | None, environ: dict[str, str]) -> dict[str, str]:
    """A local detached controller's environment: with a snapshot, its code first on
    PYTHONPATH and not the current directory (as scheduler.submitit_jobs does for a job)."""
    if code is None:
        return environ
    path = os.pathsep.join(p for p in (str(code), environ.get("PYTHONPATH", "")) if p)
    return {**environ, "PYTHONPATH": path, "PYTHONSAFEPATH": "1"}


def launch_local(search_dir: Path, argv: Sequence[str], shared: bool = False,
                 code: Path | None = None) -> tuple[str, int]:
    """Start the controller in the background (from the snapshot `code`, if any); the text
    to print and the exit status (0 once it holds the search's lock, else its own exit
    status, its log's tail printed)."""
    make_search_dir(search_dir, shared)
    log = layout.controller_log_path(search_dir)
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "orchestrator", *controller_argv(argv)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True,
                                env=controller_env(code, dict(os.environ)))
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        ended = proc.poll()
        if ended is not None:
            tail = log.read_text(errors="replace").splitlines()[-5:]
            return ("the detached controller ended at once:\n" + "\n".join(tail) + "\n",
                    ended)
        holder = read_holder(search_dir)
        if holder is not None and holder.get("pid") == proc.pid:
            break
        time.sleep(0.2)
    return (f"controller running in the background: pid {proc.pid} on {os.uname().nodename}\n"
            f"log:        {log}\n" + follow_lines(search_dir), 0)


def detach(settings: Settings, argv: Sequence[str], force_resume: bool = False
           ) -> tuple[str, int]:
    """`run --detach`: on the executor the search uses, once the search folder passes what
    `run` checks before it submits anything (a detached controller would only say it in its
    job's log, after the queue wait)."""
    search_dir = Path(settings.search.dir)
    # read only: no lock, nothing written
    folder_checks.check(state_snapshot.fold(search_dir).state, settings, force_resume)
    if settings.executor.name == "slurm":
        return submit_controller(settings, argv)
    make_search_dir(search_dir, settings.search.shared)
    return launch_local(search_dir, argv, settings.search.shared,
                        frozen_code(settings, argv))


CONTROLLER_KEY = "controller"


def controller_request(settings: Settings, argv: Sequence[str],
                       code: Path | None = None) -> JobRequest:
    """The controller's own job: `run` again, in a job named like the search's others, from
    the snapshot `code` when there is one."""
    e, c = settings.executor, settings.executor.controller
    search_dir = Path(settings.search.dir)
    mail: dict[str, str | int | bool] = {
        k: v for k, v in (("mail_user", c.mail_user), ("mail_type", c.mail_type)) if v}
    resources = JobResources(
        timeout_min=c.timeout_min, cpus_per_task=1, mem_gb=c.mem_gb,
        partition=c.partition or e.partition, account=c.account or e.account,
        qos=c.qos or e.qos, setup_template=c.setup_template or e.setup_template,
        setup=c.setup or e.setup, python=c.python or e.python, additional=mail,
        signal_delay_s=c.signal_delay_s, max_requeues=c.max_requeues)
    return JobRequest(key=CONTROLLER_KEY, kind=JobKind.CONTROLLER,
                      name=layout.job_name(search_dir, CONTROLLER_KEY),
                      folder=layout.job_folder(search_dir, CONTROLLER_KEY),
                      resources=resources, target="orchestrator.engine.detach:controller_job",
                      spec=[*controller_argv(argv)], snapshot=str(code) if code else "")


def controller_job(argv: list[str]) -> int:
    """What the controller's SLURM job runs (in the job): `orchestrator run ...` to its end.
    A search that ended (any of its own statuses) is a job that succeeded; a requeue before
    the time limit is submitit's (the scheduler package wraps this as checkpointable)."""
    code = subprocess.call([sys.executable, "-m", "orchestrator", *argv],
                           stdin=subprocess.DEVNULL)
    if code not in exit_codes.SEARCH_ENDED:
        raise RuntimeError(f"the controller exited with status {code}; see this job's log")
    return code


def submit_controller(settings: Settings, argv: Sequence[str]) -> tuple[str, int]:
    """Submit the controller's job, unless one is queued or running already (found by its
    name); record its id in controller-job.json."""
    search_dir = Path(settings.search.dir)
    make_search_dir(search_dir, settings.search.shared)
    scheduler = make_scheduler("slurm", interactive=False)
    request = controller_request(settings, argv)  # its name, to find one already queued
    existing = scheduler.recover(request)
    if existing is not None:
        state = _settled(scheduler, JobRef(existing, request.folder, request.name))
        if not state.terminal:
            _record(search_dir, existing, request)
            return (f"the search's controller already runs as SLURM job {existing} "
                    f"({state.value})\n" + follow_lines(search_dir), 0)
    request = controller_request(settings, argv, frozen_code(settings, argv))
    job_id = scheduler.submit(request)
    _record(search_dir, job_id, request)
    return (f"controller submitted as SLURM job {job_id} ({request.name})\n"
            f"log:        {request.folder}/{job_id}_0_log.out\n" + follow_lines(search_dir), 0)


def _settled(scheduler: Any, ref: JobRef, tries: int = 10, wait_s: float = 2.0) -> JobState:
    """The job's state once sacct knows it: a job that just ended (a controller killed a
    moment ago) is UNKNOWN for a few seconds, and UNKNOWN must not read as "still running",
    nor as "gone" (that would run two controllers): asked again, then taken as running."""
    state = JobState.UNKNOWN
    for attempt in range(tries):
        state = scheduler.poll([ref])[ref.job_id]
        if state is not JobState.UNKNOWN:
            break
        if attempt < tries - 1:
            time.sleep(wait_s)
    return state


def _record(search_dir: Path, job_id: str, request: JobRequest) -> None:
    atomic_write_json(layout.controller_job_path(search_dir),
                      {"job_id": job_id, "name": request.name, "folder": str(request.folder),
                       "t": time.time()})


def detached_job(search_dir: Path) -> JobRef | None:
    """The detached SLURM controller's job, as recorded; None when there is none."""
    import json

    try:
        data = json.loads(layout.controller_job_path(search_dir).read_text(encoding="utf-8"))
        return JobRef(str(data["job_id"]), Path(data["folder"]), str(data["name"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def detached_state(search_dir: Path) -> str | None:
    """The state of the detached controller's job (one sacct call), when it is queued or
    running; None when there is none or it ended."""
    ref = detached_job(search_dir)
    if ref is None:
        return None
    state = make_scheduler("slurm", interactive=False).poll([ref])[ref.job_id]
    return None if state.terminal else state.value
