"""`train.report_to`: which experiment trackers the Trainer reports to, and the TensorBoard run.

`auto` means TensorBoard when the `tensorboard` package is importable in the job's
environment (it is in the `jobs` extra), else nothing; `none`, `tensorboard`, `wandb` and
`mlflow` are passed to the Trainer as they are. W&B runs offline (`WANDB_MODE=offline`,
into the trial's folder) unless the user set WANDB_MODE / WANDB_DIR: compute nodes often
have no internet, and `wandb sync` uploads the run later.

TensorBoard writes into `layout.tensorboard_dir(output_dir)`, the trial's run, which the
controller adds `test/<metric>` to (orchestrator.reporting.tensorboard_events). The Trainer's own
callback logs `train/loss`, `train/learning_rate` and `eval/<metric>`; `TrialTensorBoard`
adds every validation metric as `validation/<metric>` under the inference job's metric names
(`f1_macro`, not the Trainer's `f1`), so each sits beside the controller's `test/<metric>`.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from transformers import Trainer, TrainerControl, TrainerState, TrainingArguments
from transformers.integrations.integration_utils import TensorBoardCallback

from orchestrator.common import layout

TRACKERS = ("none", "tensorboard", "wandb", "mlflow")
# the Trainer's timing figures of an evaluation: speed, not quality
_NOT_METRICS = ("_runtime", "_per_second")
# the training job's macro averages under the inference job's names (jobs.metrics.report),
# so that validation/f1_macro sits beside the controller's test/f1_macro
_AS_INFERENCE_NAMES = {"precision": "precision_macro", "recall": "recall_macro",
                       "f1": "f1_macro"}


def report_to(setting: str, output_dir: str) -> list[str]:
    """The Trainer's `report_to` for `train.report_to`; a tracker that is not installed is
    refused here, with what to do, instead of deep inside the Trainer."""
    setting = str(setting)  # a settings.ReportTo: the Trainer (and its pickle) gets a plain str
    if setting == "auto":
        setting = "tensorboard" if _installed("tensorboard") else "none"
    if setting not in TRACKERS:
        raise ValueError(f"train.report_to={setting!r} is unknown: use auto, "
                         f"{', '.join(TRACKERS)}")
    if setting == "none":
        return []
    if not _installed(setting):
        raise ValueError(f"train.report_to={setting} but the {setting} package is not installed "
                         f"in the job's environment: pip install {setting}, or set "
                         "train.report_to=none")
    if setting == "wandb":
        os.environ.setdefault("WANDB_MODE", "offline")
        os.environ.setdefault("WANDB_DIR", output_dir)
    return [setting]


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


class TrialTensorBoard(TensorBoardCallback):
    """The Trainer's TensorBoard callback, writing into the trial's run, plus
    `validation/<metric>` at each evaluation. Rank 0 only (the writer exists only there)."""

    def __init__(self, output_dir: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.logging_dir = str(layout.tensorboard_dir(output_dir))

    def on_evaluate(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    metrics: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if self.tb_writer is None or not state.is_world_process_zero:
            return
        for key, value in (metrics or {}).items():
            name = key.removeprefix("eval_")
            if key == name or name.endswith(_NOT_METRICS) or not _number(value):
                continue
            name = _AS_INFERENCE_NAMES.get(name, name)
            self.tb_writer.add_scalar(f"validation/{name}", value, state.global_step)
        self.tb_writer.flush()


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def attach(trainer: Trainer, output_dir: str) -> None:
    """Point the Trainer's TensorBoard at the trial's run (when it reports there)."""
    if "tensorboard" in (trainer.args.report_to or []):
        trainer.remove_callback(TensorBoardCallback)
        trainer.add_callback(TrialTensorBoard(output_dir))
