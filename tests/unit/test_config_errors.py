"""Bad configurations: exit 2, one line per problem, every problem at once, nothing submitted."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.cli.main import main
from tests.support.config_errors import assert_one_line_per_problem

BAD = [
    # (overrides, a fragment the message must contain)
    (["executor=nope"], "executor/nope"),
    (["data=nope"], "available options in 'data': amazon_reviews, files, synthetic, "
                    "synthetic_prices, tweet_sentiment"),
    (["search.patiance=3"], "search.patiance: no such setting; did you mean search.patience?"),
    (["serch.patience=3"], "serch.patience: no such setting; did you mean search.patience?"),
    (["executor.infer.tim=3"], "the keys under executor.infer are timeout_min, cpus_per_task"),
    (["search.target.x=1"], "search.target has no sub-keys"),
    (["search.target=79.43"], "write search.target=0.7943"),
    (["search.target=1.5"], "fraction in [0, 1]"),
    (["search.target=null"], "search.target: missing"),
    (["search.target=high"], "search.target: expected float"),
    (["search.patience=0"], "search.patience=0: must be >= 1"),
    (["search.min_delta=-0.1"], "search.min_delta=-0.1: must be >= 0"),
    (["search.min_delta=5"], "a fall can never exceed 1"),
    (["search.mode=up"], "search.mode=up: must be one of max, min"),
    (["search.mode=min"], "higher is better"),
    (["search.metric=bleu"], "search.metric=bleu"),
    (["search.max_trials=0"], "search.max_trials=0: must be >= 1"),
    (["+search.patiance=3"], "search.patiance: unknown key (did you mean search.patience?)"),
    (["train.learning_rate=-1"], "train.learning_rate=-1: must be > 0"),
    (["train.per_device_batch_size=big"], "train.per_device_batch_size: expected int"),
    (["train.save_steps=30", "train.eval_steps=20"], "multiple of train.eval_steps"),
    (["train.report_to=comet"],
     "train.report_to=comet: must be one of auto, none, tensorboard, wandb, mlflow"),
    (["data.val_fraction=2"], "data.val_fraction=2: must be between 0 and 1"),
    (["data.source=files", "data.train_file=/nope/train.csv", "data.test_file=/nope/t.csv"],
     "data.train_file=/nope/train.csv: no such file"),
    (["data.label_map={1: negative, 5: great}"], "data.label_map maps to great"),
    (["executor.train.setup_template=/nope.sh"], "setup_template=/nope.sh: no such file"),
    (["executor.infer.cpus_per_task=0"], "executor.infer.cpus_per_task=0: must be >= 1"),
    (["report.x=time"], "report.x=time: must be one of step, examples"),
    (["search.dir={tmp}/a-file/search"], "a-file is not a folder"),
    (["search.max_trials"], "search.max_trials"),  # not key=value: Hydra's parse error
    (["infer.command='bash run_inf.sh {ckpt}'"], "infer.command: unknown placeholder {ckpt}"),
    (["infer.command='bash run_inf.sh {checkpoint}'", "infer.metric_regex=accuracy"],
     "infer.metric_regex: needs one (group)"),
    (["train.command='bash \"unclosed'"], "train.command: cannot be split"),
    (["search.space={learning_rat: [1e-3]}"], "search.space.learning_rat: not a train setting"),
    (["search.space={learning_rate: {low: 1e-4, high: 1e-2}}"], "cannot be walked by"),
    (["search.space={learning_rate: {low: 0, high: 1e-2, log: true}}", "search.sampler=random"],
     "a log range needs low > 0"),
    (["search.space={epochs: []}"], "search.space.epochs: an empty list"),
    (["search.sampler=bayes"], "search.sampler=bayes: must be one of grid, random, optuna"),
    (["search.max_concurrent_trials=0"], "search.max_concurrent_trials=0: must be >= 1"),
    (["search.early_stop=sometimes"], "search.early_stop=sometimes"),
    (["search.early_stop=asha"], "search.early_stop=asha needs "
     "search.early_stop_grace_steps >= 1, the first rung's step; e.g. "
     "search.early_stop_grace_steps=100"),  # train.save_steps
    (["search.early_stop=hyperband"], "search.early_stop=hyperband needs "
     "search.early_stop_grace_steps >= 1"),
    (["search.early_stop=hyperband", "search.early_stop_grace_steps=100", "train.max_steps=-1"],
     "search.early_stop=hyperband needs the last step a trial trains to: set "
     "search.early_stop_max_resource (or train.max_steps)"),
    (["search.early_stop=wilcoxon", "infer.command='bash run_inf.sh {checkpoint}'"],
     "search.early_stop=wilcoxon needs per-example scores, which infer.command (your own "
     "script) does not write; use search.early_stop=median, asha or hyperband"),
    (["search.early_stop=wilcoxon", "search.early_stop_p_threshold=1.5"],
     "search.early_stop_p_threshold=1.5: must be between 0 and 1"),
    (["search.early_stop=hyperband", "search.early_stop_grace_steps=500", "train.max_steps=200"],
     "search.early_stop=hyperband: the last step 200"),
    (["search.early_stop_reduction_factor=1"],
     "search.early_stop_reduction_factor=1: must be >= 2"),
    (["search.early_stop_reduction_factr=3"], "search.early_stop_reduction_factr"),
    (["train.command='run.sh {train.learning_rat}'"], "train.command: unknown placeholder"),
    # data.task=regression (orchestrator/config/task_checks.py)
    (["data.task=ranking"], "data.task=ranking: must be one of classification, regression"),
    (["data.task=regression"], "data.task=regression with data.source=synthetic: that set has"),
    (["data.source=synthetic_prices"], "data.source=synthetic_prices holds prices, not classes"),
    (["data=synthetic_prices", "train.metric_for_best_model=mae"],
     "search.metric=accuracy: a regression's inference job reports mae, rmse, r2, loss"),
    (["data=synthetic_prices", "search.metric=mae", "train.metric_for_best_model=f1"],
     "train.metric_for_best_model=f1: a regression's validation reports mae"),
    (["data=synthetic_prices", "search.metric=rmse", "search.target=-2",
      "train.metric_for_best_model=rmse"], "search.target=-2: rmse is never negative"),
    (["data=synthetic_prices", "search.metric=r2", "search.target=2",
      "train.load_best_model_at_end=false"], "search.target=2: r2 is at most 1"),
    (["data=files", "data.task=regression", "data.label_column=price",
      "data.train_file={tmp}/prices.csv", "data.test_file={tmp}/prices.csv",
      "search.metric=mae", "train.metric_for_best_model=mae"],
     "data.train_file={tmp}/prices.csv: 2 of 4 rows have no finite number in "
     "data.label_column=price (line 3: 'cheap', line 5: ''); data.task=regression needs"),
    # train.lora (orchestrator/config/lora_checks.py)
    (["train.lora={r: 0}"], "train.lora.r=0: must be >= 1"),
    (["train.lora={dropout: 1.5}"], "train.lora.dropout=1.5: must be in [0, 1)"),
    (["train.lora={quantize: 8bit}"], "train.lora.quantize=8bit: must be empty or 4bit"),
    (["train.lora.r=0"], "train.lora.r=0: must be >= 1"),  # a key of the section, Hydra-style
    (["train.lora.rr=8"], "train.lora.rr: no such setting; did you mean train.lora.r?"),
    (["executor=slurm", "train.lora={quantize: 4bit}"],
     "train.lora.quantize=4bit: QLoRA (bitsandbytes) needs a CUDA GPU and "
     "executor.train.gpus_per_node=0 asks for none"),
]


@pytest.mark.parametrize(("overrides", "fragment"), BAD, ids=[" ".join(b[0]) for b in BAD])
def test_bad_configuration_exits_2_with_one_line_and_submits_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], overrides: list[str], fragment: str
) -> None:
    search_dir = tmp_path / "search"
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "prices.csv").write_text("text,price\na,1.5\nb,cheap\nc,3\nd,\n")
    base = ["search.target=0.8", f"search.dir={search_dir}"]
    code = main(["run", *base, *(o.replace("{tmp}", str(tmp_path)) for o in overrides)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert fragment.replace("{tmp}", str(tmp_path)) in err
    assert_one_line_per_problem(err)
    assert not search_dir.exists()  # nothing journaled, nothing submitted



def test_every_problem_is_reported_at_once(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "search.target=79.43", "search.patience=0", "search.mode=up",
                 "train.learning_rate=-1", f"search.dir={tmp_path / 's'}"])
    err = capsys.readouterr().err
    assert code == 2
    for fragment in ("search.target=79.43", "search.patience=0", "search.mode=up",
                     "train.learning_rate=-1"):
        assert fragment.replace("{tmp}", str(tmp_path)) in err


def test_cfg_job_prints_the_composed_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--cfg", "job", "search.target=0.8", "executor=slurm"]) == 0
    out = capsys.readouterr().out
    assert "target: 0.8" in out
    assert "name: slurm" in out
    assert "learning_rate:" in out


def test_every_misspelt_key_is_reported_at_once(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Hydra stops at the first unknown key and advises `+key=...`; we name them all."""
    code = main(["run", "search.target=0.8", f"search.dir={tmp_path / 's'}",
                 "executor.train.partiton=gpu", "search.patiance=3", "data.label_map.x=1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "did you mean executor.train.partition?" in err
    assert "did you mean search.patience?" in err
    assert "label_map" not in err  # an open mapping takes any key
    assert "+executor" not in err


@pytest.mark.parametrize(("target", "suggested"), [
    ("79.43", "write search.target=0.7943"),  # a percentage: the fraction it meant
    ("-0.5", None),  # no valid fraction is -0.5 / 100: suggest nothing
    ("150", None),  # 1.5 is no fraction either
])
def test_a_target_out_of_range_suggests_only_a_valid_value(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str,
        suggested: str | None) -> None:
    code = main(["run", f"search.target={target}", f"search.dir={tmp_path / 's'}"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"search.target={target}" in err
    if suggested is None:
        assert "write search.target" not in err, err
    else:
        assert suggested in err



@pytest.mark.parametrize(("words", "lora"), [
    (["train.lora.r=8"], {"r": 8}),
    (["train.lora.r=8", "train.lora.alpha=32"], {"r": 8, "alpha": 32}),
    (["train.lora={r: 4, dropout: 0.1}", "train.lora.alpha=32"],
     {"r": 4, "dropout": 0.1, "alpha": 32}),  # a key added to the section given whole
])
def test_a_key_of_the_lora_section_is_set_as_hydra_users_write_it(
        words: list[str], lora: dict[str, object]) -> None:
    """train.lora is null until asked for: `train.lora.r=8` makes it (issue 27: 14)."""
    from orchestrator.config import compose

    settings = compose.to_settings(compose.compose(["search.target=0.8", *words]))
    assert settings.train.lora is not None
    assert {k: getattr(settings.train.lora, k) for k in lora} == lora
