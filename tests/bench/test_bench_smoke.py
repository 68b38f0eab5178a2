"""The bench's pure parts: the legacy stop rule (legacy-loop.md §5), the legacy loop's logic
with a fake scheduler, the parsers, and the results.json writer. No SLURM, no timing."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from bench.cluster.slurmtools import (
    count_calls,
    parse_call_log,
    parse_elapsed,
    parse_sacct_rows,
    submitted_id,
)
from bench.page import render as page
from bench.page import report
from bench.phases.legacy_loop import (
    ABOVE_TARGET,
    ALL_EVALUATED,
    FELL,
    LegacyLoop,
    legacy_run,
    legacy_verdict,
    parse_accuracy,
    sorted_checkpoints,
)
from bench.phases.scenario import CURVE, ByoScenario, predicted_legacy_s

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.mark.parametrize(
    ("curve", "target", "how", "evaluated", "best_index", "success"),
    [
        (CURVE, 80.0, ABOVE_TARGET, 5, 4, True),  # the standard scenario: checkpoint 5
        ((40, 55, 50, 90), 80.0, FELL, 3, 1, False),  # a fall stops before 90 is seen
        ((70, 85, 84), 90.0, FELL, 3, 1, False),
        ((81, 86, 85), 86.5, FELL, 3, 1, False),  # the answer is the best so far, 86
        ((40, 50, 60), 80.0, ALL_EVALUATED, 3, 2, False),
        ((40, 50, 60), 55.0, ABOVE_TARGET, 3, 2, True),
        ((80, 80, 80), 80.0, ALL_EVALUATED, 3, 0, False),  # equal is neither above nor a fall
        ((55, 55, 79.43), 79.43, ALL_EVALUATED, 3, 2, False),
        ((79.44,), 79.43, ABOVE_TARGET, 1, 0, True),
    ],
)
def test_legacy_stop_rule(curve: tuple[float, ...], target: float, how: str, evaluated: int,
                          best_index: int, success: bool) -> None:
    decision = legacy_run(curve, target)
    assert (decision.how, decision.evaluated, decision.best_index, decision.success) == (
        how, evaluated, best_index, success)


def test_legacy_verdict_continues_until_a_rule_fires() -> None:
    assert legacy_verdict([], 80.0, 12) is None
    assert legacy_verdict([40.0, 55.0], 80.0, 12) is None
    decision = legacy_verdict([40.0, 55.0, 81.0], 80.0, 12)
    assert decision is not None and decision.how == ABOVE_TARGET


def test_parsers_read_the_real_texts() -> None:
    assert parse_accuracy((FIXTURES / "legacy_inference.out").read_text()) == pytest.approx(
        80.15734265734265)
    assert parse_accuracy("length of dataset is 3432\n") is None
    assert submitted_id("Submitted batch job 4242\n") == "4242"
    assert parse_elapsed("00:04:05") == 245.0
    assert parse_elapsed("1-00:00:01") == 86401.0
    assert parse_elapsed("03:07") == 187.0
    rows = parse_sacct_rows(
        "12|s1-train-t001-a0|CANCELLED by 0|00:01:52|debug|2|2026-11-23T09:09:41|"
        "2026-11-23T09:10:08|2026-11-23T09:12:00\n"
        "13|s1-infer-t001-s00000100-a0|COMPLETED|00:00:11|debug|1|2026-11-23T09:10:14|"
        "2026-11-23T09:10:19|2026-11-23T09:10:30\n"
        "14|allocation|RUNNING|00:00:01||1|2026-11-23T09:10:14|2026-11-23T09:10:19|Unknown\n")
    assert [(r.job_id, r.state, r.elapsed_s, r.final) for r in rows] == [
        ("12", "CANCELLED", 112.0, True), ("13", "COMPLETED", 11.0, True),
        ("14", "RUNNING", 1.0, False)]
    calls = parse_call_log("1795424979.1 sacct -X -o JobID,State -j 1,2\n"
                           "1795424980.2 squeue -j 7\ngarbage\n1795424981.0 sbatch run.sh\n")
    assert [c.command for c in calls] == ["sacct", "squeue", "sbatch"]
    assert count_calls(calls) == {"sacct": 1, "squeue": 1, "scontrol": 0, "sbatch": 1,
                                  "scancel": 0}


class FakeCluster:
    """sbatch/squeue for LegacyLoop: each job stays in the queue for `polls` squeue calls;
    an inference job writes the legacy lines for its checkpoint into the fixed output file."""

    def __init__(self, out_file: Path, curve: tuple[float, ...], polls: int = 2) -> None:
        self.out_file, self.curve, self.polls = out_file, curve, polls
        self.next_id = 100
        self.queued: dict[str, int] = {}
        self.argv: list[list[str]] = []

    def __call__(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        self.argv.append(argv)
        if argv[0] == "sbatch":
            self.next_id += 1
            job_id = str(self.next_id)
            self.queued[job_id] = self.polls
            if Path(argv[1]).name == "run_inf.sh":
                step = int(argv[2].rsplit("-", 1)[1])
                acc = self.curve[step // 100 - 1]
                self.out_file.write_text(f"length of dataset is 3432\n"
                                         f"The generation accuracy is {acc} %.\n")
            return subprocess.CompletedProcess(argv, 0, f"Submitted batch job {job_id}\n", "")
        job_id = argv[2]
        left = self.queued.get(job_id, 0)
        self.queued[job_id] = left - 1
        out = "JOBID PARTITION NAME\n" + (f"{job_id} debug x\n" if left > 0 else "")
        return subprocess.CompletedProcess(argv, 0, out, "")


def test_legacy_loop_trains_to_the_end_then_evaluates_in_step_order(tmp_path: Path) -> None:
    output = tmp_path / "output_model"
    for step in (1000, 200, 100, 300, 400, 500, 600):
        (output / f"checkpoint-{step}").mkdir(parents=True)
    (output / "checkpoint-final").mkdir()
    out_file = tmp_path / "bert-inf.out"
    fake = FakeCluster(out_file, (40, 55, 62, 70, 81, 83, 84, 86, 85, 87))
    sleeps: list[float] = []
    loop = LegacyLoop(tmp_path / "run_train.sh", tmp_path / "run_inf.sh", "bert", output,
                      out_file, 80.0, poll_s=30, settle_s=5, run=fake,
                      sleep=sleeps.append)
    record = loop.run()
    assert [Path(p).name for p in record.checkpoints][:3] == [
        "checkpoint-100", "checkpoint-200", "checkpoint-300"]
    assert record.decision is not None and record.decision.how == ABOVE_TARGET
    evaluated = [Path(e.checkpoint).name for e in record.evaluations]
    assert evaluated == [f"checkpoint-{s}" for s in (100, 200, 300, 400, 500)]
    assert [e.accuracy for e in record.evaluations] == [40, 55, 62, 70, 81]
    # 6 jobs, each: 2 squeue calls that see it + 1 that does not; sleeps: 2 polls + settle
    assert record.squeue_calls == 18 and record.sbatch_calls == 6
    assert sleeps == [30, 30, 5] * 6
    assert all(not any(";" in a or "|" in a for a in argv) for argv in fake.argv)
    assert (tmp_path / "best_model_acc_81.0").is_dir()
    assert sorted_checkpoints(output)[-1].name == "checkpoint-1000"


def test_closed_form_estimate_of_the_legacy_loop() -> None:
    scn = ByoScenario(every_s=20.0, infer_s=10.0)
    # 240 s training + 15 s half poll + 5 s settle + 5 x (30 + 5)
    assert predicted_legacy_s(scn, 30.0, 5.0) == pytest.approx(435.0)


def _headline() -> dict[str, object]:
    return {"time_to_decision_ratio": 3.9, "time_to_decision_ratio_equal_poll": 2.6,
            "job_seconds_ratio": 1.7, "decision_latency_s": 1.4,
            "sched_queries_per_hour": {"1": 65.0, "10": 65.0, "200": 65.0},
            "legacy_sched_queries_per_hour": {"1": 120.0, "10": 1200.0, "200": 24000.0},
            "inference_speedup_cpu": 4.9, "controller_start_s": 0.04,
            "controller_rss_mb_1000_jobs": 40.0, "resume_s": None}


def test_results_json_has_every_key_and_the_verdicts(tmp_path: Path) -> None:
    results = report.assemble("quick", "2026-11-23T09:00:00+00:00", {"cores": 2}, _headline(),
                              {"errors": {}})
    path = tmp_path / "results.json"
    report.write_results(path, results)
    data = json.loads(path.read_text())
    assert report.check_schema(data) == []
    assert set(report.REQUIRED_KEYS) <= set(data)
    assert data["met"]["time_to_decision_ratio"] is False
    assert data["met"]["time_to_decision_ratio_equal_poll"] is True
    assert data["met"]["sched_queries_per_hour"] is False
    assert data["met"]["controller_rss_mb_1000_jobs"] is True
    assert data["met"]["resume_s"] is None  # not measured is not "met"
    text = page.render(data)
    for key in report.TARGETS:
        assert f"`{key}`" in text
    assert re.search(r"\| `resume_s` \| not measured \|", text)


def test_results_writer_refuses_a_malformed_result(tmp_path: Path) -> None:
    results = report.assemble("full", "now", {}, _headline(), {})
    results["sched_queries_per_hour"] = {"1": 60.0}
    with pytest.raises(ValueError, match="sched_queries_per_hour"):
        report.write_results(tmp_path / "results.json", results)
    del results["resume_s"]
    assert "missing key resume_s" in report.check_schema(results)


def test_the_disk_section_shows_both_runs_and_the_bert_base_estimate() -> None:
    def run(keep: str, peak: int, final: int) -> dict[str, object]:
        return {"keep": keep, "returncode": 1, "wall_s": 100.0, "checkpoints": 12,
                "checkpoint_bytes": 5_668_447, "evaluated": 12, "peak_bytes_sampled": peak,
                "final_bytes_walked": final, "best_bytes": 1_881_792,
                "journal": {"peak_bytes": peak, "final_bytes": final, "freed_bytes": 0}}

    raw = {"errors": {}, "disk": {
        "runs": {"all": run("all", 68_032_488, 68_032_488), "1": run("1", 17_000_000, 1_919_953)},
        "sample_s": 0.2, "peak_ratio": 0.25, "final_ratio": 0.028,
        "bert_base": {"all": {"peak_bytes": 15_768_020_791, "final_bytes": 15_768_020_791},
                      "1": {"peak_bytes": 3_900_000_000, "final_bytes": 444_991_205}},
        "users_search": {"all_bytes": 141_888_983_040, "default_final_bytes": 5_255_147_520}}}
    results = report.assemble("full", "now", {}, {**_headline(), "disk_peak_ratio": 0.25}, raw)
    text = page.render(results)
    assert "| default (keep=1, latest) | 12 | 12 | 17.0 MB | 1.9 MB |" in text
    assert "**`disk_peak_ratio` = 0.25**" in text and "extrapolated, not measured" in text
    assert "141.9 GB with keep=all" in text
    assert results["met"]["disk_peak_ratio"] is True


def _scenario(job_seconds: float, legacy_s: float) -> dict[str, object]:
    """The standard scenario's parameters with our and the legacy loop's measured runs."""
    return {"parameters": {"checkpoints": 12, "every_s": 20.0, "infer_s": 10.0,
                           "save_steps": 100, "target": 80.0, "curve": list(CURVE)},
            "legacy_poll_s": 30.0, "equal_poll_s": 5.0, "settle_s": 5.0, "runs": {
                "ours": {"time_to_decision_s": 112.3, "job_seconds": job_seconds, "jobs": []},
                "legacy": {"time_to_decision_s": legacy_s, "jobs": []}}}


@pytest.mark.parametrize(
    ("ratio", "job_ratio", "job_seconds", "capped", "cell"),
    [
        # the standard scenario caps the ratio at 450.4 / 110 = 4.09 and job-s at 290/160
        (4.01, 1.77, 164.0, {"time_to_decision_ratio", "job_seconds_ratio"},
         "at its limit: the scenario allows 4.09 at most (98 %;"),
        # far below its cap (a slow controller): a plain miss, said as such
        (2.0, 1.2, 240.0, set(), "**no**"),
    ],
)
def test_a_missed_target_is_stated_against_its_scenarios_limit(
        ratio: float, job_ratio: float, job_seconds: float, capped: set[str],
        cell: str) -> None:
    from bench.page.missed import limits

    headline = {**_headline(), "time_to_decision_ratio": ratio, "job_seconds_ratio": job_ratio,
                "inference_speedup_cpu": 30.0}
    raw = {"errors": {}, "scenario": _scenario(job_seconds, 450.4)}
    results = report.assemble("full", "now", {}, headline, raw)
    assert set(limits(results, raw)) == capped
    text = page.render(results)
    assert f"| `time_to_decision_ratio` | {ratio:.2f} | >= 5 | {cell}" in text
    assert ("## Targets beyond their scenario's limit" in text) == bool(capped)
    assert "450.4 / 110 = 4.09x" in text  # the arithmetic is on the page either way
    assert "Targets missed: why" in text  # sched_queries_per_hour is a plain miss here
