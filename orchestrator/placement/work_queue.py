"""The evaluation work queue: how the controller hands checkpoints to long-lived evaluators.

Theory of operation. With `infer.placement=worker` (long-lived inference jobs) or
`with_training` (an evaluator beside training, in the training job's own allocation) an
evaluation is a task, not a job. The controller and the evaluators meet only through files
under `<search.dir>/evaluators/<queue>/`; the queue is `workers`, or `trial-NNN` for the
evaluator inside trial NNN's training job:

    posted/<key>.json            the controller posted a task (an atomic write). The key is
                                 the evaluation attempt's, as a job's: infer-tNNN-sSSSSSSSS-aA
    claimed/<key>@<runner>.json  an evaluator took it: a rename, so exactly one of several wins
    done/<key>@<runner>.json     it wrote the task's result, rewrote its claim with held_s
                                 (its seconds on the task), then moved the claim here
    failed/<key>@<runner>.json   it could not: the task with {cause, reason, held_s}, written
                                 atomically before the claim is removed
    stop                         the controller's word: exit after the current task
    training_ended               with_training: the training beside the evaluator returned
    runners/<runner>.json        each evaluator's heartbeat ({runner, pid, host, task, t, ...})

A task moves forward (posted, claimed, then done or failed), so `snapshot` lists the folders
in that order and the latest place a key is found in wins: a task that moves while the
folders are listed is seen where it went. The one move back, `repost` (a claim of an
evaluator whose job was preempted, or requeued under its id, is put back in posted/), may
hide a task from one listing: the controller believes a task gone only after a grace. A key
found nowhere was withdrawn (the controller's cancel) or lost with its folder. <runner> is
the scheduler's id of the job the evaluator runs in (the worker job's, or the training
job's): the controller journals it as the job that did the evaluation, and knows the
evaluator is gone when that job has ended while one of its claims is still open. Standard
library only: the jobs import it as well as the controller.
"""

from __future__ import annotations

import enum
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchestrator.common import causes, layout
from orchestrator.common.fsutil import atomic_write_json, atomic_write_text

TASK_PREFIX = "task:"  # a task's id in the journal, where a job's id would be: task:<key>
POSTED, CLAIMED, DONE, FAILED, RUNNERS = "posted", "claimed", "done", "failed", "runners"
STOP_FILE = "stop"
TRAINING_ENDED_FILE = "training_ended"
# an evaluator's exit status when a built-in evaluation ran over its limit (jobs.worker):
# beside training, such an exit is not one of the evaluator's restarts (in_job.beside)
EXIT_OVERRAN = 75
_KEY = re.compile(r"^infer-t(\d+)-s(\d+)-a(\d+)$")


def queue_dir(search_dir: str | os.PathLike[str], queue: str) -> Path:
    return layout.queue_dir(Path(search_dir), queue)


@dataclass(frozen=True)
class Task:
    """One evaluation: a checkpoint, and where its result goes. `command` is a user's
    inference script (infer.command), its stdout kept in `result`; empty: the built-in job,
    whose JSON result goes to `result`."""

    key: str
    trial: int
    step: int
    checkpoint: str
    result: str
    command: tuple[str, ...] = ()

    @classmethod
    def read(cls, path: Path) -> Task:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))

    @classmethod
    def read_own(cls, path: Path) -> Task:
        """The task in `path`, only if this process's own user wrote it (PermissionError
        otherwise, and for a symbolic link): a worker runs a task's command as its owner,
        so a task that anyone else could post (a group-writable search.dir) is never run."""
        with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), encoding="utf-8") as handle:
            owner = os.fstat(handle.fileno()).st_uid
            if owner != os.geteuid():
                raise PermissionError(f"it belongs to uid {owner}, not to this search's "
                                      f"owner (uid {os.geteuid()})")
            return cls.from_json(json.load(handle))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Task:
        return cls(key=data["key"], trial=int(data["trial"]), step=int(data["step"]),
                   checkpoint=data["checkpoint"], result=data["result"],
                   command=tuple(data.get("command") or ()))

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "command": list(self.command)}


