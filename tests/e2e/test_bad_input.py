"""Bad input, on the local executor with users' own scripts (fast): broken outputs and
results are failed evaluations with the log path while the search goes on; bad data fails
training with the job's one-line error; a bad search.dir, a torn or corrupted journal, a
search.dir of another search and bad configurations end at once (exit 2, one line) and make
no scheduler call. Configuration errors themselves are in tests/unit/test_config_errors.py;
a second controller on the same search.dir in tests/e2e/test_local_search.py.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support import badkit as bk
from tests.support.cli import cli, start
from tests.support.config_errors import assert_one_line_per_problem
from tests.support.journal import by_step, strict_events, summary
from tests.support.slurm import fake_scheduler

pytestmark = pytest.mark.e2e

REACHED = [(1, "target_reached", 500)]
Note = Callable[[str], None]


@pytest.fixture
def note(record_property: Callable[[str, object], None]) -> Note:
    """Say what the controller did, for RELIABILITY.md (a junit property)."""
    return lambda text: record_property("notes", text)


def _ended(directory: Path) -> list[tuple[int, str, int | None]]:
    return [(e["trial"], e["how"], e.get("step")) for e in strict_events(directory)
            if e["event"] == "trial_ended"]


def _assert_failed_evaluation(directory: Path, step: int, fragment: str, note: Note) -> None:
    """The search reached its target anyway; `step` is a failed evaluation whose error says
    `fragment` on one line and names logs that exist."""
    evaluation = by_step(directory)[step]
    note(f"step {step} recorded as a failed evaluation: {evaluation['error']} (logs: "
         f"{len(evaluation['logs'] or [])} paths); the search went on: {_ended(directory)}")
    assert evaluation["value"] is None, evaluation
    assert fragment in evaluation["error"], evaluation["error"]
    assert "\n" not in evaluation["error"]
    assert evaluation["logs"] and all(Path(p).exists() for p in evaluation["logs"]), evaluation
    assert _ended(directory) == REACHED
    assert summary(directory)["best"]["step"] == 500


# --------------------------------------------------------------------------- bad outputs
def test_legacy_output_without_the_accuracy_line(tmp_path: Path, note: Note) -> None:
    directory = tmp_path / "s"
    infer = f"{bk.PY} {bk.BYO / 'fake_infer.py'} {{checkpoint}} --curve {bk.CURVE} " \
            "--no-line-at 200"
    done = cli(*bk.search(directory, infer=infer))
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_failed_evaluation(directory, 200, "no line matching", note)


@pytest.mark.parametrize(("flag", "step", "fragment"), [
    ("--nan-at 200", 200, "is nan"),
    ("--garbage-at 300", 300, "is not a number: '8.1.2'"),
], ids=["nan", "not-a-number"])
def test_users_metric_that_is_not_a_finite_number(tmp_path: Path, note: Note, flag: str,
                                                  step: int, fragment: str) -> None:
    directory = tmp_path / "s"
    args = bk.search(directory, infer=bk.own_infer(flag),
                     extra=("infer.metric_regex='accuracy is (\\S+) %'",))
    done = cli(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_failed_evaluation(directory, step, fragment, note)


@pytest.mark.parametrize(("raw", "fragment"), [
    ("accuracy: 0.55", "is not JSON"),
    ('{"accuracy": NaN}', "is nan"),
    ('{"f1": 0.55}', "has no metric 'accuracy'"),
    ('[0.55]', "has no metric 'accuracy'"),
], ids=["not-json", "nan", "no-metric", "not-an-object"])
def test_built_in_result_file_that_is_broken(tmp_path: Path, note: Note, raw: str,
                                            fragment: str) -> None:
    """The built-in jobs replaced by stand-ins (no torch), one of which writes `raw` as the
    result of checkpoint 200."""
    directory = tmp_path / "s"
    stand_in = bk.stand_in_jobs(tmp_path)
    args = ["run", "executor=local", "data=synthetic", "model=tiny", f"search.dir={directory}",
            "search.target=0.8", "train.max_steps=600", "train.save_steps=100",
            "train.eval_steps=100", "executor.poll_interval_s=0.5",
            "executor.max_poll_interval_s=1", "executor.fs_interval_s=0.1", "--plain"]
    done = cli(*args, cwd=tmp_path, env={"PYTHONPATH": str(stand_in),
                                       "BADKIT_RESULTS": json.dumps({"200": raw})})
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_failed_evaluation(directory, 200, fragment, note)
    assert by_step(directory)[100]["value"] == 0.4  # the stand-ins did run


def test_checkpoint_that_vanishes_before_its_evaluation(tmp_path: Path, note: Note) -> None:
    directory = tmp_path / "s"
    args = bk.search(directory, train=bk.own_train("--remove 300"),
                     infer=bk.own_infer("--read-checkpoint --sleep-s 0.5"))
    done = cli(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_failed_evaluation(directory, 300, "No such file or directory", note)
    assert not (directory / "trials" / "001" / "checkpoint-300").exists()
    tried = Counter(e["step"] for e in strict_events(directory) if e["event"] == "submit_intent"
                    and e["kind"] == "infer")
    assert tried[300] == 2  # retried once (search.eval_retries=1), then given up


def test_inference_program_that_does_not_exist(tmp_path: Path, note: Note) -> None:
    directory = tmp_path / "s"
    train = f"{bk.PY} {bk.BYO / 'fake_train.py'} {{output_dir}} --checkpoints 3 --every-s 0.2"
    args = bk.search(directory, train=train, infer="/nonexistent/run_inf.sh {checkpoint}",
                     eval_retries=0)
    done = cli(*args)
    assert done.returncode == 3, done.stdout + done.stderr  # the search failed
    data = summary(directory)
    note(f"exit 3, status {data['status']}; each evaluation failed: "
         f"{data['evaluations'][0]['error']}")
    assert data["status"] == "failed"
    assert [e["step"] for e in data["evaluations"]] == [100, 200, 300]
    for evaluation in data["evaluations"]:
        assert evaluation["value"] is None
        assert "/nonexistent/run_inf.sh" in evaluation["error"]
        assert evaluation["logs"]


def test_training_program_that_does_not_exist(tmp_path: Path, note: Note) -> None:
    directory = tmp_path / "s"
    done = cli(*bk.search(directory, train="/nonexistent/run_train.sh {output_dir}"))
    assert done.returncode == 3, done.stdout + done.stderr  # the search failed
    trial = summary(directory)["trials"][0]
    note(f"exit 3, training_reason: {trial['training_reason']}")
    assert trial["training"] == "failed" and trial["ended"] == "train_failed"
    assert "/nonexistent/run_train.sh" in trial["training_reason"]
    assert "\n" not in trial["training_reason"]
    assert summary(directory)["status"] == "failed"


# --------------------------------------------------------------------------- bad data
def _write_csv(path: Path, header: str, labels: list[str]) -> Path:
    rows = [f"review number {i} is {'good' if i % 2 else 'bad'},{label}"
            for i, label in enumerate(labels)]
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


# the legacy loop's 1-5 stars file, as its users configure it (conf/data/files.yaml's header)
STARS = ["data.label_column=stars",
         "data.label_map={1: negative, 2: negative, 3: neutral, 4: positive, 5: positive}"]


@pytest.mark.parametrize(("case", "fragment"), [
    ("no-label-column", "no column 'stars' (data.label_column); its columns: rating, text"),
    ("label-outside-the-map", "1 row has a 'stars' label that neither data.label_map nor "
                              "data.labels [negative, neutral, positive] covers: '7' (1 row, "
                              "first at line 15)"),
], ids=["no-label-column", "label-outside-the-map"])
def test_data_file_that_the_training_job_would_refuse(tmp_path: Path, note: Note, case: str,
                                                      fragment: str) -> None:
    """data.source=files is read on the login node before anything is submitted: exit 2,
    the file and the fix named, no search.dir made, no scheduler call."""
    env, calls = fake_scheduler(tmp_path)
    directory = tmp_path / "s"
    stars = ["1", "2", "3", "4", "5"] * 8
    header = "text,rating" if case == "no-label-column" else "text,stars"
    if case == "label-outside-the-map":
        stars[13] = "7"
    train = _write_csv(tmp_path / "train.csv", header, stars)
    test = _write_csv(tmp_path / "test.csv", "text,stars", stars[:10])
    done = cli("run", "executor=slurm", "data=files", *STARS, f"data.train_file={train}",
               f"data.test_file={test}", "model=tiny", f"search.dir={directory}",
               "search.target=0.8", env=env)
    note(f"exit {done.returncode}: {done.stderr.strip()}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"data.train_file={train}: {fragment}" in done.stderr, done.stderr
    assert not directory.exists() and not calls.exists()


def test_data_file_deleted_after_the_checks_fails_the_trial_without_a_retry(
        tmp_path: Path, note: Note) -> None:
    """Checked at start, then gone when the training job reads it: an input error, so the
    trial ends at once (search.train_retries=2, one attempt) with the job's one-line error."""
    directory = tmp_path / "s"
    stars = ["1", "2", "3", "4", "5"] * 8
    train = _write_csv(tmp_path / "train.csv", "text,stars", stars)
    test = _write_csv(tmp_path / "test.csv", "text,stars", stars[:10])
    args = ["run", "executor=local", "data=files", *STARS, f"data.train_file={train}",
            f"data.test_file={test}", "model=tiny", "train.max_steps=20", "train.save_steps=10",
            "train.eval_steps=10", f"search.dir={directory}", "search.target=0.8",
            "search.train_retries=2", "executor.poll_interval_s=0.5", "--plain"]
    log = tmp_path / "controller.log"
    proc = start(*args, log=log)
    deadline = time.monotonic() + 60
    while not any(e["event"] == "submitted" for e in strict_events(directory)):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    train.unlink()  # after validation, before the job reads it
    proc.wait(timeout=300)
    output = log.read_text()
    assert proc.returncode == 3, output  # the search failed
    data = summary(directory)
    trial = data["trials"][0]
    assert data["status"] == "failed"
    assert trial["training"] == "failed" and trial["ended"] == "train_failed"
    assert len(trial["train_job_ids"]) == 1 and trial["train_failures"][0]["cause"] == "input"
    reason = trial["training_reason"]
    note(f"exit {proc.returncode}, status failed, one attempt, training_reason: {reason}")
    assert "No such file or directory" in reason and "\n" not in reason, reason
    assert "(logs: " in reason and "an input error, not retried" in reason
    assert "FAILED: input: loading the data" in output, output


