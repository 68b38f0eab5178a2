"""How far training is: the progress file the controller reads, and the job log's step lines.

Theory of operation: at train begin, at each logging step and at train end, rank 0 rewrites
`layout.progress_path(output_dir)` atomically (a reader never sees half a file) with exactly
{step, max_steps, epoch, steps_per_s, examples_per_s, loss, learning_rate, t}: the controller's
live view and `status` show it as `step 340/791 (43 %), 28 it/s, ETA 16 s, loss 0.41`. The
speed is averaged since this process began training (a resumed job counts from its resume
step), so the ETA does not jump with each evaluation pause; `loss` and `learning_rate` are the
last training log's (an evaluation's log carries neither). The Trainer's PrinterCallback is
replaced by `StepLog`, which prints the same dict with the step in front:
`step 340/791 {'loss': 0.41, 'grad_norm': 1.3, 'learning_rate': 0.0009, 'epoch': 3.0}`.

`LogHistory` rewrites `layout.log_history_path(output_dir)` with the Trainer's whole
`state.log_history` at each log: report.html's loss and validation curves. The same list is in
each checkpoint's trainer_state.json, but retention deletes checkpoints, and a trial trained
to step 90 whose newest kept checkpoint is step 10 would show curves to step 10. After a
resume the Trainer restores the list from the checkpoint it resumes from, so the file never
holds steps that were trained again.

Only the built-in training job writes these files; a user's own training script has none, and
the readers cope (report.html falls back to the newest checkpoint's trainer_state.json).
"""

from __future__ import annotations

import json
import time
from typing import Any

from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_callback import PrinterCallback

from jobs import tensorboard_job
from orchestrator.common import layout
from orchestrator.common.fsutil import atomic_write_json, atomic_write_text

KEYS = ("step", "max_steps", "epoch", "steps_per_s", "examples_per_s", "loss", "learning_rate",
        "t")


class ProgressFile(TrainerCallback):
    def __init__(self, output_dir: str) -> None:
        self.path = layout.progress_path(output_dir)
        self.began_at = time.monotonic()
        self.began_step = 0
        self.loss: float | None = None
        self.learning_rate: float | None = None

    def on_train_begin(self, args: TrainingArguments, state: TrainerState,
                       control: TrainerControl, **kwargs: Any) -> None:
        self.began_at, self.began_step = time.monotonic(), state.global_step
        self._write(args, state)

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        logs = logs or {}
        if isinstance(logs.get("loss"), int | float):
            self.loss = float(logs["loss"])
        if isinstance(logs.get("learning_rate"), int | float):
            self.learning_rate = float(logs["learning_rate"])
        self._write(args, state)

    def on_train_end(self, args: TrainingArguments, state: TrainerState,
                     control: TrainerControl, **kwargs: Any) -> None:
        self._write(args, state)

    def _write(self, args: TrainingArguments, state: TrainerState) -> None:
        if state.is_world_process_zero:
            atomic_write_json(self.path, self.snapshot(args, state))

    def snapshot(self, args: TrainingArguments, state: TrainerState) -> dict[str, Any]:
        seconds = time.monotonic() - self.began_at
        steps = state.global_step - self.began_step
        rate = steps / seconds if steps > 0 and seconds > 0 else None
        per_step = args.train_batch_size * args.gradient_accumulation_steps * args.world_size
        return {
            "step": int(state.global_step),
            "max_steps": int(state.max_steps),
            "epoch": None if state.epoch is None else round(float(state.epoch), 4),
            "steps_per_s": None if rate is None else round(rate, 3),
            "examples_per_s": None if rate is None else round(rate * per_step, 2),
            "loss": self.loss,
            "learning_rate": self.learning_rate,
            "t": time.time(),
        }


class LogHistory(TrainerCallback):
    """The Trainer's log history, kept outside the checkpoints (see the module docstring)."""

    def __init__(self, output_dir: str) -> None:
        self.path = layout.log_history_path(output_dir)

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        # the Trainer appends `logs` to state.log_history before it calls on_log
        if state.is_world_process_zero:
            atomic_write_text(self.path, json.dumps(state.log_history) + "\n")


class StepLog(TrainerCallback):
    """The Trainer's printed log dicts, with `step N/M` in front (PrinterCallback's place)."""

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        # floats as PrinterCallback prints them ('0.4123'): regexes over job logs keep working
        shown = {k: f"{v:.4g}" if isinstance(v, float) else v
                 for k, v in (logs or {}).items() if k != "total_flos"}
        if state.is_local_process_zero:
            print(f"step {state.global_step}/{state.max_steps} {shown}", flush=True)


def attach(trainer: Trainer, output_dir: str) -> None:
    """The progress file, the log history, the step log lines, and the trial's TensorBoard
    run."""
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(StepLog())
    trainer.add_callback(ProgressFile(output_dir))
    trainer.add_callback(LogHistory(output_dir))
    tensorboard_job.attach(trainer, output_dir)
