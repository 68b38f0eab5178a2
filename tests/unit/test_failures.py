"""Why a job failed, as the job says it (orchestrator/common/failures.py,
orchestrator/scheduler/in_job.py) and as the scheduler adapter reads it back."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import pytest

from orchestrator.common import failures, layout
from orchestrator.common.causes import JobFailure
from orchestrator.common.failures import JobInputError
from orchestrator.scheduler import JobRef, in_job
from orchestrator.scheduler.local import LocalScheduler
from tests.support.local_job import in_a_local_job


class _Nan(RuntimeError):
    failure_cause = "nan"


CLASSIFIED: list[tuple[BaseException, str, str]] = [
    (JobInputError("loading the data: column 'x' missing\n  more"), "input",
     "loading the data: column 'x' missing more"),
    (ModuleNotFoundError("No module named 'torch'"), "input",
     "ModuleNotFoundError: No module named 'torch'"),
    (ImportError("cannot import name 'Trainer'"), "input", "ImportError: cannot import name"),
    (_Nan("loss became NaN at step 3"), "nan", "_Nan: loss became NaN at step 3"),
    (RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), "oom", "RuntimeError: CUDA"),
    (RuntimeError("NCCL watchdog timeout"), "other", "RuntimeError: NCCL watchdog timeout"),
    (ValueError(""), "other", "ValueError"),
    (in_job.ScriptFailed("run.sh exited with status 127: not found", 127), "input", "127"),
    (in_job.ScriptFailed("run.sh exited with status 2: usage: x", 2), "input", "usage"),
    (in_job.ScriptFailed("run.sh exited with status 1: Traceback", 1), "other", "status 1"),
    # a user's script is judged by its last stderr lines (issue 27: a missing module was
    # retried, each retry waiting in the queue; issue 22: CUDA OOM was not re-planned)
    (in_job.ScriptFailed("train.py exited with status 1: ModuleNotFoundError: No module named "
                         "'hydra'", 1, ["Traceback (most recent call last):",
                                        "ModuleNotFoundError: No module named 'hydra'"]),
     "input", "No module named 'hydra'"),
    (in_job.ScriptFailed("train.py exited with status 1: x", 1,
                         ["ImportError: cannot import name 'Trainer' from 'transformers'"]),
     "input", "status 1"),
    (in_job.ScriptFailed("torchrun exited with status 1: ChildFailedError", 1,
                         ["torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB",
                          "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:"]),
     "oom", "status 1"),
    (in_job.ScriptFailed("train.py exited with status 1: RuntimeError: boom", 1,
                         ["RuntimeError: boom"]), "other", "status 1"),
]


@pytest.mark.parametrize(("exc", "cause", "reason"), CLASSIFIED,
                         ids=[f"{type(c[0]).__name__}-{c[1]}" for c in CLASSIFIED])
def test_the_job_classifies_the_exception_it_dies_of(exc: BaseException, cause: str,
                                                     reason: str) -> None:
    found = failures.classify(exc)
    assert found.cause == cause
    assert reason in found.reason and "\n" not in found.reason


@pytest.mark.parametrize(("text", "cause"), [
    ("jobs.train.TrainOutOfMemory: out of memory: per_device_batch_size=64", "oom"),
    ("jobs.train.LossBecameNaN: loss became NaN at step 120", "nan"),
    ("LossBecameNaN: loss became NaN at step 7 (precision fp16); set train.precision=fp32",
     "nan_fp16"),
    ("orchestrator.common.failures.JobInputError: loading model.name_or_path=/m: OSError", "input"),
    ("ModuleNotFoundError: No module named 'transformers'", "input"),
    ("RuntimeError: boom", "other"),
    ("", "other"),
])
def test_the_text_fallback_for_jobs_that_wrote_nothing(text: str, cause: str) -> None:
    assert failures.cause_from_text(text) == cause


def test_a_job_writes_why_it_failed_beside_submitits_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    in_a_local_job(monkeypatch, tmp_path, "4242")
    with pytest.raises(ModuleNotFoundError):
        in_job.call("no_such_module_here:run", None)
    path = layout.failure_path(tmp_path, "4242")
    assert json.loads(path.read_text()) == {
        "cause": "input", "reason": "ModuleNotFoundError: No module named 'no_such_module_here'"}
    # the first task to fail knows why; a later one does not overwrite it
    failures.write(path, JobFailure("other", "RuntimeError: the group was torn down"))
    assert failures.read(path) == JobFailure(
        "input", "ModuleNotFoundError: No module named 'no_such_module_here'")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_outside_a_job_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    for name in ("SUBMITIT_EXECUTOR", "SUBMITIT_LOCAL_JOB_ID", "SUBMITIT_DEBUG_JOB_ID",
                 "SLURM_JOB_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModuleNotFoundError):
        in_job.call("no_such_module_here:run", None)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("argv", "cause", "fragment"), [
    (["/nonexistent/run_train.sh"], "input", "cannot run /nonexistent/run_train.sh: No such"),
    ([sys.executable, "-c", "import sys; sys.exit(127)"], "input", "exited with status 127"),
    ([sys.executable, "/nonexistent/train.py"], "input", "exited with status 2"),
    ([sys.executable, "-c", "raise SystemExit('CUDA error: unspecified launch failure')"],
     "other", "CUDA error: unspecified launch failure"),
], ids=["no-such-program", "exit-127", "python-cannot-open-the-file", "exit-1"])
def test_a_users_script_that_fails_on_how_it_was_called_is_an_input_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], cause: str,
        fragment: str) -> None:
    in_a_local_job(monkeypatch, tmp_path, "77")
    with pytest.raises(Exception, match=r"status|cannot run"):
        in_job.run_command(argv, str(tmp_path / "out.txt"))
    found = failures.read(layout.failure_path(tmp_path, "77"))
    assert found is not None and found.cause == cause and fragment in found.reason, found


def test_the_adapter_returns_what_the_job_wrote_else_the_error_text(tmp_path: Path) -> None:
    backend = LocalScheduler()
    ref = JobRef("123", tmp_path)
    with open(tmp_path / "123_0_result.pkl", "wb") as handle:
        pickle.dump(("error", "Traceback ...\nRuntimeError: boom\n"), handle)
    assert backend.failure(ref) == JobFailure(None, "RuntimeError: boom")
    failures.write(layout.failure_path(tmp_path, "123"), JobFailure("input", "bad column"))
    assert backend.failure(ref) == JobFailure("input", "bad column")
    (tmp_path / "124_failure.json").write_text('{"cause": "bogus"}')
    assert backend.failure(JobRef("124", tmp_path)) == JobFailure(None, "")


def test_a_script_that_misses_a_module_fails_as_an_input_error(tmp_path: Path) -> None:
    """Through run_script, as the job runs a user's train.command: no retry would help."""
    script = tmp_path / "train.py"
    script.write_text("import no_such_module_for_this_test\n")
    with pytest.raises(in_job.ScriptFailed) as failed:
        in_job.run_script([sys.executable, str(script)], str(tmp_path / "out.txt"))
    assert failures.classify(failed.value).cause == "input"
    assert "No module named 'no_such_module_for_this_test'" in str(failed.value)


def test_a_script_finds_the_jobs_interpreter(tmp_path: Path) -> None:
    """A bare `python` on a node may lack the jobs' packages: $ORCHESTRATOR_PYTHON has them."""
    out = tmp_path / "out.txt"
    assert in_job.run_script(["bash", "-c", 'echo "$ORCHESTRATOR_PYTHON"'], str(out)) == 0
    assert out.read_text().strip() == sys.executable
