"""infer.placement on the local executor, real processes: the users' own scripts evaluated
by a worker job and by the evaluator beside training, and the tiny BERT evaluated beside its
own training (the built-in jobs: one import, one tokenization for every checkpoint)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.common import layout
from orchestrator.placement import work_queue
from tests.support.cli import PY, cli
from tests.support.journal import evaluations, events, submissions, summary
from tests.support.searches import BYO, ONLY_FIFTH

pytestmark = pytest.mark.e2e


def byo_local(directory: Path, placement: str, infer_args: str = "",
              target: float = 80) -> list[str]:
    train = f"{PY} {BYO / 'fake_train.py'} {{output_dir}} --checkpoints 8 --every-s 1 " \
            "--linger-s 60"
    infer = f"{PY} {BYO / 'fake_infer.py'} {{checkpoint}} --curve {ONLY_FIFTH} {infer_args}"
    return ["run", "executor=local", f"search.dir={directory}", f"search.target={target:g}",
            f"train.command='{train}'", f"infer.command='{infer}'",
            f"infer.placement={placement}", "executor.poll_interval_s=0.5",
            "executor.max_poll_interval_s=1", "executor.fs_interval_s=0.2", "--plain"]


@pytest.mark.parametrize("placement", ["worker", "with_training"])
def test_users_scripts_evaluated_by_a_long_lived_evaluator(tmp_path: Path,
                                                           placement: str) -> None:
    directory = tmp_path / "s"
    done = cli(*byo_local(directory, placement), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    data = summary(directory)
    assert data["status"] == "target_reached" and data["best"]["step"] == 500
    evs = events(directory)
    assert all(n == 1 for n in evaluations(evs).values())
    kinds = {kind for kind, _, _ in submissions(evs)}
    ids = {e["job_id"] for e in data["evaluations"]}
    held = data["job_hours_by_kind"]
    if placement == "worker":
        assert data["scheduler_jobs"] == {"train": 1, "infer": 0, "worker": 1}
        assert ids == {data["jobs"]["worker-w01-a0"]["job_id"]}
        # it waited for the first checkpoint and between them (its few ms on each script
        # vanish in the hours' rounding); each task's seconds came from the worker itself
        assert 0 < data["worker_idle_hours"] <= held["worker"]
        ended = [e for e in evs if e["event"] == "job_state" and e["state"] == "SUCCEEDED"
                 and e["key"].startswith("infer-")]
        assert ended and all(e["held_s"] > 0 for e in ended)
    else:
        assert data["scheduler_jobs"] == {"train": 1, "infer": 0, "worker": 0}
        assert ids == {data["jobs"]["train-t001-a0"]["job_id"]}
        assert held["worker"] == data["worker_idle_hours"] == 0
    assert held["infer"] == 0 and held["train"] > 0 and data["gpu_hours"] == 0
    assert kinds <= {"train", "infer", "worker"}
    by_step = {e["step"]: e for e in data["evaluations"]}
    assert by_step[100]["value"] == 40.0  # the script's own line, read from its stdout
    assert "The generation accuracy is 40" in Path(by_step[100]["result"]).read_text()
    assert f"{len(data['evaluations'])} evaluation(s), placement {placement}" in (
        directory / "report.md").read_text()


def test_the_tiny_bert_is_evaluated_beside_its_training(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    done = cli("run", "executor=local", "data=synthetic", "model=tiny", "train.max_steps=300",
               "train.save_steps=100", "train.eval_steps=100", "search.target=0.99",
               "data.synthetic_train_size=2000", "data.synthetic_test_size=500",
               "infer.placement=with_training", f"search.dir={directory}",
               "executor.poll_interval_s=0.5", "executor.max_poll_interval_s=1", "--plain",
               timeout=600)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    data = summary(directory)
    assert [e["step"] for e in data["evaluations"]] == [100, 200, 300]
    assert all(e["value"] is not None for e in data["evaluations"])
    train_id = data["jobs"]["train-t001-a0"]["job_id"]
    assert {e["job_id"] for e in data["evaluations"]} == {train_id}
    assert data["scheduler_jobs"]["infer"] == 0
    result = json.loads(Path(data["evaluations"][0]["result"]).read_text())
    assert {"accuracy", "metrics", "examples_per_s"} <= set(result)
    assert result["runner"] == train_id
    queue = work_queue.queue_dir(directory, layout.trial_queue(1))
    assert sorted(work_queue.snapshot(queue)) == [
        f"infer-t001-s{s:08d}-a0" for s in (100, 200, 300)]


def test_a_hung_evaluation_in_a_worker_is_stopped_and_handed_on(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    hang = f"--hang-once-at 200 --state-dir {tmp_path / 'state'}"
    # out of reach: the trial ends when its metric falls at step 600, which the stop rule
    # judges in step order, so only once step 200's retry has its result
    done = cli(*byo_local(directory, "worker", hang, target=99), "infer.task_timeout_s=3",
               timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    data = summary(directory)
    assert data["status"] == "metric_fell" and data["best"]["step"] == 500
    evs = events(directory)
    assert all(n == 1 for n in evaluations(evs).values())
    assert {e["step"]: e["value"] for e in data["evaluations"]}[200] == 55.0
    assert submissions(evs)[("infer", 1, 200)] == 2  # the hung task, then its retry
    failed = [e for e in evs if e["event"] == "job_failed"]
    assert [e["key"] for e in failed] == ["infer-t001-s00000200-a0"]
    assert "fake_infer.py ran over its limit of 3 s (infer.task_timeout_s)" in failed[0]["reason"]
    assert data["scheduler_jobs"]["worker"] == 1  # the worker stopped the script, went on
