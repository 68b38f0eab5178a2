"""The command line as a user types it in bash: quoting, replaced mappings, Hydra and Trainer
habits, every problem at once, warnings, --version, run --help and the exit statuses."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from orchestrator import exit_codes
from orchestrator.cli import main as cli
from orchestrator.cli.main import main
from orchestrator.config import compose as config
from orchestrator.engine import run as app
from orchestrator.errors import ConfigError, SchedulerError, SubmissionRefused
from tests.support.config_errors import assert_one_line_per_problem

ROOT = Path(__file__).resolve().parents[2]


def bash_words(line: str) -> list[str]:
    """The arguments bash gives the program for `line` (quotes removed as bash does)."""
    return shlex.split(line, posix=True)


def composed(words: list[str]) -> dict[str, Any]:
    cfg = config.compose(["search.target=0.8", *words])
    out: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    return out


def select(tree: dict[str, Any], key: str) -> Any:
    for part in key.split("."):
        tree = tree[part]
    return tree


# ------------------------------------------------------------------ 9: bash quoting
QUOTED = [
    # (what the user types in bash, the key, the value the setting gets)
    ("train.command='bash run_train.sh {model} {output_dir}'", "train.command",
     "bash run_train.sh {model} {output_dir}"),
    ("infer.command='bash sbatch_templates/run_inf.sh {checkpoint}'", "infer.command",
     "bash sbatch_templates/run_inf.sh {checkpoint}"),
    ("""search.dir="my runs/it's here\"""", "search.dir", "my runs/it's here"),
    ("data.train_file='/data/my files/train (v2) [final].csv'", "data.train_file",
     "/data/my files/train (v2) [final].csv"),
    (r"infer.metric_regex='acc: ([\d.]+) \[(%)\], {x}'", "infer.metric_regex",
     r"acc: ([\d.]+) \[(%)\], {x}"),
    (r"infer.metric_regex='The generation accuracy is ([\d.]+) %'", "infer.metric_regex",
     r"The generation accuracy is ([\d.]+) %"),
    ("train.command='python train.py --gpus=0,1 --tag=a=b {trial}'", "train.command",
     "python train.py --gpus=0,1 --tag=a=b {trial}"),
    ("""train.command="python a.py --name \\"it's\\" \\\\\"""", "train.command",
     """python a.py --name "it's" \\"""),
    ("train.command='run.sh C:\\dir\\'", "train.command", "run.sh C:\\dir\\"),
    ("executor.train.partition=gpu,long", "executor.train.partition", "gpu,long"),
    ("executor.train.account=", "executor.train.account", ""),
    # the Hydra spelling keeps working
    ("""search.dir='"my runs/x"'""", "search.dir", "my runs/x"),
    # a str-list setting: one value is one line, a Hydra list stays a list
    ("executor.train.setup='module load cuda/12.1'", "executor.train.setup",
     ["module load cuda/12.1"]),
    ("""executor.train.setup='["module load cuda/12.1", "export A=1,2"]'""",
     "executor.train.setup", ["module load cuda/12.1", "export A=1,2"]),
    ("executor.infer.srun_args='--cpu-bind=none'", "executor.infer.srun_args",
     ["--cpu-bind=none"]),
]


@pytest.mark.parametrize(("typed", "key", "value"), QUOTED, ids=[q[0] for q in QUOTED])
def test_natural_bash_quoting_gives_the_value_typed(typed: str, key: str, value: Any) -> None:
    assert select(composed(bash_words(typed)), key) == value


