"""executor.python, the executor.* settings shared by both job kinds, and the SLURM
admission check's pure parts (orchestrator/config/admission.py: which option a refusal is about,
the lines a user reads)."""

from __future__ import annotations

import os
import shlex
import stat
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli.main import main
from orchestrator.config import admission
from orchestrator.config.compose import compose, to_settings
from orchestrator.config.settings import ExecutorSettings, JobResources, resolve_executor
from orchestrator.errors import ConfigError, SchedulerUnavailable
from orchestrator.scheduler import JobRequest, make_scheduler
from orchestrator.scheduler.interface import Refusal
from orchestrator.scheduler.slurm import SlurmScheduler
from orchestrator.scheduler.slurm_parse import refusal_reason, refused_option
from orchestrator.scheduler.submitit_jobs import python_command

# ---------------------------------------------------------------- shared settings


@pytest.mark.parametrize(("shared", "train", "infer", "want_train", "want_infer"), [
    # nothing set anywhere: the cluster's defaults
    ({}, {}, {}, {"account": "", "setup": ()}, {"account": "", "setup": ()}),
    # shared only: both kinds get it
    ({"account": "proj", "partition": "gpu", "qos": "high", "constraint": "a100",
      "setup_template": "t.sh", "setup": ("module load x",), "python": "python"},
     {}, {},
     {"account": "proj", "partition": "gpu", "qos": "high", "constraint": "a100",
      "setup_template": "t.sh", "setup": ("module load x",), "python": "python"},
     {"account": "proj", "partition": "gpu", "qos": "high", "constraint": "a100",
      "setup_template": "t.sh", "setup": ("module load x",), "python": "python"}),
    # a kind's own value wins for that kind only
    ({"account": "proj", "partition": "gpu"}, {"partition": "long"}, {"account": "other"},
     {"account": "proj", "partition": "long"}, {"account": "other", "partition": "gpu"}),
    # own set-up lines replace the shared ones (not appended); the shared template stays
    ({"setup": ("a",), "setup_template": "t.sh"}, {"setup": ("b",)}, {},
     {"setup": ("b",), "setup_template": "t.sh"}, {"setup": ("a",), "setup_template": "t.sh"}),
    # per-kind only: the other kind is untouched
    ({}, {"python": "/opt/py/bin/python"}, {},
     {"python": "/opt/py/bin/python"}, {"python": ""}),
    # settings that are per kind only are never touched
    ({"account": "proj"}, {"gpus_per_node": 1, "timeout_min": 5}, {},
     {"gpus_per_node": 1, "timeout_min": 5, "account": "proj"},
     {"gpus_per_node": 0, "timeout_min": 60, "account": "proj"}),
])
def test_resolve_executor(shared: dict[str, Any], train: dict[str, Any], infer: dict[str, Any],
                          want_train: dict[str, Any], want_infer: dict[str, Any]) -> None:
    executor = ExecutorSettings(train=JobResources(**train), infer=JobResources(**infer),
                                **shared)
    resolved = resolve_executor(executor)
    for res, want in ((resolved.train, want_train), (resolved.infer, want_infer)):
        assert {k: getattr(res, k) for k in want} == want
    assert resolve_executor(resolved) == resolved  # idempotent


def test_shared_settings_reach_both_kinds_through_the_config() -> None:
    settings = to_settings(compose([
        "executor=slurm", "search.target=0.8", "executor.account=proj",
        "executor.setup=['module load cuda']", "executor.infer.account=cheap",
        "executor.python=python3"]))
    assert settings.executor.train.account == "proj"
    assert settings.executor.infer.account == "cheap"
    assert settings.executor.infer.setup == ("module load cuda",)
    assert settings.executor.train.python == settings.executor.infer.python == "python3"


def test_a_shared_key_typo_gets_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "search.target=0.8", "executor.acount=x"]) == 2
    assert "did you mean executor.account?" in capsys.readouterr().err


def test_shared_setup_template_is_checked_under_its_own_key() -> None:
    with pytest.raises(ConfigError) as err:
        to_settings(compose(["search.target=0.8", "executor.setup_template=/nope.sh"]))
    assert any(p.startswith("executor.setup_template=/nope.sh: no such file")
               for p in err.value.problems)


# ---------------------------------------------------------------- executor.python


def _script(tmp_path: Path, name: str, mode: int) -> Path:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n")
    path.chmod(mode)
    return path


