"""The `early_stop` bench phase (simulated sweeps over prescribed curves): its keys, and the
numbers it reports hold (asha saves >= 2.5x the job-seconds, its best within 0.5 points)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import headline
from bench.phases import early_stop, early_stop_cluster, runner


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


def test_the_cluster_sweep_runs_none_once_and_each_rule_on_every_seed(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ran: list[tuple[str, int]] = []

    def one(workdir: Path, tag: str, rule: str, seed: int, *_: object) -> dict[str, object]:
        ran.append((rule, seed))
        cost = {"none": 1200.0, "median": 300.0, "asha": 400.0, "hyperband": 600.0}[rule]
        return {"seed": seed, "job_seconds": cost + seed * 10,
                "gap_points": 0.6 if (rule, seed) == ("median", 3) else 0.1}

    monkeypatch.setattr(early_stop_cluster, "one", one)
    got = early_stop_cluster.phase(tmp_path, "bench-x", lambda _: None, lambda _: None)
    seeds = list(early_stop.SEEDS)
    assert ran == [("none", seeds[0])] + [(r, s) for r in ("median", "asha", "hyperband")
                                          for s in seeds]
    mean_asha = 400.0 + 10 * sum(seeds) / len(seeds)
    assert got["job_seconds_ratio"]["asha"] == round(1200.0 / mean_asha, 2)
    assert got["best_within_half_point"] == {"none": True, "median": False, "asha": True,
                                             "hyperband": True}
    # the real sweep is the headline where it ran; the simulation's otherwise
    assert headline({"early_stop_cluster": got})["asha_job_seconds_ratio"] == round(
        1200.0 / mean_asha, 2)
