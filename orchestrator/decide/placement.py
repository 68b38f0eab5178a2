"""Where evaluations run (`infer.placement`): pure decisions over what the controller knows.

Theory of operation. An evaluation attempt is always journaled the same way (intent, then
its id; orchestrator.engine.submissions), so retries, concurrency limits and the stop rule do not
care where it runs. Only its queue differs (`queue_for`):
- `job`: none; one inference job per checkpoint, each waiting in the scheduler's queue;
- `worker`: the `workers` work queue (orchestrator.placement.work_queue), served by `infer.workers`
  long-lived worker jobs. A worker is submitted when the search starts, so that its queue
  wait passes while training waits and runs, and again whenever a task waits with no worker
  live (the last one exited idle, or died: its claimed task is then LOST and retried; a
  worker preempted or lost with its node puts none at fault: its claims go back to the
  queue, `runner_preempted`). A
  slot whose workers failed more than `search.eval_retries` times is closed; once every
  slot is closed the queue has no evaluator and evaluations go to jobs (`serving`);
- `with_training`: the trial's own queue, served by the evaluator beside its training, in
  the training job's allocation, while that job lives; a checkpoint found after it ended,
  or between two training attempts, goes to a job.
A task whose evaluator is gone (its job ended while it was claimed, or its queue has no
evaluator left) is LOST (orchestrator.placement.tasks) and retried like a lost job.
"""

from __future__ import annotations

from orchestrator.common.causes import OOM
from orchestrator.common.layout import WORKERS, trial_queue
from orchestrator.config.settings import Placement, Settings
from orchestrator.model.state import JobRecord, SearchState
from orchestrator.model.transitions import FAILURES, REQUEUABLE_ENDS, JobKind, JobState

PLACEMENTS = tuple(Placement)
# a worker job's `trial` in the journal (it serves every trial); its `step` is its slot
WORKER_TRIAL = 0


def problems(s: Settings) -> list[str]:
    """The infer.placement keys' configuration problems, one line each."""
    infer, p = s.infer, []
    if infer.placement not in PLACEMENTS:
        p.append(f"infer.placement={infer.placement!r}: use one of {', '.join(PLACEMENTS)}")
    elif infer.placement != Placement.JOB and s.executor.name == "debug":
        p.append(f"infer.placement={infer.placement}: the debug executor runs each job inside "
                 "the controller, one at a time, so a long-lived evaluator would never return; "
                 "use executor=local (or infer.placement=job)")
    if infer.workers < 1:
        p.append(f"infer.workers={infer.workers}: must be >= 1")
    if infer.worker_idle_s <= 0:
        p.append(f"infer.worker_idle_s={infer.worker_idle_s:g}: must be > 0 (seconds)")
    if infer.task_timeout_s < 0:
        p.append(f"infer.task_timeout_s={infer.task_timeout_s:g}: must be >= 0 (seconds; 0: "
                 "executor.infer.timeout_min)")
    return p


def worker_attempts(state: SearchState, slot: int) -> list[JobRecord]:
    return state.attempts(JobKind.WORKER, WORKER_TRIAL, slot)


def _finished_by(state: SearchState, job: JobRecord) -> bool:
    """Whether a worker finished at least one task (evaluated it, or failed it itself)."""
    return job.job_id is not None and any(
        t.queue and t.runner == job.job_id and t.state in (JobState.SUCCEEDED, JobState.FAILED)
        for t in state.jobs.values())


def _closed(state: SearchState, attempts: list[JobRecord], eval_retries: int) -> bool:
    """A worker slot gives up after more than eval_retries workers in a row that failed,
    or ended without finishing a task although one waited (every worker after the first is
    submitted for a waiting task: one that takes none is broken, e.g. its environment). A
    worker that finished a task, whatever its end, starts the count again."""
    in_a_row = 0
    for n, job in reversed(list(enumerate(attempts))):
        if not job.state.terminal:
            continue
        if _finished_by(state, job):
            break
        if job.state in (JobState.PREEMPTED, JobState.REPLACED):
            continue  # nothing failed: the scheduler took its nodes, or held it
        if job.state in FAILURES or n > 0:
            in_a_row += 1
    return in_a_row > eval_retries


def _busy(job: JobRecord) -> bool:
    """Live, or journaled as intended and not yet settled."""
    return job.live or (job.job_id is None and not job.abandoned)


def serving(state: SearchState, settings: Settings, queue: str) -> bool:
    """Whether an evaluator takes this queue's tasks now, or will (a worker still to come)."""
    if queue == WORKERS:
        return any(not _closed(state, worker_attempts(state, slot), settings.search.eval_retries)
                   for slot in range(1, settings.infer.workers + 1))
    trial = int(queue.removeprefix("trial-"))
    training = state.attempts(JobKind.TRAIN, trial)
    return bool(training) and training[-1].live


def queue_for(state: SearchState, settings: Settings, trial: int,
              attempts: list[JobRecord] | None = None) -> str:
    """The work queue of a new evaluation attempt of `trial`; "" for a job. A checkpoint
    whose evaluation ran out of memory in an evaluator (beside training, say) goes to a
    job: the same evaluator would run out again."""
    placement = settings.infer.placement
    queue = {"worker": WORKERS, "with_training": trial_queue(trial)}.get(placement, "")
    if any(a.queue and a.cause == OOM for a in attempts or ()):
        return ""
    return queue if queue and serving(state, settings, queue) else ""


def _waiting(state: SearchState) -> int:
    """Tasks of the workers' queue that no worker has taken yet (as far as the journal says:
    a task claimed since the last poll still counts)."""
    return sum(1 for j in state.jobs.values()
               if j.queue == WORKERS and _busy(j) and j.state is not JobState.RUNNING)


def workers_due(state: SearchState, settings: Settings) -> list[tuple[int, int]]:
    """The worker jobs to submit now, as (slot, attempt): every slot when the search
    starts; later, one per waiting task beyond the workers alive."""
    if (settings.infer.placement != Placement.WORKER or state.finished is not None
            or not state.active_trials()):
        return []
    slots = {slot: worker_attempts(state, slot) for slot in range(1, settings.infer.workers + 1)}
    alive = sum(1 for attempts in slots.values() if attempts and _busy(attempts[-1]))
    waiting, due = _waiting(state), list[tuple[int, int]]()
    for slot, attempts in slots.items():
        if attempts and _busy(attempts[-1]):
            continue
        if _closed(state, attempts, settings.search.eval_retries):
            continue
        if not attempts or waiting > alive + len(due):
            due.append((slot, len(attempts)))
    return due


def runner_ended(state: SearchState, runner: str) -> bool:
    """Whether the job an evaluator ran in (a worker, or a training job) has ended; a job
    this search does not know is taken as alive (its claim is not taken away)."""
    jobs = [j for j in state.jobs.values() if j.job_id == runner and not j.queue]
    # SLURM may give an ended job's id to a new one (and a pid comes back): alive if any is
    return bool(jobs) and all(j.state.terminal for j in jobs)


def runner_preempted(state: SearchState, runner: str) -> bool:
    """Whether the job an evaluator ran in has ended through no fault of its own or its
    tasks' (REQUEUABLE_ENDS: preempted, its node lost, held and replaced): the tasks it had
    claimed go back to the queue rather than failing."""
    jobs = [j for j in state.jobs.values() if j.job_id == runner and not j.queue]
    return bool(jobs) and all(j.state in REQUEUABLE_ENDS for j in jobs)
