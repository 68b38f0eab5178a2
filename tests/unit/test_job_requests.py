"""The job requests a search submits (orchestrator/engine/job_requests.py) and the layout they share
with the jobs (orchestrator/common/layout.py): the seed rule, paths and names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.common import layout
from orchestrator.config import compose as config
from orchestrator.config.settings import Settings
from orchestrator.engine.job_requests import infer_request, train_request

COMMANDS = ["train.command='python train.py --seed {seed} --out {output_dir}'",
            "infer.command='python infer.py --seed {seed} {checkpoint}'",
            "infer.metric_regex='accuracy=([0-9.]+)'", "search.target=0.8"]


def _settings(tmp_path: Path, *overrides: str) -> Settings:
    return config.to_settings(config.compose([f"search.dir={tmp_path}", "train.seed=42",
                                              *COMMANDS, *overrides]))


@pytest.mark.parametrize(("space", "params", "trial", "seed"), [
    # seed in search.space: the sampled seed, for training and for inference alike
    ("search.space={seed: [7, 9]}", {"seed": 9}, 2, 9),
    ("search.space={seed: [7, 9], learning_rate: [1e-4]}", {"seed": 7, "learning_rate": 1e-4},
     2, 7),
    # no seed in search.space: train.seed + trial - 1
    ("search.space={learning_rate: [1e-4, 3e-4]}", {"learning_rate": 3e-4}, 2, 43),
    (None, {}, 1, 42),
], ids=["seed-only", "seed-and-lr", "no-seed-in-space", "no-space"])
def test_inference_gets_the_seed_training_used(tmp_path: Path, space: str | None,
                                               params: dict[str, Any], trial: int,
                                               seed: int) -> None:
    overrides = [space, f"search.max_trials={4 if space else 1}"] if space else []
    settings = _settings(tmp_path, *overrides)
    trial_seed = layout.trial_seed(settings.train.seed, trial, params)  # what is journaled
    assert trial_seed == seed
    train = train_request(settings, tmp_path, trial, trial_seed, 0, params)
    checkpoint = layout.checkpoint_dir(layout.trial_dir(tmp_path, trial), 100)
    infer = infer_request(settings, tmp_path, trial, 100, str(checkpoint), 0, params)
    assert train.command[:4] == ("python", "train.py", "--seed", str(seed))
    assert infer.command == ("python", "infer.py", "--seed", str(seed), str(checkpoint))


def test_the_seed_rule() -> None:
    assert layout.trial_seed(42, 1) == 42
    assert layout.trial_seed(42, 3, {"learning_rate": 1e-4}) == 44
    assert layout.trial_seed(42, 3, {"seed": 5}) == 5
    assert layout.trial_seed(42, 3, {"seed": 0}) == 0  # a sampled 0 is a seed, not "none"


def test_requests_name_their_files_by_the_layout(tmp_path: Path) -> None:
    settings = config.to_settings(config.compose([f"search.dir={tmp_path}", "search.target=0.8"]))
    train = train_request(settings, tmp_path, 3, 44, 1)
    assert train.key == "train-t003-a1" and train.folder == tmp_path / "jobs" / "train-t003-a1"
    assert train.name.endswith("-train-t003-a1") and train.name.startswith(tmp_path.name[:40])
    assert train.spec is not None and train.spec.output_dir == str(tmp_path / "trials" / "003")
    infer = infer_request(settings, tmp_path, 3, 200, "ckpt", 0)
    assert infer.key == "infer-t003-s00000200-a0"
    assert infer.spec is not None
    assert infer.spec.result_path == str(tmp_path / "trials" / "003" / "evals" /
                                         "step-00000200.json")
    assert infer.spec.data.cache_dir == str((tmp_path / "assets").resolve())
    scripted = _settings(tmp_path)
    assert train_request(scripted, tmp_path, 3, 44, 1).output == str(
        tmp_path / "trials" / "003" / "train-a1.out")
    assert infer_request(scripted, tmp_path, 3, 200, "ckpt", 0).output == str(
        tmp_path / "trials" / "003" / "evals" / "step-00000200.out")


@pytest.mark.parametrize("name", ["checkpoint-0", "checkpoint-120", "checkpoint-00120"])
def test_checkpoint_names_round_trip(tmp_path: Path, name: str) -> None:
    step = layout.step_of(tmp_path / name)
    assert step is not None and layout.step_of(layout.checkpoint_dir(tmp_path, step)) == step


@pytest.mark.parametrize("name", ["checkpoint-x", "checkpoint-", "ckpt-5", "checkpoint-5.tmp"])
def test_other_names_are_not_checkpoints(tmp_path: Path, name: str) -> None:
    assert layout.step_of(tmp_path / name) is None
