"""Two CPU processes under torchrun form one data-parallel run (gloo), not two copies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from orchestrator.common.checkpoints import complete_checkpoints

REPO = Path(__file__).resolve().parents[2]
SCRIPT = """
import sys
sys.path.insert(0, {helpers!r})
from tests.support.job_settings import train_spec
from jobs import train
from pathlib import Path
train.run(train_spec(Path({out!r}), Path({cache!r}), max_steps=20, save_steps=10, eval_steps=10))
"""


def test_torchrun_with_two_processes_trains_one_model(tmp_path: Path) -> None:
    out, cache = tmp_path / "trial-1", tmp_path / "cache"
    script = tmp_path / "ddp_train.py"
    helpers = str(Path(__file__).parent)
    script.write_text(SCRIPT.format(helpers=helpers, out=str(out), cache=str(cache)))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", str(script)]
    subprocess.run(command, cwd=REPO, env=env, check=True, timeout=300)
    assert [c.step for c in complete_checkpoints(out)] == [10, 20]
    # One rng state per rank: the Trainer saw a world of two, not two worlds of one.
    assert (out / "checkpoint-20" / "rng_state_1.pth").is_file()
    plan = json.loads((out / "plan.json").read_text())
    assert plan["max_steps"] == 20 and plan["num_train_examples"] == 720
    assert json.loads((out / "train_done.json").read_text())["global_step"] == 20
