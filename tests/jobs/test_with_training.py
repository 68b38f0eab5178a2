"""infer.placement=with_training: the evaluator beside training (in_job.beside), fed by a
stand-in for the controller, around a stand-in for training that writes real checkpoints."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from orchestrator.common import layout
from orchestrator.common.checkpoints import complete_checkpoints
from orchestrator.placement import work_queue
from orchestrator.placement.work_queue import Task, Where
from orchestrator.scheduler import in_job
from tests.support.evaluators import evaluator_spec, script, wait_for
from tests.support.job_settings import TrainedRun


def _controller(search: Path, trial_dir: Path, qdir: Path, stop: threading.Event) -> None:
    """Posts a task for every complete checkpoint, as the controller does."""
    posted: set[int] = set()
    while not stop.is_set():
        for checkpoint in complete_checkpoints(trial_dir, posted):
            step = checkpoint.step
            work_queue.post(qdir, Task(f"{layout.infer_key_stem(1, step)}-a1", 1, step,
                                       str(checkpoint.path),
                                       str(layout.result_path(search, 1, step))))
            posted.add(step)
        time.sleep(0.1)


def _train(run: TrainedRun, trial_dir: Path) -> None:
    """Writes the checkpoints one by one, each whole at once (a rename)."""
    trial_dir.mkdir(parents=True, exist_ok=True)
    for step in (20, 40, 60):
        time.sleep(1.0)
        shutil.copytree(run.output_dir / f"checkpoint-{step}", trial_dir / f".tmp-{step}")
        os.rename(trial_dir / f".tmp-{step}", layout.checkpoint_dir(trial_dir, step))


def test_every_checkpoint_is_evaluated_and_the_evaluator_ends_with_training(
        trained_run: TrainedRun, tmp_path: Path) -> None:
    trial_dir, qdir = layout.trial_dir(tmp_path, 1), work_queue.queue_dir(tmp_path, "trial-001")
    spec = evaluator_spec(trained_run, tmp_path, idle_s=60.0, queue="trial-001",
                          trial_dir=str(trial_dir))
    stop = threading.Event()
    controller = threading.Thread(target=_controller, args=(tmp_path, trial_dir, qdir, stop))
    controller.start()
    try:
        with in_job.beside(spec):
            _train(trained_run, trial_dir)
    finally:
        stop.set()
        controller.join()
    assert work_queue.training_ended(qdir)
    for step in (20, 40, 60):
        result = json.loads(layout.result_path(tmp_path, 1, step).read_text())
        assert (result["step"], result["runner"]) == (step, f"pid{os.getpid()}")
    (beat,) = work_queue.runners(qdir)
    assert beat["exited"] == "training ended, every checkpoint evaluated"
    assert beat["evaluated"] == 3


def test_a_killed_evaluator_fails_its_task_and_is_restarted_and_stops_with_training(
        trained_run: TrainedRun, tmp_path: Path) -> None:
    qdir = work_queue.queue_dir(tmp_path, "trial-001")
    spec = evaluator_spec(trained_run, tmp_path, idle_s=60.0, queue="trial-001",
                          trial_dir=str(layout.trial_dir(tmp_path, 1)))
    script_pid = tmp_path / "script.pid"
    slow = script(tmp_path, "slow.py", "import os, time\n"
                   f"open({str(script_pid)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)")
    quick = script(tmp_path, "quick.py", "print('The generation accuracy is 50.0 %.')")
    first, second = (Task(f"{layout.infer_key_stem(1, step)}-a1", 1, step, "unused",
                          str(tmp_path / f"{step}.out"), (argv,))
                     for step, argv in ((20, slow), (40, quick)))
    try:
        with pytest.raises(RuntimeError, match="training failed"), in_job.beside(spec):
            work_queue.post(qdir, first)
            wait_for(script_pid.exists)
            (beat,) = work_queue.runners(qdir)
            assert beat["task"] == first.key
            os.kill(beat["pid"], signal.SIGKILL)
            wait_for(lambda: work_queue.where(qdir, first.key).where is Where.FAILED)
            assert "exited with status -9" in work_queue.where(qdir, first.key).reason
            work_queue.post(qdir, second)  # the restarted evaluator takes it
            wait_for(lambda: work_queue.where(qdir, second.key).where is Where.DONE)
            raise RuntimeError("training failed")
        (beat,) = work_queue.runners(qdir)
        assert beat["pid"] != os.getpid()
        with pytest.raises(ProcessLookupError):  # stopped with the training
            os.kill(beat["pid"], 0)
    finally:
        os.kill(int(script_pid.read_text()), signal.SIGKILL)  # the killed evaluator's orphan
