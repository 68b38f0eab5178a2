"""Choice settings are str enums (config.settings.Choice), made where the settings are built
from Hydra's containers: equal to their strings, journaled as their values, and a value
outside the set is one line that lists the valid ones."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from orchestrator.config import compose as config
from orchestrator.config.settings import (
    EarlyStop,
    Placement,
    Precision,
    ReportTo,
    SamplerName,
    Settings,
    Task,
    TrainSettings,
    with_changes,
)
from orchestrator.config.shape import build
from orchestrator.errors import ConfigError


def _settings(tmp_path: Path, *words: str) -> Settings:
    return config.to_settings(config.compose(
        ["search.target=0.8", f"search.dir={tmp_path / 's'}", *words]))


def test_built_settings_hold_the_enums_and_journal_their_values(tmp_path: Path) -> None:
    s = _settings(tmp_path, "infer.placement=worker", "search.early_stop=median",
                  "train.precision=fp32")
    assert (s.infer.placement, s.search.early_stop, s.train.precision) == (
        Placement.WORKER, EarlyStop.MEDIAN, Precision.FP32)
    assert isinstance(s.search.sampler, SamplerName) and isinstance(s.data.task, Task)
    assert isinstance(s.train.report_to, ReportTo)
    assert s.infer.placement == "worker" and f"{s.infer.placement}" == "worker"
    written = json.loads(json.dumps(asdict(s)))  # as search_started journals them
    assert written["infer"]["placement"] == "worker" and written["train"]["precision"] == "fp32"
    assert type(written["search"]["sampler"]) is str


@pytest.mark.parametrize(("words", "line"), [
    (["infer.placement=workers"], "infer.placement=workers: must be one of job, worker, "
                                  "with_training"),
    (["train.precision=fp8"], "train.precision=fp8: must be one of auto, bf16, fp16, fp32, "
                              "bf16_or_fp32"),
    (["infer.precision=bf16_or_fp32"], "infer.precision=bf16_or_fp32: must be one of auto, "
                                       "bf16, fp16, fp32"),
    (["search.early_stop=sometimes"], "search.early_stop=sometimes: must be one of none, "
                                      "median, asha, hyperband, wilcoxon"),
])
def test_a_bad_choice_is_one_line_listing_the_valid_ones(
        tmp_path: Path, words: list[str], line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(tmp_path, *words)
    assert line in caught.value.problems


def test_shape_converts_a_choice_or_reports_it() -> None:
    problems: list[str] = []
    train = build(TrainSettings, {"precision": "bf16", "report_to": "none"}, "train", problems)
    assert problems == [] and train.precision is Precision.BF16
    assert train.report_to is ReportTo.NONE
    build(TrainSettings, {"precision": 16}, "train", problems)
    assert problems == ["train.precision=16: must be one of auto, bf16, fp16, fp32, "
                        "bf16_or_fp32"]


def test_journaled_overrides_become_enums_again() -> None:
    """A NaN retry's precision comes back from the journal as a plain string."""
    train = with_changes(TrainSettings(), {"precision": "bf16_or_fp32",
                                           "per_device_batch_size": 4})
    assert train.precision is Precision.BF16_OR_FP32 and train.per_device_batch_size == 4