@pytest.mark.parametrize(("key", "value", "problem"), [
    ("executor.python", "/nope/bin/python", "/nope/bin/python does not exist"),
    ("executor.train.python", "/nope/bin/python", "/nope/bin/python does not exist"),
    ("executor.infer.python", "{tmp}/plain.txt", "plain.txt is not executable"),
    ("executor.python", "'unbalanced", "cannot be split into words"),
    ("executor.python", "{tmp}/missing/python -X dev", "missing/python does not exist"),
    ("executor.python", "python", None),  # a bare command: found on the node's PATH
    ("executor.python", "python3 -X utf8", None),
    ("executor.infer.python", "{tmp}/py", None),
    ("executor.python", "{tmp}/with space/py", None),  # a path with a space, unquoted
    ("executor.python", sys.executable, None),
])
def test_executor_python_is_checked(tmp_path: Path, key: str, value: str,
                                    problem: str | None) -> None:
    _script(tmp_path, "plain.txt", 0o644)
    _script(tmp_path, "py", 0o755)
    (tmp_path / "with space").mkdir()
    _script(tmp_path / "with space", "py", 0o755)
    override = f"{key}={value.format(tmp=tmp_path)!r}"
    if problem is None:
        settings = to_settings(compose(["search.target=0.8", override]))
        assert value.format(tmp=tmp_path) in (settings.executor.train.python,
                                              settings.executor.infer.python)
        return
    with pytest.raises(ConfigError) as err:
        to_settings(compose(["search.target=0.8", override]))
    lines = [p for p in err.value.problems if p.startswith(f"{key}=")]
    assert len(lines) == 1 and problem in lines[0], err.value.problems


def test_every_python_problem_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        to_settings(compose(["search.target=0.8", "executor.python=/a/python",
                             "executor.train.python=/b/python",
                             "executor.infer.python=/c/python"]))
    assert [p.split("=")[0] for p in err.value.problems] == [
        "executor.python", "executor.train.python", "executor.infer.python"]


@pytest.mark.parametrize(("value", "want"), [
    ("", None),  # submitit's default: the controller's sys.executable
    ("python", "python"),
    ("python3 -X utf8", "python3 -X utf8"),
    ("'/opt/my env/bin/python' -X utf8", "'/opt/my env/bin/python' -X utf8"),
    ("bin/python", f"{os.getcwd()}/bin/python"),  # jobs may start in another folder
    ("python $(touch pwned)", "python '$(touch' 'pwned)'"),  # a value is never shell syntax
])
def test_python_command(value: str, want: str | None) -> None:
    assert python_command(JobResources(python=value)) == want


def test_python_with_a_space_in_an_existing_path(tmp_path: Path) -> None:
    folder = tmp_path / "my env"
    folder.mkdir()
    py = _script(folder, "python", 0o755)
    assert python_command(JobResources(python=str(py))) == f"'{py}'"