def test_interpolation_still_resolves_in_a_text_setting(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setenv("WP_SCRATCH", "/scratch/me")
    words = bash_words("search.dir='${oc.env:WP_SCRATCH}/runs/x'")
    assert select(composed(words), "search.dir") == "/scratch/me/runs/x"


def test_a_quoted_command_reaches_validation_and_the_dry_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    words = bash_words(f"search.target=79.43 search.dir='{tmp_path}/my runs/it'\\''s' "
                       "train.command='bash run_train.sh {model} {output_dir}' "
                       "infer.command='bash run_inf.sh {checkpoint}'")
    assert main(["run", *words, "--dry-run"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "dry run: nothing was submitted" in out
    assert not (tmp_path / "my runs").exists()


GRAMMAR = [
    ("executor.train.setup='[module load cuda/12, export A=1]'", "executor.train.setup",
     ["module load cuda/12", "export A=1"]),
    ("executor.train.additional='{comment: my job (x), exclusive: true}'",
     "executor.train.additional", {"comment": "my job (x)", "exclusive": True}),
]


@pytest.mark.parametrize(("typed", "key", "fixed_value"), GRAMMAR, ids=[g[0] for g in GRAMMAR])
def test_a_grammar_error_names_the_key_and_the_quoting_that_works(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], typed: str, key: str,
        fixed_value: Any) -> None:
    code = main(["run", "search.target=0.8", f"search.dir={tmp_path / 's'}",
                 *bash_words(typed)])
    err = capsys.readouterr().err
    assert code == 2
    (line,) = assert_one_line_per_problem(err)
    assert line.startswith(f"{key}: Hydra cannot parse"), line
    suggestion = line.rsplit("inside bash's quotes: ", 1)[1]
    assert select(composed(bash_words(suggestion)), key) == fixed_value


def test_a_value_missing_its_equals_sign_names_the_key(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    assert main(["run", "search.target=0.8", "search.max_trials"]) == 2
    assert "search.max_trials: no value; write search.max_trials=<value>" in \
        capsys.readouterr().err


# ------------------------------------------------------------------ 10: mappings replaced
REPLACED = [
    (["data=files", "data.label_map={pos: positive, neg: negative}"], "data.label_map",
     {"pos": "positive", "neg": "negative"}),
    (["data=files", "data.label_map=null"], "data.label_map", None),
    (["data=files", "data.labels=[bad, good]"], "data.labels", ["bad", "good"]),
    (["data=synthetic", "data.label_map={0: negative}"], "data.label_map", {0: "negative"}),
    # one more key is still an addition to the group's mapping, in the order typed
    (["data=amazon_reviews", "data.label_map.5=positive"], "data.label_map",
     {"0": "negative", "1": "negative", "2": "neutral", "3": "positive", "4": "positive",
      "5": "positive"}),
    (["data=files", "data.label_map={a: positive}", "data.label_map.b=negative"],
     "data.label_map", {"a": "positive", "b": "negative"}),
    (["executor=slurm", "executor.train.additional={exclusive: true}",
      "executor.train.additional={comment: x}"], "executor.train.additional", {"comment": "x"}),
]


@pytest.mark.parametrize(("words", "key", "value"), REPLACED,
                         ids=[" ".join(r[0]) for r in REPLACED])
def test_a_plain_override_replaces_a_mapping(words: list[str], key: str, value: Any) -> None:
    assert select(composed(words), key) == value


def test_a_replaced_label_map_validates_against_the_new_labels(tmp_path: Path) -> None:
    for name in ("train.csv", "test.csv"):
        (tmp_path / name).write_text("text,label\n" + "good,pos\nbad,neg\n" * 10)
    cfg = config.compose(["search.target=0.8", f"search.dir={tmp_path / 's'}", "data=files",
                          f"data.train_file={tmp_path / 'train.csv'}",
                          f"data.test_file={tmp_path / 'test.csv'}",
                          "data.labels=[negative, positive]",
                          "data.label_map={pos: positive, neg: negative}"])
    settings = config.to_settings(cfg)
    assert settings.data.label_map == {"pos": "positive", "neg": "negative"}
    assert settings.data.labels == ("negative", "positive")


# ------------------------------------------------------------------ 11: every problem at once
def test_a_type_error_does_not_hide_range_errors_in_other_keys(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "search.target=high", "search.patience=0", "train.learning_rate=-1",
                 "executor.train=4", "executor.infer.cpus_per_task=0",
                 "train.per_device_batch_size=big", "train.save_steps=30",
                 f"search.dir={tmp_path / 's'}"])
    err = capsys.readouterr().err
    assert code == 2
    problems = assert_one_line_per_problem(err)
    assert err.startswith(f"error: {len(problems)} problems in the configuration:\n")
    assert sorted(problems) == sorted([
        "search.target: expected float, got 'high'",
        "executor.train: expected a mapping, got 4",
        "train.per_device_batch_size: expected int, got 'big'",
        "search.patience=0: must be >= 1 (1 stops at the first fall)",
        "train.learning_rate=-1: must be > 0",
        "executor.infer.cpus_per_task=0: must be >= 1",
        "train.save_steps=30 must be a multiple of train.eval_steps=100 when "
        "train.load_best_model_at_end=true",
    ])  # no made-up "search.target: missing" judged on the default that stood in


HABITS = [
    # (overrides, the exact line, or a fragment of it)
    (["train.learning_rate=1e-5,3e-5"],
     "train.learning_rate=1e-5,3e-5: a sweep; one run is a whole search whose trials try "
     "train settings: write search.space='{learning_rate: [1e-5, 3e-5]}' search.max_trials=2"),
    (["train.seed=range(1,4)"], "search.space='{seed: [1, 2, 3]}' search.max_trials=3"),
    (["train.lr_scheduler=linear,cosine"],
     "search.space='{lr_scheduler: [linear, cosine]}' search.max_trials=2"),
    (["train.learning_rate=interval(1e-5,1e-4)"],
     "search.space='{learning_rate: {low: 1e-05, high: 0.0001}}' search.sampler=random"),
    (["model=tiny,bert_base"], "model=tiny,bert_base: a sweep; one run is one search: run one "
     "command per value"),
    (["search.target=0.8,0.9"], "search.target=0.8,0.9: a sweep; one run is one search"),
    (["--multirun"], "--multirun: not needed; one run is a whole search whose trials try "
     "train settings: write search.space='{learning_rate: [1e-5, 3e-5]}' search.max_trials=2"),
    (["-m", "train.epochs=1,2"], "--multirun: not needed; one run is a whole search whose "
     "trials try train settings: write search.space='{epochs: [1, 2]}' search.max_trials=2"),
    (["hydra.run.dir=outputs/x"], "hydra.run.dir=outputs/x: not used by orchestrator run; "
     "every output of a search goes to search.dir: write search.dir=outputs/x"),
    (["hydra.sweep.dir=multi"], "write search.dir=multi"),
    (["hydra.job.chdir=true"], "hydra.job.chdir=true: not used by orchestrator run; the "
     "working directory never changes"),
    (["hydra/launcher=submitit_slurm"], "jobs are launched by executor=local|debug|slurm"),
    (["++hydra.verbose=true"], "hydra.verbose=true: not used by orchestrator run"),
    (["hydra.output_subdir=null"], "Hydra's own settings do not apply"),
    (["serch.dir=x"], "serch.dir: no such setting; did you mean search.dir?"),
    (["executor.trian.partiton=gpu"], "did you mean executor.train.partition?"),
    (["search.patiance=3"], "search.patiance: no such setting; did you mean search.patience?"),
    (["train.num_train_epochs=3"], "train.num_train_epochs=3: not a setting here; write "
     "train.epochs=3"),
    (["train.per_device_train_batch_size=16"], "write train.per_device_batch_size=16"),
    (["train.per_device_eval_batch_size=128"], "write infer.batch_size=128"),
    (["train.gradient_accumulation_steps=4"], "write train.grad_accum_steps=4"),
    (["train.fp16=true"], "train.fp16=true: not a setting here; write train.precision=fp16"),
    (["train.bf16=True"], "write train.precision=bf16"),
    (["train.fp16=false"], "write train.precision=fp32"),
    (["train.lr_scheduler_type=linear"], "write train.lr_scheduler=linear"),
    (["train.warmup_ratio=0.06"], "write train.warmup_steps=0.06 (a value < 1 is a ratio)"),
    (["executor.train.gpus=2"], "executor.train.gpus=2: not a setting here; write "
     "executor.train.gpus_per_node=2"),
    (["executor.infer.num_gpus=1"], "write executor.infer.gpus_per_node=1"),
    (["executor.train.gres=gpu:a100:2"], "write executor.train.gpus_per_node=2"),
    (["executor.gpus=1"], "write executor.train.gpus_per_node=1 (and/or "
     "executor.infer.gpus_per_node=1)"),
    (["executor.train.time=02:30:00"], "write executor.train.timeout_min=150"),
    (["executor.train.time=1-00:00:00"], "write executor.train.timeout_min=1440"),
    (["executor.infer.timeout=45"], "write executor.infer.timeout_min=45"),
    (["executor.train.mem=32G"], "write executor.train.mem_gb=32"),
    (["executor.train.mem=16000M"], "write executor.train.mem_gb=15.625"),
    (["model.model_name_or_path=bert-base-cased"], "write model.name_or_path=bert-base-cased"),
]


@pytest.mark.parametrize(("words", "fragment"), HABITS, ids=[" ".join(h[0]) for h in HABITS])
def test_hydra_and_trainer_habits_get_the_exact_replacement(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], words: list[str],
        fragment: str) -> None:
    search_dir = tmp_path / "s"
    code = main(["run", "search.target=0.8", f"search.dir={search_dir}", *words])
    err = capsys.readouterr().err
    assert code == exit_codes.USAGE, err
    assert any(fragment in line for line in assert_one_line_per_problem(err)), err
    assert not search_dir.exists()


def test_habits_and_typos_are_reported_together(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "search.target=0.8", "hydra.run.dir=o", "serch.dir=x",
                 "train.fp16=true", "train.learning_rate=1e-5,3e-5",
                 "executor.train.setup=[a=1]"]) == 2
    problems = assert_one_line_per_problem(capsys.readouterr().err)
    assert [p.split(":")[0].split("=")[0] for p in problems] == [
        "hydra.run.dir", "train.fp16", "executor.train.setup", "train.learning_rate",
        "serch.dir"]


