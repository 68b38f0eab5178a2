"""A LoRA search on the local executor: adapter checkpoints evaluated as base + adapter,
and best/ an adapter that loads (jobs.lora.load) without the search."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import PY, ROOT, cli
from tests.support.journal import summary
from tests.support.searches import TINY

pytestmark = pytest.mark.e2e


def test_a_lora_search_promotes_an_adapter_that_loads(tmp_path: Path) -> None:
    directory = tmp_path / "lora"
    done = cli("run", "executor=local", *TINY, "search.target=0.45",
               "train.lora={r: 8, alpha: 16, dropout: 0.0, target_modules: [query, value]}",
               "search.max_concurrent_evals=1", "search.patience=3", f"search.dir={directory}",
               "--plain")
    assert done.returncode == 0, done.stdout + done.stderr
    data = summary(directory)
    assert data["status"] == "target_reached" and data["best"]["value"] >= 0.45
    best = directory / "best"
    names = {p.name for p in best.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "config.json"} <= names
    assert "model.safetensors" not in names
    base = json.loads((best / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert Path(base).is_dir()  # the tiny base, by its absolute path in the search's assets
    script = ("import sys; from jobs import lora; m = lora.load(sys.argv[1]); "
              "print(type(m).__name__, m.config.num_labels)")
    loaded = subprocess.run([PY, "-c", script, str(best)], cwd=ROOT, capture_output=True,
                            text=True, check=False, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin"})
    assert loaded.stdout.split() == ["BertForSequenceClassification", "3"], loaded.stderr
