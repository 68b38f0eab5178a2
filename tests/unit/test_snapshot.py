"""search.snapshot: the copy, its hash, the rewritten commands, the PYTHONPATH of the jobs
(orchestrator/common/snapshot.py) and what a resume does with other code
(orchestrator/engine/snapshot.py)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest

from orchestrator.common import snapshot
from orchestrator.config import compose as config
from orchestrator.config.resolve import snapshot_on
from orchestrator.config.settings import JobResources, Settings
from orchestrator.engine import snapshot as freezing
from orchestrator.engine.job_requests import infer_request, train_request
from orchestrator.errors import ConfigError
from orchestrator.model.events import Event, build, decode, encode
from orchestrator.scheduler.submitit_jobs import python_command
from tests.support.snapshots import byo_settings


def _project(root: Path) -> Path:
    """A fake project: the two packages, a cache to leave out."""
    for name, text in [("jobs/train.py", "x = 1\n"), ("orchestrator/__init__.py", ""),
                       ("orchestrator/common/layout.py", "y = 2\n"),
                       ("jobs/__pycache__/train.cpython-311.pyc", "junk")]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _scripts(where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    (where / "train.py").write_text("print('train')\n")
    (where / "helpers.py").write_text("LR = 1\n")  # a sibling module the script imports
    return where / "train.py"


def test_plan_copies_the_packages_and_the_scripts_directory(tmp_path: Path) -> None:
    root, script = _project(tmp_path / "proj"), _scripts(tmp_path / "mine")
    files = snapshot.plan([f"python {script} {{output_dir}}"], tmp_path / "runs", root)
    user = snapshot.user_key(script).rsplit("/", 1)[0]
    assert sorted(files) == sorted(["jobs/train.py", "orchestrator/__init__.py",
                                    "orchestrator/common/layout.py", f"{user}/train.py",
                                    f"{user}/helpers.py"])


def test_the_search_dir_inside_a_scripts_folder_is_not_copied(tmp_path: Path) -> None:
    script = _scripts(tmp_path / "mine")
    search_dir = tmp_path / "mine" / "runs"
    (search_dir / "trial-1").mkdir(parents=True)
    (search_dir / "trial-1" / "model.bin").write_text("weights")
    files = snapshot.plan([f"python {script}"], search_dir, _project(tmp_path / "p"))
    assert not [k for k in files if "model.bin" in k]


@pytest.mark.parametrize(("template", "found"), [
    ("{python} train.py {output_dir}", ["train.py"]),
    ("bash train.py --out {output_dir} train.py", ["train.py"]),  # once
    (f"{sys.executable} train.py", ["train.py"]),  # the interpreter is no script of theirs
    ("python missing.py {checkpoint}", []),
    ("", []),
], ids=["placeholder", "twice", "interpreter", "missing", "empty"])
def test_scripts_are_the_files_among_the_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               template: str, found: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text("")
    assert snapshot.scripts([template]) == [tmp_path / f for f in found]


@pytest.mark.parametrize(("change", "same"), [
    (lambda root: None, True),
    (lambda root: (root / "jobs/train.py").write_text("x = 2\n"), False),
    (lambda root: (root / "jobs/train.py").rename(root / "jobs/other.py"), False),
    (lambda root: (root / "jobs/__pycache__/new.pyc").write_text("x"), True),
], ids=["nothing", "content", "renamed", "cache-only"])
def test_the_hash_follows_paths_and_contents(tmp_path: Path, change: object,
                                              same: bool) -> None:
    root = _project(tmp_path / "proj")
    before = snapshot.digest(snapshot.plan([], tmp_path / "runs", root))
    change(root)  # type: ignore[operator]
    after = snapshot.digest(snapshot.plan([], tmp_path / "runs", root))
    assert (before == after) is same


def test_take_copies_once_and_points_at_the_copy(tmp_path: Path) -> None:
    root, search_dir = _project(tmp_path / "proj"), tmp_path / "runs"
    files = snapshot.plan([], search_dir, root)
    code_hash, copy = snapshot.take(files, search_dir)
    assert copy.name == code_hash[:snapshot.SHORT]
    assert snapshot.current(search_dir) == copy
    assert (copy / "jobs/train.py").read_text() == "x = 1\n"
    assert snapshot.digest(snapshot.plan([], tmp_path / "other", copy)) == code_hash
    assert snapshot.take(files, search_dir) == (code_hash, copy)  # same code: same copy
    (root / "jobs/train.py").write_text("changed\n")  # new code: a new folder, the old kept
    _, again = snapshot.take(files, search_dir)
    assert again != copy and snapshot.current(search_dir) == again
    assert (copy / "jobs/train.py").read_text() == "x = 1\n"


def test_too_much_code_is_refused_in_one_line(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot, "LIMIT_BYTES", 10)
    script = tmp_path / "big.py"
    script.write_text("x" * 100)
    with pytest.raises(snapshot.SnapshotTooLarge) as raised:
        snapshot.plan([f"python {script}"], tmp_path / "runs", tmp_path / "none")
    message = str(raised.value)
    assert "\n" not in message and str(script) in message
    assert "search.snapshot=false" in message


@pytest.mark.parametrize(("word", "copied"), [
    ("ABS", True), ("train.py", True), ("--lr=1", False), ("other.py", False), ("", False),
], ids=["absolute", "relative", "flag", "not-copied", "empty"])
def test_rewrite_points_script_words_at_their_copies(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     word: str, copied: bool) -> None:
    monkeypatch.chdir(tmp_path)
    script = _scripts(tmp_path / "mine")
    (tmp_path / "other.py").write_text("")
    monkeypatch.chdir(script.parent)
    word = str(script) if word == "ABS" else word
    _, copy = snapshot.take(snapshot.plan([f"python {script}"], tmp_path / "runs",
                                          tmp_path / "none"), tmp_path / "runs")
    script.unlink()  # the copy is found from the original's path alone
    rewritten = snapshot.rewrite(["python", word], copy)
    assert rewritten[0] == "python"
    assert (rewritten[1] == str(copy / snapshot.user_key(script))) is copied
    assert snapshot.rewrite(["python", word], None) == ("python", word)


@pytest.mark.parametrize(("python", "expected"), [
    ("", [sys.executable]),
    ("/opt/py/bin/python3 -X utf8", ["/opt/py/bin/python3", "-X", "utf8"]),
])
def test_a_snapshot_comes_first_on_the_jobs_path(monkeypatch: pytest.MonkeyPatch, python: str,
                                                 expected: list[str]) -> None:
    monkeypatch.setenv("PYTHONPATH", "/site/extra")
    res = JobResources(python=python)
    words = shlex.split(python_command(res, "/runs/s/snapshot/abc") or "")
    assert words == ["env", "PYTHONSAFEPATH=1", "PYTHONPATH=/runs/s/snapshot/abc:/site/extra",
                     *expected]
    assert python_command(res) == (None if not python else shlex.join(expected))


@pytest.mark.parametrize(("value", "executor", "on"), [
    ("auto", "slurm", True), ("auto", "local", False), ("auto", "debug", False),
    (True, "local", True), (False, "slurm", False),
])
def test_snapshot_is_on_by_default_for_slurm_only(tmp_path: Path, value: object, executor: str,
                                                   on: bool) -> None:
    shown = str(value).lower()
    settings = config.to_settings(config.compose(
        [f"search.dir={tmp_path}", "search.target=0.8", f"executor={executor}",
         f"search.snapshot={shown}"]))
    assert settings.search.snapshot is on
    assert snapshot_on(settings) is on


def _byo(tmp_path: Path, script: Path, on: bool = True) -> Settings:
    return byo_settings(tmp_path, script, on, executor="local")


@pytest.mark.parametrize("on", [True, False])
def test_the_jobs_requests_run_the_copy(tmp_path: Path, on: bool) -> None:
    script = _scripts(tmp_path / "mine")
    settings = _byo(tmp_path, script, on)
    code, _ = freezing.prepare(settings, [], force=False)
    runs = tmp_path / "runs"
    train = train_request(settings, runs, 1, 42, 0)
    infer = infer_request(settings, runs, 1, 100, "ckpt", 0)
    if not on:
        assert code is None and train.snapshot == "" and str(script) in train.command
        return
    assert code is not None and train.snapshot == infer.snapshot == code.dir
    copy = str(Path(code.dir) / snapshot.user_key(script))
    assert train.command[1] == infer.command[1] == copy


def _events(*found: Event) -> list[Event]:
    return list(found)


def test_a_resume_with_other_code_keeps_the_snapshot_unless_forced(tmp_path: Path) -> None:
    script = _scripts(tmp_path / "mine")
    settings = _byo(tmp_path, script)
    first, lines = freezing.prepare(settings, [], force=False)
    assert first is not None and lines == []
    assert freezing.prepare(settings, _events(first), force=False) == (None, [])  # same code
    script.write_text("raise SystemExit(1)\n")  # edited after the start
    kept, lines = freezing.prepare(settings, _events(first), force=False)
    assert kept is None and len(lines) == 1 and "--force-resume" in lines[0]
    assert snapshot.current(tmp_path / "runs") == Path(first.dir)
    taken, lines = freezing.prepare(settings, _events(first), force=True)
    assert taken is not None and taken.previous == first.hash and taken.hash != first.hash
    assert snapshot.current(tmp_path / "runs") == Path(taken.dir)
    assert Path(first.dir).is_dir()  # a job still running from it keeps its files


def test_too_much_code_is_a_config_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot, "LIMIT_BYTES", 10)
    with pytest.raises(ConfigError):
        freezing.prepare(_byo(tmp_path, _scripts(tmp_path / "mine")), [], force=False)


def test_the_event_round_trips_and_older_journals_lack_it() -> None:
    event = build("code_snapshot", hash="ab" * 32, dir="/s/snapshot/abab")
    assert decode(encode(event), "journal:1") == event
    assert freezing.last([build("resumed")]) is None