def test_the_multirun_flag_reaches_compose_only_through_the_cli() -> None:
    with pytest.raises(ConfigError) as caught:
        config.compose(["search.target=0.8"], multirun=True)
    assert caught.value.problems[0].startswith("--multirun: not needed")


# ------------------------------------------------------------------ 12: warnings
WARNINGS = [
    (["search.space={learning_rate: [1e-4, 3e-4, 1e-3], seed: [1, 2]}", "search.max_trials=4"],
     "warning: search.space has 6 grid points but search.max_trials=4: 2 are never tried; "
     "raise search.max_trials to 6 or use search.sampler=random"),
    (["search.space={learning_rate: [1e-4, 3e-4]}", "search.max_trials=5"],
     "warning: search.space has 2 grid points: only 2 trials run, not search.max_trials=5"),
    (["search.sampler=optuna", "search.max_trials=4"],
     "warning: search.sampler=optuna without search.space: the trials differ by seed only"),
    (["search.sampler=random", "search.max_trials=4"],
     "warning: search.sampler=random without search.space"),
    (["search.sampler=random", "search.space={learning_rate: {low: 1e-5, high: 1e-3}}"],
     "warning: search.sampler=random with search.max_trials=1: one trial tries one point"),
    (["search.early_stop=median", "search.max_trials=2"],
     "warning: search.early_stop=median never acts: it needs search.early_stop_min_trials=2 "
     "other trials with a result at a step, and at most 2 trials run"),
    (["search.early_stop=median", "search.max_trials=10",
      "search.space={learning_rate: [1e-4, 3e-4]}"],
     "search.early_stop=median never acts"),  # the grid runs only 2 trials
    (["search.early_stop=median", "search.max_trials=4", "train.max_steps=200",
      "search.early_stop_grace_steps=500"],
     "search.early_stop_grace_steps=500 is past train.max_steps=200"),
    (["search.early_stop=asha", "search.early_stop_grace_steps=100", "search.max_trials=2"],
     "warning: search.early_stop=asha never acts: it needs search.early_stop_min_trials=2"),
]