class Where(enum.Enum):
    POSTED = "posted"
    CLAIMED = "claimed"
    DONE = "done"
    FAILED = "failed"
    MISSING = "missing"  # withdrawn, or never posted


@dataclass(frozen=True)
class Found:
    where: Where
    runner: str = ""  # the job id of the evaluator that claimed it
    cause: str | None = None  # FAILED: input | oom | nan | other (orchestrator.common.causes)
    reason: str = ""  # FAILED: one line
    held_s: float = 0.0  # FAILED: the evaluator's seconds on it (DONE: see `held_s`)


MISSING = Found(Where.MISSING)


def _claim_name(key: str, runner: str) -> str:
    return f"{key}@{runner}.json"


def _split(name: str) -> tuple[str, str]:
    """(key, runner) of a claimed, done or failed file's name."""
    stem = name.removesuffix(".json")
    key, _, runner = stem.partition("@")
    return key, runner


def _names(folder: Path) -> list[str]:
    """The task files in `folder`: not the temporary files of an atomic write (dot files)."""
    try:
        return [n for n in os.listdir(folder) if n.endswith(".json") and not n.startswith(".")]
    except FileNotFoundError:
        return []


# ---------------------------------------------------------------- the controller's side
def post(qdir: Path, task: Task) -> None:
    """Post `task`; idempotent: a task already anywhere in the queue is not posted again."""
    if where(qdir, task.key).where is not Where.MISSING:
        return
    atomic_write_json(qdir / POSTED / f"{task.key}.json", task.to_json())


def withdraw(qdir: Path, key: str) -> bool:
    """Take back a task no evaluator has claimed; False when it is no longer posted."""
    try:
        (qdir / POSTED / f"{key}.json").unlink()
    except FileNotFoundError:
        return False
    return True


def repost(qdir: Path, key: str, runner: str) -> bool:
    """Put a task `runner` claimed back in the queue, for another evaluator: its job was
    preempted, or requeued under its id (nothing failed, the task is no retry). False when
    the claim is gone (it ended meanwhile, or was already put back)."""
    (qdir / POSTED).mkdir(parents=True, exist_ok=True)
    try:
        os.rename(qdir / CLAIMED / _claim_name(key, runner), qdir / POSTED / f"{key}.json")
    except FileNotFoundError:
        return False
    return True