# --------------------------------------------------------------------------- search.dir
def test_unwritable_search_dir(tmp_path: Path, note: Note) -> None:
    env, calls = fake_scheduler(tmp_path)
    # root may write anywhere chmod allows it not to: a path under sysfs is refused even so
    done = cli("run", "executor=slurm", "search.target=0.8",
               "search.dir=/sys/orchestrator-test/search", env=env)
    note(f"exit {done.returncode}: {done.stderr.strip()}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
    assert "/sys/orchestrator-test/search" in done.stderr
    assert "pick a folder you can write" in done.stderr
    assert not calls.exists()


def test_torn_last_line_then_the_same_command_resumes(tmp_path: Path, note: Note) -> None:
    directory = tmp_path / "s"
    args = bk.search(directory, train=bk.own_train("--checkpoints 8 --every-s 0.6"))
    proc = start(*args, log=tmp_path / "first.log")
    deadline = time.monotonic() + 120
    while sum(e["event"] == "evaluation" for e in strict_events(directory)) < 2:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    journal = directory / "journal.jsonl"
    whole = len(journal.read_text().splitlines())
    with open(journal, "ab") as handle:  # as if killed in the middle of a write
        handle.write(b'{"event":"evaluation","trial":1,"st')
    again = cli(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    events = strict_events(directory)  # every line parses: the torn one was cut off
    note(f"the torn line was cut off, the search resumed ({len(events) - whole} more events) "
         f"and ended {_ended(directory)}")
    assert any(e["event"] == "resumed" for e in events[whole:])
    assert _ended(directory) == REACHED
    assert all(n == 1 for n in Counter((e["trial"], e["step"]) for e in events
                                       if e["event"] == "evaluation").values())
    assert all(n == 1 for n in Counter(e["key"] for e in events
                                       if e["event"] == "submit_intent").values())


def test_journal_whose_only_line_is_torn_starts_the_search(tmp_path: Path, note: Note) -> None:
    directory = tmp_path / "s"
    directory.mkdir()
    (directory / "journal.jsonl").write_bytes(b'{"event":"search_started","settings":{"da')
    done = cli(*bk.search(directory))
    assert done.returncode == 0, done.stdout + done.stderr
    events = strict_events(directory)
    note(f"started afresh over the torn line; ended {_ended(directory)}")
    assert events[0]["event"] == "search_started" and "resumed" not in [
        e["event"] for e in events]
    assert _ended(directory) == REACHED


@pytest.mark.parametrize("bad", [
    b"this is not json",
    b'["search_started"]',
    b'{"no_event_key": 1}',
    b'{"event": "checkpoint", "trial": 1, "st',  # torn, yet followed by more lines
], ids=["text", "array", "no-event", "torn-in-the-middle"])
def test_journal_corrupted_in_the_middle(tmp_path: Path, note: Note, bad: bytes) -> None:
    directory = tmp_path / "s"
    directory.mkdir()
    first = json.dumps({"event": "resumed", "t": 1.0}).encode()
    last = json.dumps({"event": "resumed", "t": 2.0}).encode()
    journal = directory / "journal.jsonl"
    journal.write_bytes(b"\n".join([first, bad, last]) + b"\n")
    before = journal.read_bytes()
    env, calls = fake_scheduler(tmp_path)
    done = cli("run", "executor=slurm", "search.target=0.8", f"search.dir={directory}",
              env=env)
    note(f"exit {done.returncode}: {done.stderr.strip()}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert f"{journal}:2 is not a journal event" in done.stderr
    assert "aside" in done.stderr  # how to start afresh
    assert journal.read_bytes() == before  # nothing appended, nothing cut
    assert not calls.exists()


def test_search_dir_holding_a_different_search(tmp_path: Path, note: Note) -> None:
    directory = tmp_path / "s"
    train = f"{bk.PY} {bk.BYO / 'fake_train.py'} {{output_dir}} --checkpoints 5 --every-s 0.2"
    first = cli(*bk.search(directory, train=train))
    assert first.returncode == 0, first.stdout + first.stderr
    before = (directory / "journal.jsonl").read_bytes()
    changed = bk.search(directory, train=train, target=85)
    refused = cli(*changed)
    note(f"exit {refused.returncode}: {refused.stderr.strip()}; --force-resume re-judges it")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "different settings (search.target)" in refused.stderr
    assert "--force-resume" in refused.stderr
    assert (directory / "journal.jsonl").read_bytes() == before
    forced = cli(*changed, "--force-resume")
    # never the old outcome as if it met the new target: re-judged, nothing reaches 85
    assert forced.returncode == 1, forced.stdout + forced.stderr
    assert "status: exhausted" in forced.stdout
    assert "re-judged under the new settings (search.target 80.0 -> 85.0)" in forced.stdout



def test_trial_folders_of_a_deleted_journal_are_refused(tmp_path: Path, note: Note) -> None:
    """A user who deletes journal.jsonl to start again leaves trials/001: the new trial 1
    would resume training from its checkpoints and take its results as its own. Refused
    (exit 2, one line, nothing submitted) until the search folder is moved aside."""
    directory = tmp_path / "s"
    train = f"{bk.PY} {bk.BYO / 'fake_train.py'} {{output_dir}} --checkpoints 5 --every-s 0.2"
    first = cli(*bk.search(directory, train=train))
    assert first.returncode == 0, first.stdout + first.stderr
    (directory / "journal.jsonl").unlink()
    jobs = sorted(p.name for p in (directory / "jobs").iterdir())
    refused = cli(*bk.search(directory, train=train))
    note(f"exit {refused.returncode}: {refused.stderr.strip()}")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "trials its journal never started (001)" in refused.stderr
    assert f"move {directory} aside to start afresh" in refused.stderr
    assert sorted(p.name for p in (directory / "jobs").iterdir()) == jobs  # none submitted
    assert not (directory / "journal.jsonl").exists()
    directory.rename(tmp_path / "old-search")  # as the message says
    again = cli(*bk.search(directory, train=train))
    assert again.returncode == 0, again.stdout + again.stderr
    evaluated = [e for e in strict_events(directory) if e["event"] == "evaluation"]
    # trained afresh from step 0, every result from its own inference job
    assert evaluated[0]["step"] == 100 and all(e["job_id"] for e in evaluated), evaluated


# --------------------------------------------------------------------------- configuration
SLURM_BAD = [
    (["executor.train.nodes=0"], "executor.train.nodes=0: must be >= 1"),
    (["executor.infer.timeout_min=0"], "executor.infer.timeout_min=0: must be >= 1"),
    (["executor.poll_interval_s=0"], "executor.poll_interval_s must be > 0"),
    (["executor.train.gpus_per_node=-1"], "gpus_per_node and mem_gb must be >= 0"),
    (["search.eval_retries=-1"], "search.eval_retries=-1: must be >= 0"),
    (["search.max_concurrent_evals=0"], "search.max_concurrent_evals=0: must be >= 1"),
    (["data=files"], "data.train_file=data/train.csv: no such file"),
    (["data.max_length=4"], "data.max_length=4: must be >= 8 tokens"),
    (["infer.command='run_inf.sh {checkpoint}'", "infer.metric_regex='(unclosed'"],
     "infer.metric_regex: not a regular expression"),
]


@pytest.mark.parametrize(("overrides", "fragment"), SLURM_BAD,
                         ids=[" ".join(b[0]) for b in SLURM_BAD])
def test_bad_configuration_on_slurm_makes_no_scheduler_call(
        tmp_path: Path, note: Note, overrides: list[str], fragment: str) -> None:
    env, calls = fake_scheduler(tmp_path)
    directory = tmp_path / "search"
    done = cli("run", "executor=slurm", "search.target=0.8", f"search.dir={directory}",
               *overrides, env=env)
    note(f"exit {done.returncode}: {done.stderr.strip()}")
    assert done.returncode == 2, done.stdout + done.stderr
    assert_one_line_per_problem(done.stderr)
    assert fragment in done.stderr
    assert not calls.exists(), calls.read_text()
    assert not directory.exists()


def test_misspelt_key_names_the_key_it_meant(tmp_path: Path, note: Note) -> None:
    env, calls = fake_scheduler(tmp_path)
    done = cli("run", "executor=slurm", "search.target=0.8",
               f"search.dir={tmp_path / 's'}", "executor.train.partiton=gpu", env=env)
    note(f"exit {done.returncode}: {done.stderr.strip()}")
    assert done.returncode == 2 and not calls.exists()
    assert len(done.stderr.strip().splitlines()) == 1
    assert "did you mean executor.train.partition?" in done.stderr, done.stderr