def _fail_loudly(folder: Path, log: Path) -> dict[str, str]:
    """A PATH on which every SLURM command records its call and fails."""
    folder.mkdir()
    for name in ("sbatch", "sacct", "squeue", "scontrol", "scancel", "srun", "sinfo",
                 "sacctmgr"):
        script = folder / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n'
                          f'echo "{name} must not be called" >&2\nexit 1\n')
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.parametrize("executor", ["slurm", "local"])
def test_dry_run_shows_the_jobs_python_and_asks_no_scheduler(
        executor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "calls.log"
    for key, value in _fail_loudly(tmp_path / "bin", log).items():
        monkeypatch.setenv(key, value)
    code = main(["run", "--dry-run", f"executor={executor}", "search.target=0.8",
                 f"search.dir={tmp_path / 'search'}", "executor.python=python3",
                 "executor.infer.python=/usr/bin/env python3", "executor.account=proj"])
    out = capsys.readouterr().out
    assert code == 0
    assert not log.exists(), log.read_text()
    assert not (tmp_path / "search").exists()
    if executor == "slurm":
        assert "python3 -u -m submitit.core._submit" in out
        assert "/usr/bin/env python3 -u -m submitit.core._submit" in out
        assert out.count("#SBATCH --account=proj") == 2  # the shared account: both jobs
    else:
        assert "through python3 -m submitit.core._submit" in out
        assert "through /usr/bin/env python3 -m submitit.core._submit" in out


@pytest.mark.parametrize(("executor", "shown"), [
    ("slurm", ["# ---- controller job controller (run --detach; folder ",
               "#SBATCH --job-name=search-", "#SBATCH --account=ctl", "#SBATCH --time=77",
               "# it runs: orchestrator run "]),
    ("local", ["# ---- controller (run --detach): a background process, its output in ",
               " -m orchestrator run "]),
])
def test_detach_dry_run_shows_the_controller_and_starts_nothing(
        executor: str, shown: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "calls.log"
    for key, value in _fail_loudly(tmp_path / "bin", log).items():
        monkeypatch.setenv(key, value)
    code = main(["run", "--detach", "--dry-run", f"executor={executor}", "search.target=0.8",
                 f"search.dir={tmp_path / 'search'}", "executor.controller.account=ctl",
                 "executor.controller.timeout_min=77"])
    out = capsys.readouterr().out
    assert code == 0 and not log.exists() and not (tmp_path / "search").exists()
    head = out.split("# ---- train job")[0]
    for line in shown:
        assert line in head, out
    runs = [line for line in head.splitlines() if " -m orchestrator run " in line
            or line.startswith("# it runs: ")]
    assert runs and "--plain" in runs[0] and "--dry-run" not in runs[0]
    assert "--detach" not in runs[0]
    assert out.endswith("# dry run: nothing was submitted\n")


def test_dry_run_on_slurm_needs_no_slurm_installed(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A laptop without srun can still print the scripts it would submit."""
    monkeypatch.setenv("PATH", str(tmp_path))
    code = main(["run", "--dry-run", "executor=slurm", "search.target=0.8",
                 f"search.dir={tmp_path / 'search'}"])
    assert code == 0
    assert f"{sys.executable} -u -m submitit.core._submit" in capsys.readouterr().out


# ---------------------------------------------------------------- preflight


@pytest.mark.parametrize(("stderr", "reason", "option"), [
    ("allocation failure: Invalid account or account/partition combination specified\n",
     "Invalid account or account/partition combination specified", "account"),
    ("sbatch: error: invalid partition specified: nope\n"
     "allocation failure: Invalid partition name specified\n",
     "Invalid partition name specified", "partition"),
    ("allocation failure: Invalid qos specification\n", "Invalid qos specification", "qos"),
    ("allocation failure: Invalid feature specification\n", "Invalid feature specification",
     "constraint"),
    ("sbatch: error: Batch job submission failed: Requested time limit is invalid (missing "
     "or exceeds some limit)\n",
     "Requested time limit is invalid (missing or exceeds some limit)", "time"),
    ("sbatch: error: Invalid generic resource (gres) specification\n",
     "Invalid generic resource (gres) specification", "gpus_per_node"),
    ("allocation failure: Requested node configuration is not available\n",
     "Requested node configuration is not available", None),
    ("sbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job "
     "submit limit, user's size and/or time limits)\n",
     "Job violates accounting/QOS policy (job submit limit, user's size and/or time limits)",
     None),
])
def test_refusal_is_attributed(stderr: str, reason: str, option: str | None) -> None:
    assert refusal_reason(stderr) == reason
    assert refused_option(reason) == option


@pytest.mark.parametrize(("executor", "refusals", "lines"), [
    (ExecutorSettings(account="nope"),
     [Refusal("train", "account", "Invalid account"), Refusal("infer", "account",
                                                              "Invalid account")],
     ["executor.account=nope: SLURM refuses it (Invalid account); use an account from "
      "'sacctmgr show assoc user=$USER format=account,partition'"]),
    (ExecutorSettings(infer=JobResources(account="nope")),
     [Refusal("infer", "account", "Invalid account")],
     ["executor.infer.account=nope: SLURM refuses it (Invalid account); use an account from "
      "'sacctmgr show assoc user=$USER format=account,partition'"]),
    (ExecutorSettings(train=JobResources(partition="gpu", mem_gb=2.5)),
     [Refusal("train", "partition", "Invalid partition name specified"),
      Refusal("train", "mem_gb", "Memory required by task is not available")],
     ["executor.train.partition=gpu: SLURM refuses it (Invalid partition name specified); "
      "use a partition from 'sinfo -s'",
      "executor.train.mem_gb=2.5: SLURM refuses it (Memory required by task is not "
      "available); ask for what a node has ('sinfo -N -o \"%P %c %m %G\"')"]),
    (ExecutorSettings(),
     [Refusal("infer", "", "Requested node configuration is not available")],
     ["executor.infer: SLURM refuses the infer jobs (Requested node configuration is not "
      "available); check what executor.infer asks for (cpus_per_task, mem_gb, gpus_per_node, "
      "nodes, timeout_min) against 'sinfo -N -o \"%P %c %m %G %l\"' and your limits in "
      "'sacctmgr show assoc user=$USER'; --dry-run prints the script"]),
])
def test_refusal_lines(executor: ExecutorSettings, refusals: list[Refusal],
                       lines: list[str]) -> None:
    assert admission.refusal_lines(resolve_executor(executor), refusals) == lines


class _Unreachable:
    def preflight(self, requests: Any) -> list[Refusal]:
        raise SchedulerUnavailable("sbatch --test-only: Unable to contact slurm controller")


class _Refusing:
    def __init__(self) -> None:
        self.asked: list[JobRequest] = []

    def preflight(self, requests: Sequence[JobRequest]) -> list[Refusal]:
        self.asked = list(requests)
        return [Refusal("train", "qos", "Invalid qos specification")]


def test_an_unreachable_scheduler_is_a_warning_not_a_refusal(
        capsys: pytest.CaptureFixture[str]) -> None:
    settings = to_settings(compose(["executor=slurm", "search.target=0.8"]))
    admission.check(settings, _Unreachable())
    err = capsys.readouterr().err
    assert err.startswith("warning: cannot ask the scheduler") and "Unable to contact" in err


def test_refusals_are_a_config_error_about_the_jobs_the_search_submits() -> None:
    settings = to_settings(compose(["executor=slurm", "search.target=0.8",
                                    "executor.qos=nope", "executor.train.timeout_min=7"]))
    scheduler = _Refusing()
    with pytest.raises(ConfigError) as err:
        admission.check(settings, scheduler)
    assert err.value.exit_code == 2
    assert err.value.problems == [
        "executor.qos=nope: SLURM refuses it (Invalid qos specification); use a QOS from "
        "'sacctmgr show assoc user=$USER format=account,qos'"]
    assert [r.kind for r in scheduler.asked] == ["train", "infer"]
    assert scheduler.asked[0].resources.timeout_min == 7


def test_the_adapter_says_unreachable_when_sbatch_cannot_reach_slurmctld(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "bin"
    folder.mkdir()
    sbatch = folder / "sbatch"
    sbatch.write_text("#!/bin/sh\ncat >/dev/null\necho 'sbatch: error: Batch job submission "
                      "failed: Unable to contact slurm controller (connect failure)' >&2\n"
                      "exit 1\n")
    sbatch.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    settings = to_settings(compose(["executor=slurm", "search.target=0.8",
                                    f"search.dir={tmp_path / 's'}"]))
    with pytest.raises(SchedulerUnavailable):
        SlurmScheduler().preflight(admission.first_requests(settings))


def test_local_and_debug_ask_nobody() -> None:
    settings = to_settings(compose(["search.target=0.8"]))
    for cluster in ("local", "debug"):
        assert make_scheduler(cluster).preflight(admission.first_requests(settings)) == []


@pytest.mark.parametrize("page", ["README.md", "docs/cluster.md"])
def test_the_readme_cluster_command_gives_inference_jobs_the_account_and_setup(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], page: str) -> None:
    """The first command under the page's "On a real cluster" heading."""
    text = (Path(__file__).resolve().parents[2] / page).read_text()
    section = text.split("# On a real cluster\n", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    words = shlex.split(block.replace("\\\n", " "))
    assert words[:2] == ["orchestrator", "run"]
    args = [w if not w.startswith("search.dir=") else f"search.dir={tmp_path / 's'}"
            for w in words[1:]]
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    train, infer = out.split("# ---- infer job", 1)
    for script in (train, infer):
        assert "#SBATCH --account=" in script
        assert "#SBATCH --gpus-per-node=1" in script
        assert "export TOKENIZERS_PARALLELISM=false" in script  # the set-up template's line


@pytest.mark.parametrize("existed", [False, True])
def test_a_run_refused_by_the_scheduler_check_leaves_no_search_behind(
        existed: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A wrong account refused by `sbatch --test-only`: nothing was journaled, so `ls` must
    not find an `empty` search there (a folder the user made stays, emptied of ours)."""
    from orchestrator.cli import cmd_ls

    def refuse(*args: object) -> None:
        raise ConfigError(["executor.account=nope: SLURM refuses it (Invalid account)"])

    monkeypatch.setattr(admission, "check", refuse)
    search = tmp_path / "search"
    if existed:
        search.mkdir()
    code = main(["run", "search.target=0.8", f"search.dir={search}"])
    assert code == 2 and "Invalid account" in capsys.readouterr().err
    assert search.exists() == existed
    assert not existed or list(search.iterdir()) == []
    assert cmd_ls.listing(tmp_path) == f"no search under {tmp_path}\n"
