"""The training job: fine-tune one classifier with the users' Trainer recipe.

Theory of operation: `run(spec)` is called in the job's own process (through submitit, or
directly in tests). It trains with the Hugging Face Trainer and leaves, under
`spec.output_dir`, the files the controller reads while it runs (names in
`orchestrator.common.layout`):
- `plan.json` when training starts: how many steps and how often a checkpoint comes;
- `checkpoint-<step>/` with `layout.COMPLETE_MARKER` written last, the signal that the
  checkpoint may be evaluated (see jobs.trainer_parts.CompletionMarker);
- `train_done.json` at the end, with the best checkpoint and the wall time.
A job restarted on the same folder (requeue, preemption, a retry, a resumed search) resumes
from the last complete checkpoint with optimizer state. Checkpoints saved with save_only_model
(or slimmed by search.keep) cannot be resumed: training starts over. Either way every
`checkpoint-*` folder the new run will write again is first moved aside into
`superseded-<time>/` (`_resume_point`), so that no folder mixes two runs' files. Each run
names itself in plan.json and in its completion markers (orchestrator.common.checkpoints):
a checkpoint written again at a path the controller already evaluated is a new checkpoint.

Only rank 0 writes plan, markers and train_done.json; the Trainer handles the rest of a
multi-process (accelerate/torchrun) run. This module imports only the standard library and
light `orchestrator` modules at the top: torch, transformers and `jobs.trainer_parts` (the
Hugging Face pieces) load inside `run`, so a light process (the controller) can import it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.common import causes, failures, layout
from orchestrator.common.checkpoints import last_complete
from orchestrator.common.fsutil import atomic_write_json
from orchestrator.config.settings import TrainSettings, TrainSpec

if TYPE_CHECKING:
    from transformers import TrainingArguments


class TrainOutOfMemory(RuntimeError):
    """CUDA ran out of memory. The message starts with `out of memory:` and says what to lower."""

    failure_cause = causes.OOM


@contextmanager
def inputs(what: str) -> Iterator[None]:
    """Fail as an input error (JobInputError: the trial ends, no retry) when `what` cannot
    be loaded: settings, data, the model. A retry would fail the same way."""
    try:
        yield
    except failures.JobInputError:
        raise
    except Exception as exc:
        if failures.classify(exc).cause == causes.OOM:
            raise  # memory is not the input's fault
        raise failures.JobInputError(f"{what}: {failures.one_line(exc)}") from exc


def run(spec: TrainSpec) -> dict[str, Any]:
    """Train one model; return (and write to train_done.json) the step, best checkpoint and time."""
    with inputs("train settings"):
        check_settings(spec.train)
    with inputs("importing torch"):
        import torch

    if spec.cpu_threads > 0:
        torch.set_num_threads(spec.cpu_threads)
    try:
        return _train(spec)
    except torch.cuda.OutOfMemoryError as err:
        raise TrainOutOfMemory(
            f"out of memory: per_device_batch_size={spec.train.per_device_batch_size} with "
            f"max_length={spec.data.max_length} does not fit on this GPU; halve "
            f"train.per_device_batch_size and double train.grad_accum_steps (same effective "
            f"batch) or lower data.max_length"
        ) from err


def check_settings(train: TrainSettings) -> None:
    """Combinations the Trainer would reject late, or with an obscure message."""
    if train.early_stopping_patience > 0 and not train.load_best_model_at_end:
        raise ValueError(
            "train.early_stopping_patience > 0 needs train.load_best_model_at_end=true "
            "(or set early_stopping_patience=0)"
        )
    misaligned = train.eval_steps > 0 and train.save_steps % train.eval_steps != 0
    if train.load_best_model_at_end and misaligned:
        raise ValueError(
            f"train.load_best_model_at_end needs train.save_steps ({train.save_steps}) to be a "
            f"multiple of train.eval_steps ({train.eval_steps})"
        )


def _train(spec: TrainSpec) -> dict[str, Any]:
    with inputs("importing the training job's libraries"):
        from jobs import device_facts, faults, lora, progress, rendezvous
        from jobs import trainer_parts as parts
        from jobs.tasks import task_parts

    task = task_parts(spec)  # classification or regression (jobs.tasks)
    output_dir = Path(spec.output_dir)
    fault = faults.fp16_nan_at(spec.train)  # None outside tests (jobs/faults.py)
    with inputs("train.precision"):  # before the slow loading
        precision = "fp32" if fault else parts.resolve_precision(spec.train.precision)
    with inputs(f"loading the data ({_data_name(spec)})"):
        train_set, val_set = task.load_train_val(spec.data)
    with inputs(f"loading model.name_or_path={spec.model.name_or_path}"):
        tokenizer, model = parts.load_model_and_tokenizer(spec, [e.text for e in train_set])
        task.prepare(model)
        model = lora.wrap(spec, model)  # itself unless train.lora (jobs/lora.py)
    rendezvous.meet()  # every rank is here, or one line says which is not (jobs.rendezvous)
    with inputs("the train settings"):
        args = parts.training_arguments(spec, precision)
    resume = _resume_point(output_dir, args)
    if (done := _finished(output_dir, resume, args.max_steps, args.process_index == 0)):
        return done
    guard = parts.NanGuard(precision) if fault is None else faults.NanAt(fault)
    trainer = task.trainer_class(
        model=model,
        args=args,
        train_dataset=task.encode(tokenizer, train_set, spec.data.max_length),
        eval_dataset=task.encode(tokenizer, val_set, spec.data.max_length),
        processing_class=tokenizer,  # saved into every checkpoint: inference loads it there
        compute_metrics=task.compute_metrics(),
        callbacks=[*lora.callbacks(spec, model),
                   *parts.callbacks(spec, guard, len(train_set), len(val_set))],
        weights=task.weights(train_set),
        nan_guard=guard,
    )
    progress.attach(trainer, spec.output_dir)  # progress.json, step log lines, TensorBoard
    started = time.monotonic()
    output = trainer.train(resume_from_checkpoint=resume)
    state = trainer.state
    result = {
        "global_step": int(state.global_step),
        "best_checkpoint": state.best_model_checkpoint,
        "best_metric": None if state.best_metric is None else float(state.best_metric),
        "train_seconds": round(time.monotonic() - started, 3),
        **device_facts.training_facts(output.metrics),  # device, peak GPU memory, examples/s
    }
    if trainer.is_world_process_zero():
        atomic_write_json(layout.done_path(output_dir), result)
    return result


def _finished(output_dir: Path, resume: str | None, max_steps: int,
              rank0: bool) -> dict[str, Any] | None:
    """The result of a run that resumes from the checkpoint at its planned last step (a job
    held or requeued after it saved it): nothing is left to train, and the Trainer would
    take one step more, writing a checkpoint past max_steps. None when training is left.
    The plan is this run's max_steps, else (trained by epochs) the earlier run's plan.json."""
    try:
        planned = max_steps if max_steps > 0 else int(
            json.loads(layout.plan_path(output_dir).read_text())["max_steps"])
        state = json.loads((Path(resume or "") / "trainer_state.json").read_text())
        step = int(state["global_step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if resume is None or planned <= 0 or step < planned:
        return None
    result = {"global_step": step, "best_checkpoint": state.get("best_model_checkpoint"),
              "best_metric": state.get("best_metric"), "train_seconds": 0.0}
    if rank0:
        print(f"{resume} is the planned last step ({planned}): training had ended", flush=True)
        atomic_write_json(layout.done_path(output_dir), result)
    return result


def _data_name(spec: TrainSpec) -> str:
    d = spec.data
    return {"files": f"data.train_file={d.train_file}", "hub": f"data.hub_name={d.hub_name}"
            }.get(d.source, f"data.source={d.source}")


def _resume_point(output_dir: Path, args: TrainingArguments) -> str | None:
    """The checkpoint to resume from, or None to start over, after moving aside every
    `checkpoint-*` folder this run will write again: all of them when it starts over, the
    ones after the resume point (never completed: a killed save) when it resumes. Saving
    into an old folder would mix the two runs' files (an old optimizer.pt beside new weights)
    and keep a path the controller evaluated; a folder moved aside is never rewritten.

    Rank 0 decides (and moves) first; the other ranks then look at the same, settled folder.
    """
    _ = args.device  # sets up the process group lazily: rank and barrier are wrong before it
    rank0 = args.process_index == 0
    with args.main_process_first(local=False, desc="choosing the checkpoint to resume from"):
        if rank0:  # an earlier run's train_done.json would claim that this one has finished
            layout.done_path(output_dir).unlink(missing_ok=True)
        found = last_complete(output_dir)
        resume = found if found is not None and _has_optimizer_state(found.path) else None
        after = -1 if resume is None else resume.step
        aside = _move_checkpoints_aside(output_dir, after) if rank0 else None
        if rank0 and found is not None and resume is None:
            print(f"{found.path} has no optimizer state (save_only_model): starting over; "
                  f"old checkpoints moved to {aside}", flush=True)
        elif rank0 and aside is not None:
            print(f"incomplete checkpoints moved to {aside}", flush=True)
        if resume is None:
            return None
        if rank0:
            print(f"resuming from {resume.path} (step {resume.step})", flush=True)
        return str(resume.path)


def _has_optimizer_state(checkpoint: Path) -> bool:
    # optimizer.pt (plain), optimizer.bin / optimizer_0 (FSDP), global_step* (DeepSpeed).
    names = [entry.name for entry in checkpoint.iterdir()]
    has_optimizer = any(n.startswith(("optimizer", "global_step")) for n in names)
    return has_optimizer and "trainer_state.json" in names


def _move_checkpoints_aside(output_dir: Path, after: int) -> Path | None:
    """Move the `checkpoint-<step>` folders with a step over `after` into a new
    `superseded-<time>-<n>/`; its path, or None when there were none."""
    entries = list(output_dir.iterdir()) if output_dir.is_dir() else []
    stale = [entry for entry in entries if (layout.step_of(entry) or -1) > after and entry.is_dir()]
    if not stale:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1000):  # two restarts within a second must not share (and clash in) one
        aside = output_dir / (f"superseded-{stamp}" + (f"-{n}" if n else ""))
        try:
            aside.mkdir(parents=True)
            break
        except FileExistsError:
            continue
    for entry in stale:
        entry.rename(aside / entry.name)
    return aside


def main(argv: list[str] | None = None) -> int:
    """`python -m jobs.train --output-dir DIR [overrides]`: the recipe without the controller.

    Overrides are the controller's own (`model=bert_base train.learning_rate=3e-5 ...`), so a
    users' script (sbatch_templates/run_train.sh) trains exactly what a search would.
    """
    import argparse
    import dataclasses

    from orchestrator.config import compose as config

    parser = argparse.ArgumentParser(prog="python -m jobs.train", description=main.__doc__)
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument("--trial", type=int, default=1, help="trains with seed train.seed+trial-1")
    parser.add_argument("overrides", nargs="*", help="key=value, group=option (see conf/)")
    args = parser.parse_args(argv)
    # the stop rule is not the training job's business; any valid target composes
    settings = config.to_settings(config.compose(["search.target=0.5", *args.overrides]))
    output_dir = args.output_dir.resolve()
    cache = settings.data.cache_dir or str(layout.assets_dir(layout.search_dir_of(output_dir)))
    spec = TrainSpec(
        trial=args.trial,
        seed=layout.trial_seed(settings.train.seed, args.trial),
        output_dir=str(output_dir),
        data=dataclasses.replace(settings.data, cache_dir=cache),
        model=settings.model,
        train=settings.train,
    )
    run(spec)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