@pytest.mark.parametrize(("words", "line"), WARNINGS, ids=[" ".join(w[0]) for w in WARNINGS])
def test_settings_that_cannot_do_what_they_say_warn_and_the_search_still_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], words: list[str],
        line: str) -> None:
    assert main(["run", "search.target=0.8", f"search.dir={tmp_path / 's'}", *words,
                 "--dry-run"]) == 0
    captured = capsys.readouterr()
    warnings = captured.err.strip().splitlines()
    assert any(line in w for w in warnings), captured.err
    assert all(w.startswith("warning: ") for w in warnings)
    assert "dry run: nothing was submitted" in captured.out


QUIET = [
    [],
    ["search.space={learning_rate: [1e-4, 3e-4]}", "search.max_trials=2"],
    ["search.sampler=optuna", "search.space={learning_rate: {low: 1e-5, high: 1e-3}}",
     "search.max_trials=12", "search.early_stop=median"],
    ["search.early_stop=median", "search.max_trials=3"],
]


@pytest.mark.parametrize("words", QUIET, ids=[" ".join(q) or "defaults" for q in QUIET])
def test_sound_settings_warn_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     words: list[str]) -> None:
    assert main(["run", "search.target=0.8", f"search.dir={tmp_path / 's'}", *words,
                 "--dry-run"]) == 0
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------ 13: --version, --help
def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    pyproject = (ROOT / "pyproject.toml").read_text()
    version = re.search(r'^version = "(.+)"', pyproject, re.MULTILINE)
    assert version
    assert capsys.readouterr().out == f"orchestrator {version[1]}\n"


