"""A restart under save_only_model writes `checkpoint-50` again: a new checkpoint (issue 22,
item 6). The fp16 attempt dies of a NaN loss at step 60 (jobs/faults.py) after its first
checkpoint; its retry (fp32) cannot resume from a checkpoint without optimizer state, so it
starts over, moves the first run's checkpoints aside and writes `checkpoint-50` again at the
path the controller already knew. The controller evaluates the new one (its own result file),
and best/ is a checkpoint of the run that wrote it, judged by its own evaluation.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.common import layout
from tests.support.cli import cli
from tests.support.journal import events, summary
from tests.support.searches import TINY

pytestmark = pytest.mark.e2e


def test_a_checkpoint_written_again_after_a_restart_is_evaluated_again(tmp_path: Path) -> None:
    directory = tmp_path / "rewritten"
    done = cli("run", "executor=local", *TINY, "train.precision=fp16", "train.save_only_model=true",
               "search.target=0.999", "train.max_steps=100", "search.train_retries=0",
               "search.max_concurrent_evals=1", f"search.dir={directory}", "--plain",
               env={"JOBS_FAULT_FP16_NAN_AT": "60"})
    assert done.returncode in (0, 1), done.stdout + done.stderr
    evs = events(directory)
    runs = [e["run"] for e in evs if e["event"] == "checkpoint" and e["step"] == 50]
    assert len(runs) == 2 and runs[0] != runs[1] and all(runs), runs  # two runs wrote it
    trial_dir = layout.trial_dir(directory, 1)
    assert len(list(trial_dir.glob("superseded-*/checkpoint-50"))) == 1  # the first, aside
    rewrite_at = max(i for i, e in enumerate(evs)
                     if e["event"] == "checkpoint" and e["step"] == 50)
    again = [e for e in evs[rewrite_at:] if e["event"] == "evaluation" and e["step"] == 50]
    assert len(again) == 1 and again[0]["value"] is not None, again
    assert again[0]["result"].endswith("step-00000050-r1.json")  # its own result file
    first = [e for e in evs[:rewrite_at] if e["event"] == "evaluation" and e["step"] == 50]
    assert all(not e["result"].endswith("-r1.json") for e in first)  # kept apart
    # best/: the best of the evaluations that count, and a checkpoint of the run they judged
    final = {e["step"]: e for e in evs if e["event"] == "evaluation" and e["value"] is not None}
    best = json.loads((layout.best_dir(directory) / layout.BEST_INFO).read_text())
    assert best["value"] == max(e["value"] for e in final.values())
    marker = json.loads((layout.best_dir(directory) / layout.COMPLETE_MARKER).read_text())
    last_run = [e["run"] for e in evs if e["event"] == "checkpoint"
                and e["step"] == best["step"]][-1]
    assert marker["run"] == last_run
    assert summary(directory)["trials"][0]["train_failures"][0]["cause"] == "nan_fp16"
