"""promote_best: `best/` is always a complete copy, and what a killed promotion left behind
(a staging copy, the previous copy retired between the two renames) is cleared next time."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.decide.stop_rule import Rule
from orchestrator.model.events import Evaluation
from orchestrator.model.state import SearchState
from orchestrator.reporting.outcome import promote_best


def _state(checkpoint: Path, step: int = 300, value: float = 0.9) -> SearchState:
    return SearchState.replay([Evaluation(t=0.0, trial=1, step=step, value=value, job_id="7",
                                          checkpoint=str(checkpoint))])


def _checkpoint(tmp_path: Path, step: int) -> Path:
    folder = tmp_path / "trials" / "001" / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"w" * step)
    return folder


def test_the_best_checkpoint_is_copied_with_its_description(tmp_path: Path) -> None:
    info = promote_best(_state(_checkpoint(tmp_path, 300)), Rule(0.95), tmp_path)
    assert info is not None and info["step"] == 300
    best = tmp_path / "best"
    assert (best / "model.safetensors").read_bytes() == b"w" * 300
    assert json.loads((best / "best.json").read_text())["value"] == 0.9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best", "trials"]


def test_a_staging_copy_left_by_a_kill_is_cleared(tmp_path: Path) -> None:
    half = tmp_path / ".best-0badc0de.tmp"
    half.mkdir()
    (half / "model.safetensors").write_bytes(b"half")
    promote_best(_state(_checkpoint(tmp_path, 300)), Rule(0.95), tmp_path)
    assert not list(tmp_path.glob(".best-*"))
    assert (tmp_path / "best" / "model.safetensors").read_bytes() == b"w" * 300


def test_a_kill_between_the_renames_puts_the_previous_copy_back_then_replaces_it(
        tmp_path: Path) -> None:
    """best/ had been moved aside and the new copy not yet renamed in: with the previous
    copy back in place first, `best/` is never missing for longer than a rename."""
    retired = tmp_path / ".best-retired-0badc0de"
    retired.mkdir()
    (retired / "best.json").write_text(json.dumps({"step": 200}))
    (tmp_path / ".best-1234abcd.tmp").mkdir()
    promote_best(_state(_checkpoint(tmp_path, 300)), Rule(0.95), tmp_path)
    assert not list(tmp_path.glob(".best-*"))
    assert json.loads((tmp_path / "best" / "best.json").read_text())["step"] == 300


def test_an_already_promoted_copy_is_not_copied_again(tmp_path: Path) -> None:
    state = _state(_checkpoint(tmp_path, 300))
    promote_best(state, Rule(0.95), tmp_path)
    marker = tmp_path / "best" / "untouched"
    marker.write_text("")
    assert promote_best(state, Rule(0.95), tmp_path) is not None
    assert marker.exists()


def test_best_holds_what_deploying_needs_without_the_training_state(tmp_path: Path) -> None:
    checkpoint = _checkpoint(tmp_path, 300)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
                 "special_tokens_map.json", "trainer_state.json", "optimizer.pt",
                 "scheduler.pt", "rng_state.pth", "rng_state_1.pth", "training_args.bin",
                 "scaler.pt"):
        (checkpoint / name).write_text("x")
    promote_best(_state(checkpoint), Rule(0.95), tmp_path)
    assert sorted(p.name for p in (tmp_path / "best").iterdir()) == [
        "best.json", "config.json", "model.safetensors", "special_tokens_map.json",
        "tokenizer.json", "tokenizer_config.json", "trainer_state.json", "vocab.txt"]
