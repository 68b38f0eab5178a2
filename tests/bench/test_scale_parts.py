"""The scale phase's pure parts (issue 25): the metadata counter counts what it should, the
headline keys come from the phase's raw figures, a missing long-journal module is reported
as not measured. No SLURM, no timing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from bench.phases import scale
from bench.phases.fs_ops import MetadataCounter


def test_the_metadata_counter_counts_calls_under_its_root_only(tmp_path: Path) -> None:
    root, other = tmp_path / "search", tmp_path / "elsewhere"
    (root / "trial").mkdir(parents=True)
    other.mkdir()
    (root / "trial" / "a.json").write_text("{}")
    with MetadataCounter(root) as counter:
        os.listdir(root / "trial")  # listdir
        list(os.scandir(root))  # scandir
        (root / "trial" / "a.json").read_text()  # open
        (root / "trial" / "a.json").exists()  # stat
        os.path.isdir(root / "trial")  # stat
        (root / "missing").exists()  # stat, of nothing: still a metadata call
        os.listdir(other)  # not under the root
        (other / "b").exists()
    assert dict(counter.counts) == {"listdir": 1, "scandir": 1, "open": 1, "stat": 3}
    assert counter.total == 6


def test_the_counter_stops_counting_when_it_is_left(tmp_path: Path) -> None:
    with MetadataCounter(tmp_path) as counter:
        os.listdir(tmp_path)
    os.listdir(tmp_path)
    (tmp_path / "x").exists()
    assert counter.total == 1 and os.stat.__module__ == "posix"


def test_the_headline_keys_come_from_the_phase(tmp_path: Path) -> None:
    raw: dict[str, Any] = {"scale": {
        "trials": {"1000": {"tick_ms_p99": 80.0, "cpu_s_per_hour": 30.0,
                            "fs_ops_per_trial_hour": 300.0}},
        "samplers": {name: {"mean_s": 0.001} for name in scale.SAMPLERS},
        "slurm": {"sacct_s": 0.4, "probe": {"per_hour": 50.0, "virtual_s": 7200.0,
                                            "cpu_s": 40.0, "max_rss_mb": 120.0}},
        "journal": {"note": "not measured"}}}
    out = scale.headline(raw)
    assert out["tick_ms_p99_1000_trials"] == 80.0
    assert out["controller_cpu_s_per_hour_10k_jobs"] == 20.0  # 40 CPU-s over 2 virtual hours
    assert out["sched_queries_per_hour_10k_jobs"] == 50.0
    assert out["sampler_s_per_trial_optuna_1000_trials"] == 0.001
    assert all(out[key] is None for key in scale.LONG_JOURNAL_KEYS)
    assert scale.headline({})["controller_cpu_s_per_hour_10k_jobs"] is None


def test_without_the_long_journal_module_its_keys_are_not_measured(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def absent(name: str) -> Any:
        raise ImportError(name)

    monkeypatch.setattr("importlib.import_module", absent)
    assert "not measured" in scale.long_journal(tmp_path)["note"]


@pytest.mark.parametrize(("count", "held", "ended", "waits"), [
    (20, 8_980, 8_980, True),  # the last scale run's jobs, cancelled: purged soon
    (9_000, 0, 0, False),  # room already
    (20, 8_980, 5, False),  # other users' live jobs take the room: a purge frees 5
    (20, 8_980, 1_500, True),  # a purge frees a tenth and more
    (500, 8_500, 800, False),  # less than a tenth more
])
def test_the_scale_run_waits_for_a_purge_only_where_it_makes_room(
        count: int, held: int, ended: int, waits: bool) -> None:
    assert scale.purge_would_help(count, 10_000, held, ended, wanted=10_000) is waits


def test_a_page_of_the_10k_job_part_alone_renders() -> None:
    """`BENCH_SCALE_PARTS=slurm python -m bench --only scale` (no --fold): the page has no
    trials table to draw, and must still be written (it failed on the missing table)."""
    from bench.page import render as page
    from bench.page import report

    raw = {"errors": {}, "scale": {"parts_run": ["slurm"], "slurm": {
        "jobs": 9000, "max_job_count": 10_000, "jobs_in_slurmctld_before": 0, "submit_s": 30,
        "sacct_s": 0.43, "cancel_s": 5, "probe": {
            "virtual_s": 3600.0, "cpu_s": 11.8, "max_rss_mb": 66.2, "per_hour": 55,
            "calls_by_command": {"sacct": 54, "squeue": 1, "scancel": 0}}}}}
    text = page.render(report.assemble("full", "now", {}, scale.headline(raw), raw))
    assert "**55 scheduler\nqueries per hour** (54 sacct, 1 squeue)" in text
    assert "**11.8 s per hour**" in text
