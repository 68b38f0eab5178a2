"""The busy-cluster and placements phases' pure parts: the tenants' release rule, queue-wait
statistics from recorded sacct rows, overheads from file times, the headline ratios and the
page. No SLURM, no timing thresholds."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bench.cluster.slurmtools import parse_sacct_rows, queue_wait_s, sacct_time
from bench.cluster.tenants import QueueRow, parse_queue, release_choice
from bench.page import busy as busy_page
from bench.page import render as page
from bench.page import report
from bench.phases import busy
from bench.phases.busy import (
    Overhead,
    best_time,
    limit_s,
    overhead_after_first,
    overheads,
    wait_stats,
)

T0 = 1_800_000_000.0
TENANT = "bench-x-tenant-"


def row(job_id: str, name: str, state: str, age: float, cpus: int = 1,
        reason: str = "Priority") -> QueueRow:
    return QueueRow(job_id, name, state, T0 - age, cpus, reason)


RUNNING = [row("10", f"{TENANT}0000", "RUNNING", 300, reason="None"),
           row("11", f"{TENANT}0001", "RUNNING", 200, reason="None"),
           row("12", "bench-x-busy-job-train-t001-a0", "RUNNING", 100, reason="None")]


@pytest.mark.parametrize(
    ("pending", "idle", "released", "expected"),
    [
        ([row("20", f"{TENANT}0002", "PENDING", 59)], 0, set(), None),  # not waited enough
        ([row("20", f"{TENANT}0002", "PENDING", 60)], 0, set(), "10"),  # the oldest tenant's
        ([row("20", f"{TENANT}0002", "PENDING", 61)], 1, set(), None),  # a slot is free
        ([row("20", f"{TENANT}0002", "PENDING", 61, cpus=2)], 1, set(), "10"),  # too small
        ([row("20", f"{TENANT}0002", "PENDING", 61)], 0, {"10"}, None),  # 10 still completing
        ([row("20", f"{TENANT}0002", "PENDING", 61)], 0, {"9"}, "10"),  # 9 gone: its slot too
        ([row("21", "bench-x-busy-job-infer", "PENDING", 70),  # ours at the head: a tenant ends
          row("22", f"{TENANT}0003", "PENDING", 10)], 0, set(), "10"),
        ([row("22", f"{TENANT}0003", "PENDING", 10),  # the head is the oldest id, not the list's
          row("21", "bench-x-busy-job-infer", "PENDING", 70)], 0, set(), "10"),
        ([row("20", "someone", "PENDING", 90, reason="JobHeldUser")], 0, set(), None),  # held
        ([], 0, set(), None),
    ],
)
def test_the_tenants_end_a_job_only_when_the_oldest_pending_one_has_waited(
        pending: list[QueueRow], idle: int, released: set[str], expected: str | None) -> None:
    rows = [*RUNNING, *pending]
    assert release_choice(rows, T0, 60.0, idle, TENANT, released) == expected


def test_no_tenant_running_means_nothing_to_end() -> None:
    rows = [RUNNING[2], row("20", "bench-x-busy-job-infer", "PENDING", 100)]
    assert release_choice(rows, T0, 60.0, 0, TENANT, set()) is None


def test_parse_queue_reads_squeue_rows() -> None:
    rows = parse_queue(
        "8860|bench-x-tenant-0001|PENDING|2026-11-30T02:10:01|1|Priority\n"
        "8861_3|array|RUNNING|2026-11-30T02:10:02|2|None\n"
        "garbage\n8862|x|PENDING|N/A|1|Priority\n")
    assert [(r.job_id, r.state, r.cpus, r.reason) for r in rows] == [
        ("8860", "PENDING", 1, "Priority"), ("8861_3", "RUNNING", 2, "None")]
    assert rows[1].submit - rows[0].submit == 1.0


def test_wait_statistics_from_recorded_sacct_rows() -> None:
    rows = parse_sacct_rows(
        "1|bench-x-busy-job-train-t001-a0|CANCELLED by 0|00:01:10|debug|1|"
        "2026-11-30T02:10:00|2026-11-30T02:11:01|2026-11-30T02:12:11\n"
        "2|bench-x-busy-job-infer-t001-s00000100-a0|COMPLETED|00:00:06|debug|1|"
        "2026-11-30T02:11:10|2026-11-30T02:12:08|2026-11-30T02:12:14\n"
        "3|bench-x-busy-job-infer-t001-s00000200-a0|CANCELLED by 0|00:00:00|debug|1|"
        "2026-11-30T02:11:15|None|2026-11-30T02:12:20\n"
        "4|bench-x-busy-job-infer-t001-s00000300-a0|COMPLETED|00:00:06|debug|1|"
        "2026-11-30T02:11:20|2026-11-30T02:12:22|2026-11-30T02:12:28\n")
    stats = wait_stats(queue_wait_s(r) for r in rows)
    assert stats == {"n": 3, "median_s": 61.0, "min_s": 58.0, "max_s": 62.0}
    assert wait_stats([]) == {"n": 0, "median_s": None, "min_s": None, "max_s": None}
    jobs = [{"queue_wait_s": queue_wait_s(r)} for r in rows]
    assert busy.run_wait_stats({"jobs": jobs}) == stats


def _runs(**times: float | None) -> dict[str, Any]:
    return {name: {"time_to_decision_s": t, "extra": {}} for name, t in times.items()}


def test_the_busy_ratio_takes_the_best_placement() -> None:
    raw = {"busy": {"runs": _runs(legacy=600.0, job=200.0, worker=120.0, with_training=None)}}
    assert best_time(raw["busy"]["runs"], busy.PLACEMENTS) == ("worker", 120.0)
    assert busy.headline(raw)["busy_time_to_decision_ratio"] == pytest.approx(5.0)
    raw["busy"]["runs"]["legacy"]["time_to_decision_s"] = None
    assert busy.headline(raw)["busy_time_to_decision_ratio"] is None
    assert busy.headline({}) == {"busy_time_to_decision_ratio": None,
                                 "eval_overhead_s_per_checkpoint_worker": None,
                                 "standard_to_limit_ratio": None}


def test_overhead_is_result_minus_written_minus_the_evaluation_after_the_first() -> None:
    points = [Overhead(300, 100.0, 111.0, 10.0), Overhead(100, 60.0, 75.0, 10.0),
              Overhead(200, 80.0, 90.5, 10.0)]
    assert [p.overhead_s for p in points] == [1.0, 5.0, 0.5]
    assert overhead_after_first(points) == pytest.approx(0.75)  # step 100 (5 s) left out
    assert overhead_after_first(points[1:2]) is None
    assert limit_s(T0, T0 + 100.0, 10.0) == 110.0


def _checkpoint(folder: Path, step: int, written: float, result: float) -> dict[str, Any]:
    ckpt = folder / "out" / f"checkpoint-{step}"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    os.utime(ckpt / "trainer_state.json", (written, written))
    out = folder / "evals" / f"step-{step:08d}.out"
    out.parent.mkdir(exist_ok=True)
    out.write_text("The generation accuracy is 81.0 %.\n")
    os.utime(out, (result, result))
    return {"event": "evaluation", "trial": 1, "step": step, "value": 0.81, "job_id": "77",
            "checkpoint": str(ckpt), "result": str(out)}


def test_overheads_from_file_times(tmp_path: Path) -> None:
    events = [_checkpoint(tmp_path, 100, T0, T0 + 14.0),
              _checkpoint(tmp_path, 200, T0 + 20.0, T0 + 30.8),
              {"event": "evaluation", "trial": 1, "step": 300, "value": None, "job_id": "77",
               "checkpoint": "", "result": ""}]  # a failed evaluation: no point
    points = overheads(events, 10.0)
    assert [(p.step, round(p.overhead_s, 3)) for p in points] == [(100, 4.0), (200, 0.8)]
    assert busy.evaluators(events) == {"77": 3}
    # a completion marker, where there is one, is the checkpoint's completion
    marker = Path(events[1]["checkpoint"]) / "checkpoint_complete.json"
    marker.write_text("{}")
    os.utime(marker, (T0 + 20.5, T0 + 20.5))
    assert round(overheads(events, 10.0)[1].overhead_s, 3) == 0.3


def test_the_busy_closed_form_pays_the_wait_once_per_legacy_job() -> None:
    scenario = {"curve": [40.0, 55.0, 62.0, 70.0, 81.0], "target": 80.0, "every_s": 5.0,
                "infer_s": 5.0, "checkpoints": 5}
    idle = busy_page.predicted_busy(scenario, 0.0, 30.0, 5.0)
    waited = busy_page.predicted_busy(scenario, 60.0, 30.0, 5.0)
    # 6 legacy jobs (training, 5 evaluations) each wait 60 s, rounded up to 30 s polls
    assert waited["legacy"] - idle["legacy"] == 6 * 60.0
    assert waited["with_training"] - idle["with_training"] == 60.0


def _results(raw: dict[str, Any]) -> dict[str, Any]:
    head = {key: None for key in report.REQUIRED_KEYS}
    head.update(busy.headline(raw))
    return report.assemble("full", "2026-11-30T03:00:00+00:00", {"cores": 2}, head, raw)


def _run(t: float, jobs: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"time_to_decision_s": t, "outcome": "target_reached", "decided_step": 500,
            "evaluated": 5, "job_seconds": 100.0, "jobs": jobs, "t_launch": T0,
            "t_exit": T0 + t + 2, "extra": {"waits": wait_stats(j["queue_wait_s"] for j in jobs),
                                            **extra}}


def test_the_page_shows_both_sections_and_the_missed_targets() -> None:
    jobs = [{"name": "bench-x-busy-job-train-t001-a0", "queue_wait_s": 61.0}]
    plan = busy.BusyPlan()
    points = [{"step": 100 * i, "overhead_s": 0.4 * i} for i in range(1, 6)]
    raw: dict[str, Any] = {
        "busy": {"plan": {**{k: v for k, v in vars(plan).items() if k != "scenario"},
                          "scenario": vars(plan.scenario)},
                 "warm_up_s": 61.0, "tenants": {"submitted": 200, "waits": wait_stats([60.0])},
                 "runs": {"legacy": _run(600.0, jobs), "job": _run(200.0, jobs),
                          "worker": _run(150.0, jobs), "with_training": _run(120.0, jobs)}},
        "placements": {"parameters": {"every_s": 20.0, "infer_s": 10.0},
                       "runs": {"job": _run(115.0, jobs, to_limit_ratio=1.1),
                                "worker": _run(111.0, jobs, to_limit_ratio=1.02,
                                               overheads=points, overhead_after_first_s=1.4),
                                "with_training": _run(110.5, jobs, to_limit_ratio=1.01)}},
        "errors": {}}
    results = _results(raw)
    assert results["busy_time_to_decision_ratio"] == pytest.approx(5.0)
    assert results["standard_to_limit_ratio"] == pytest.approx(1.01)
    assert results["met"]["busy_time_to_decision_ratio"] is False
    assert results["met"]["eval_overhead_s_per_checkpoint_worker"] is False
    assert results["met"]["standard_to_limit_ratio"] is True
    text = page.render(results)
    assert "## Busy cluster" in text and "## The placements on an idle cluster" in text
    assert "61 / 61 / 61 (1)" in text  # a run's waits: median / min / max (n)
    assert "0.40, 0.80, 1.20, 1.60, 2.00" in text  # worker's overheads in step order
    assert "### `busy_time_to_decision_ratio` (5.00 < 6)" in text
    assert "### `eval_overhead_s_per_checkpoint_worker`" in text
    assert "### `standard_to_limit_ratio`" not in text
    assert "$" not in text.split("## Busy cluster")[1]  # every placeholder filled
    assert sacct_time("2026-11-30T02:10:00") is not None


def test_the_phases_are_chosen_with_only_and_the_wait_by_option() -> None:
    from bench import __main__ as cli
    from bench.phases import runner

    assert {"busy", "placements"} <= set(runner.PHASES)
    args = cli._parser().parse_args(["--only", "busy,placements", "--busy-wait-s", "20"])
    assert args.only.split(",") == ["busy", "placements"] and args.busy_wait_s == 20.0
    full, quick = runner.make_plan(False, 30.0, 5.0), runner.make_plan(True, 30.0, 5.0)
    assert full.busy_plan.wait_s == 60.0 and full.busy_plan.legacy_poll_s == 30.0
    assert quick.busy_plan.legacy_poll_s == quick.legacy_poll_s < 30.0
