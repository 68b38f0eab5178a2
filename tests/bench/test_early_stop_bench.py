"""The `early_stop` bench phase (simulated sweeps over prescribed curves): its keys, and the
numbers it reports hold (asha saves >= 2.5x the job-seconds, its best within 0.5 points)."""

from __future__ import annotations

from bench.__main__ import headline
from bench.phases import early_stop, runner


def test_the_phase_is_registered() -> None:
    assert "early_stop" in runner.PHASES


def test_a_sweep_without_early_stop_trains_every_checkpoint() -> None:
    got = early_stop.sweep("none", 0)
    assert got == {"job_seconds": 32 * 12, "true_best_survived": True, "gap_points": 0.0,
                   "stopped": 0}


def test_asha_saves_job_seconds_and_keeps_the_best_within_half_a_point() -> None:
    raw = {"early_stop": early_stop.measure()}
    assert headline(raw)["asha_job_seconds_ratio"] >= 2.5
    assert raw["early_stop"]["best_within_half_point"]["asha"]
    # hyperband hedges with late brackets: it saves less than asha and stops fewer
    ratios = raw["early_stop"]["job_seconds_ratio"]
    assert 1 < ratios["hyperband"] < ratios["asha"]