def test_the_fallback_version_is_the_project_s() -> None:
    import orchestrator

    assert f'version = "{orchestrator.__version__}"' in (ROOT / "pyproject.toml").read_text()


def test_run_help_lists_groups_documentation_and_exit_statuses(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["run", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for folder in sorted(p for p in (ROOT / "conf").iterdir() if p.is_dir()):
        options = sorted(p.stem for p in folder.glob("*.yaml"))
        listed = re.search(rf"^  {folder.name} +(.+)$", out, re.MULTILINE)
        assert listed, (folder.name, out)
        assert [o.rstrip("*") for o in listed[1].split(" | ")] == options
    assert "local*" in out and "synthetic*" in out  # the defaults are marked
    assert "orchestrator/config/settings.py" in out and "conf/config.yaml" in out
    for code, meaning in ((0, "target was reached"), (1, "without reaching"), (2, "usage"),
                          (3, "failed"), (7, "crashed"), (130, "interrupted")):
        assert re.search(rf"^  {code} +.*{meaning}", out, re.MULTILINE), (code, out)


@pytest.mark.parametrize(("command", "codes"), [
    ("status", (0, 1, 2, 3, 4, 5, 6)), ("watch", (0, 1, 2, 3, 5, 6, 130)),
    ("ls", ()), ("cancel", ()), ("report", ()), ("clean", ()),
])
def test_each_subcommand_help_says_what_it_does_and_its_exit_statuses(
        capsys: pytest.CaptureFixture[str], command: str, codes: tuple[int, ...]) -> None:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    description = out.split("\n\n")[1]  # usage, then the description
    assert " ".join(description.split()) == cli._sentence(cli.COMMANDS[command].HELP).replace(
        "\n", " "), out
    for code in codes:
        assert re.search(rf"^  {code} +{re.escape(exit_codes.MEANINGS[code])}", out,
                         re.MULTILINE), (code, out)
    assert ("exit status:" in out) == bool(codes)


def test_run_help_imports_no_hydra() -> None:
    code = ("import sys\nfrom orchestrator.cli.main import main\n"
            "try:\n    main(['run', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('hydra', 'submitit', 'omegaconf') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out.strip().splitlines()[-1] == "[]"


# ------------------------------------------------------------------ 14: exit statuses
@pytest.mark.parametrize(("status", "code"), [
    ("target_reached", 0), ("metric_fell", 1), ("exhausted", 1), ("failed", 3),
    ("something new", 3),
])
def test_exit_status_of_an_ended_search(status: str, code: int) -> None:
    assert exit_codes.of_status(status) == code


@pytest.mark.parametrize("status", ["target_reached", "metric_fell", "exhausted", "failed"])
def test_run_exits_with_the_status_of_the_search(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: str) -> None:
    monkeypatch.setattr(app, "run_search", lambda *a, **k: status)
    code = main(["run", "search.target=0.8", f"search.dir={tmp_path / 's'}"])
    assert code == exit_codes.of_status(status)


@pytest.mark.parametrize(("error", "code"), [
    (SubmissionRefused("submitting train-t001-a0 failed: Invalid account"), exit_codes.USAGE),
    (SchedulerError("submitting infer-t001-s00000100-a0 failed: Invalid qos"),
     exit_codes.FAILED),
    (ConfigError(["search.dir=x: not writable"]), exit_codes.USAGE),
])
def test_errors_exit_with_their_status_and_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        error: Exception, code: int) -> None:
    """A refusal before anything ran is a usage error; after jobs ran, the search failed."""
    def refused(*args: object, **kwargs: object) -> str:
        raise error

    monkeypatch.setattr(app, "run_search", refused)
    assert main(["run", "search.target=0.8", f"search.dir={tmp_path / 's'}"]) == code
    assert capsys.readouterr().err == f"error: {error}\n"


def test_ctrl_c_exits_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(*args: object, **kwargs: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(app, "run_search", interrupted)
    assert main(["run", "search.target=0.8", f"search.dir={tmp_path / 's'}"]) == 130
    assert "interrupted" in capsys.readouterr().err


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyError("trial"),
                                   ValueError("[rank0] odd")])
def test_a_crash_exits_with_its_own_status_not_not_reached(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        error: Exception) -> None:
    """Python exits 1 on an uncaught exception: that is "not reached", which scripts (and a
    detached controller's job) read as a search that ended."""
    def crashed(*args: object, **kwargs: object) -> str:
        raise error

    monkeypatch.setattr(app, "run_search", crashed)
    code = main(["run", "search.target=0.8", f"search.dir={tmp_path / 's'}"])
    assert code == exit_codes.CRASHED
    assert code not in exit_codes.SEARCH_ENDED
    err = capsys.readouterr().err
    assert "Traceback" in err and err.splitlines()[-1] == cli.crash_text(error)
    assert type(error).__name__ in err.splitlines()[-1]


def test_a_crash_with_traceback_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "run_search", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        main(["run", "search.target=0.8", f"search.dir={tmp_path / 's'}", "--traceback"])


@pytest.mark.parametrize("argv", [[], ["run", "--nope"], ["stat"], ["status"],
                                  ["run", "--cfg", "everything"]])
def test_a_usage_error_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == exit_codes.USAGE
    assert "usage:" in capsys.readouterr().err


def test_the_cli_has_no_exit_constants_of_its_own() -> None:
    assert not [name for name in vars(cli) if name.startswith("EXIT_")]


def test_overrides_may_follow_a_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`orchestrator run a=1 --dry-run b=2`: argparse alone refuses `b=2` after the flag."""
    assert main(["run", "search.target=0.8", "--dry-run", f"search.dir={tmp_path / 'later'}"]) == 0
    assert str(tmp_path / "later") in capsys.readouterr().out