def snapshot(qdir: Path) -> dict[str, Found]:
    """Where every task of the queue is now (see the module's docstring for the order)."""
    found: dict[str, Found] = {n.removesuffix(".json"): Found(Where.POSTED)
                               for n in _names(qdir / POSTED)}
    for folder, kind in ((CLAIMED, Where.CLAIMED), (DONE, Where.DONE)):
        for name in _names(qdir / folder):
            key, runner = _split(name)
            found[key] = Found(kind, runner)
    for name in _names(qdir / FAILED):
        key, runner = _split(name)
        try:
            data = json.loads((qdir / FAILED / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        found[key] = Found(Where.FAILED, runner, data.get("cause"), str(data.get("reason", "")),
                           _seconds(data))
    return found


def where(qdir: Path, key: str) -> Found:
    """Where one task is now."""
    return snapshot(qdir).get(key, MISSING)


def held_s(qdir: Path, key: str, found: Found) -> float:
    """The seconds an evaluator spent on an ended task (done or failed), as it wrote them;
    0.0 when it wrote none (an evaluator of an earlier version) or the task has not ended.
    A failed task's was read with its cause (`snapshot`); a done one's file is read here."""
    if found.where is not Where.DONE:
        return found.held_s
    try:
        data = json.loads((qdir / DONE / _claim_name(key, found.runner)).read_text("utf-8"))
    except (OSError, ValueError):
        return 0.0
    return _seconds(data)


def _seconds(data: Any) -> float:
    try:
        return max(0.0, float(data.get("held_s") or 0.0))
    except (TypeError, ValueError, AttributeError):
        return 0.0


def request_stop(qdir: Path) -> None:
    atomic_write_text(qdir / STOP_FILE, f"{time.time()}\n")


# ---------------------------------------------------------------- the evaluator's side
def _order(name: str) -> tuple[int, int, str]:
    """Earliest checkpoint first, across trials: the stop rule reads each trial in step order."""
    match = _KEY.match(name.removesuffix(".json"))
    return (int(match.group(2)), int(match.group(1)), name) if match else (1 << 62, 0, name)


def claim(qdir: Path, runner: str) -> Task | None:
    """Take the earliest posted task, or None when there is none. Several evaluators may
    race for one task: the rename succeeds for one of them only."""
    (qdir / CLAIMED).mkdir(parents=True, exist_ok=True)
    for name in sorted(_names(qdir / POSTED), key=_order):
        target = qdir / CLAIMED / _claim_name(name.removesuffix(".json"), runner)
        try:
            os.rename(qdir / POSTED / name, target)
        except FileNotFoundError:
            continue  # another evaluator won it, or the controller withdrew it
        try:
            return Task.read_own(target)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            _refuse(qdir, name.removesuffix(".json"), runner, exc)
    return None


def _refuse(qdir: Path, key: str, runner: str, exc: BaseException) -> None:
    """A claimed task that is not the controller's, or not a task: failed, never run (the
    controller posts its own task again, as for any failure)."""
    reason = (f"task {key} refused, not run: {exc}; only the search's owner may post tasks "
              f"in {qdir} (search.shared, docs/configuration.md)")
    print(f"evaluator {runner}: {reason}", file=sys.stderr, flush=True)
    name = _claim_name(key, runner)
    atomic_write_json(qdir / FAILED / name, {"key": key, "cause": causes.OTHER,
                                             "reason": reason, "held_s": 0.0})
    (qdir / CLAIMED / name).unlink(missing_ok=True)


def finish(qdir: Path, task: Task, runner: str, seconds: float = 0.0) -> None:
    """The result is written: move the claim to done/, in one rename, so that no one sees a
    task both done and still claimed. The claim is first rewritten (atomically) with the
    seconds the evaluator spent on it: the report counts a worker's idle time."""
    (qdir / DONE).mkdir(parents=True, exist_ok=True)
    name = _claim_name(task.key, runner)
    atomic_write_json(qdir / CLAIMED / name, {**task.to_json(), "held_s": seconds})
    os.replace(qdir / CLAIMED / name, qdir / DONE / name)


def fail(qdir: Path, task: Task, runner: str, cause: str, reason: str,
         seconds: float = 0.0) -> None:
    """The task failed: say why (in failed/, atomically), then drop the claim."""
    name = _claim_name(task.key, runner)
    atomic_write_json(qdir / FAILED / name, {**task.to_json(), "cause": cause, "reason": reason,
                                             "held_s": seconds})
    (qdir / CLAIMED / name).unlink(missing_ok=True)


def claimed_by(qdir: Path, runner: str) -> list[Task]:
    """The tasks `runner` holds (an evaluator that died leaves them: see `fail`)."""
    tasks = []
    for name in _names(qdir / CLAIMED):
        if _split(name)[1] == runner:
            try:
                tasks.append(Task.read(qdir / CLAIMED / name))
            except (OSError, ValueError, KeyError):
                continue
    return tasks


def stop_requested(qdir: Path) -> bool:
    return (qdir / STOP_FILE).exists()


def mark_training_ended(qdir: Path) -> None:
    atomic_write_text(qdir / TRAINING_ENDED_FILE, f"{time.time()}\n")


def clear_training_ended(qdir: Path) -> None:
    """A new training attempt starts: the last attempt's word no longer holds."""
    (qdir / TRAINING_ENDED_FILE).unlink(missing_ok=True)


def training_ended(qdir: Path) -> bool:
    return (qdir / TRAINING_ENDED_FILE).exists()


def beat(qdir: Path, runner: str, **info: Any) -> None:
    """The evaluator's heartbeat: who and where it is, what it does (`task`), how many."""
    atomic_write_json(qdir / RUNNERS / f"{runner}.json",
                      {"runner": runner, "pid": os.getpid(), "host": os.uname().nodename,
                       "t": time.time(), **info})


def runners(qdir: Path) -> list[dict[str, Any]]:
    """Every evaluator's last heartbeat."""
    beats = []
    for name in sorted(_names(qdir / RUNNERS)):
        try:
            beats.append(json.loads((qdir / RUNNERS / name).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return beats
