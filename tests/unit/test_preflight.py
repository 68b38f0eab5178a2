"""Input errors found before anything is submitted (orchestrator/config/preflight.py): data files
scanned with the standard library, the model folder, contradicting train settings; all of
them in the one ConfigError with the other problems, exit 2, no search folder made."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from orchestrator.cli.main import main
from orchestrator.config import data_scan, preflight
from orchestrator.config.settings import (
    DataSettings,
    ExecutorSettings,
    InferSettings,
    ModelSettings,
    SearchSettings,
    Settings,
    TrainSettings,
)

STARS = {"1": "negative", "2": "negative", "3": "neutral", "4": "positive", "5": "positive"}


def _settings(tmp_path: Path, data: dict[str, Any] | None = None, model: dict[str, Any] | None
              = None, train: dict[str, Any] | None = None, executor: str = "local") -> Settings:
    return Settings(
        search=SearchSettings(dir=str(tmp_path / "s"), target=0.8),
        executor=ExecutorSettings(name=executor),
        data=DataSettings(**(data or {})),
        model=ModelSettings(**(model or {})),
        train=TrainSettings(**(train or {})),
        infer=InferSettings(),
    )


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _csv(rows: int = 30, header: str = "text,stars", label: str = "{s}") -> str:
    body = [f"review {i},{label.format(s=i % 5 + 1)}" for i in range(rows)]
    return "\n".join([header, *body]) + "\n"


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


GOOD_JSONL = _jsonl([{"text": f"t{i}", "stars": i % 5 + 1} for i in range(30)])

# (file name, content, data settings, fragments of the one problem; none: no problem)
FILES: list[tuple[str, str, dict[str, Any], list[str]]] = [
    ("ok.csv", _csv(), dict(label_column="stars", label_map=STARS), []),
    ("ok.tsv", _csv(header="text\tstars").replace(",", "\t"),
     dict(label_column="stars", label_map=STARS), []),
    ("ok.jsonl", GOOD_JSONL, dict(label_column="stars", label_map=STARS), []),
    ("bom.csv", "\ufeff" + _csv(), dict(label_column="stars", label_map=STARS), []),
    ("names.csv", _csv(label="{s}").replace(",1\n", ",negative\n").replace(",2\n", ",neutral\n")
     .replace(",3\n", ",positive\n").replace(",4\n", ",0\n").replace(",5\n", ",2\n"),
     dict(label_column="stars"), []),  # names, and integers indexing data.labels
    ("floats.jsonl", _jsonl([{"text": "a", "stars": 1.0}, {"text": "b", "stars": 2}] * 10),
     dict(label_column="stars"), []),  # 1.0 from a spreadsheet is label 1
    ("blank-lines.csv", "text,stars\n\n" + _csv().split("\n", 1)[1] + "\n\n",
     dict(label_column="stars", label_map=STARS), []),
    ("no-text.csv", _csv(header="tweet,stars"), dict(label_column="stars", label_map=STARS),
     ["no column 'text' (data.text_column); its columns: stars, tweet; set data.text_column"]),
    ("no-label.jsonl", _jsonl([{"text": "a", "rating": 1}] * 20),
     dict(label_column="stars", label_map=STARS),
     ["no column 'stars' (data.label_column); its columns: rating, text"]),
    ("some-rows-lack-it.jsonl", GOOD_JSONL + _jsonl([{"text": "x"}]),
     dict(label_column="stars", label_map=STARS),
     ["no column 'stars' (data.label_column) in 1 of 31 rows, first at line 31"]),
    ("outside-map.csv", _csv().replace("review 7,3", "review 7,7").replace("review 9,5",
                                                                          "review 9,7"),
     dict(label_column="stars", label_map=STARS),
     ["2 rows have a 'stars' label that neither data.label_map nor data.labels",
      "'7' (2 rows, first at line 9)",
      "add '7' to data.label_map, each mapped to one of data.labels [negative, neutral, "
      "positive], or set data.label_map=null"]),
    # issue 27: class names with the stars map still set (data=files' old default) just work
    ("names-with-map.csv", _csv(label="{s}").replace(",1\n", ",negative\n")
     .replace(",2\n", ",neutral\n").replace(",3\n", ",positive\n").replace(",4\n", ",1\n")
     .replace(",5\n", ",5\n"), dict(label_column="stars", label_map=STARS), []),
    # ...and other class names under a map get advice that pastes whole
    ("other-names-with-map.csv", _csv(label="{s}").replace(",1\n", ",joy\n")
     .replace(",2\n", ",anger\n").replace(",3\n", ",joy\n").replace(",4\n", ",fear\n")
     .replace(",5\n", ",joy\n"), dict(label_column="stars", label_map=STARS),
     ["the file names its classes itself: data.labels=[anger,fear,joy] data.label_map=null"]),
    ("int-out-of-range.csv", _csv(), dict(label_column="stars"),
     ["covers: '3' (6 rows, first at line 4), '4' (6 rows, first at line 5), '5' (6 rows",
      "integer labels index data.labels [negative, neutral, positive] (0 to 2)"]),
    ("other-names.csv", _csv(label="pos"), dict(label_column="stars"),
     ["30 rows have a 'stars' label", "'pos' (30 rows, first at line 2)",
      "data.labels=[pos]"]),
    ("some-names-missing.csv", _csv(label="{s}").replace(",1\n", ",negative\n")
     .replace(",2\n", ",meh\n").replace(",3\n", ",positive\n").replace(",4\n", ",meh\n")
     .replace(",5\n", ",negative\n"), dict(label_column="stars"),
     ["data.labels=[meh,negative,positive]"]),  # every class of the file, not the missing only
    ("short-row.csv", _csv() + "review without a label\n",
     dict(label_column="stars", label_map=STARS), ["'' (1 row, first at line 32)"]),
    ("bool.jsonl", GOOD_JSONL + _jsonl([{"text": "x", "stars": True}]),
     dict(label_column="stars", label_map=STARS), ["'True' (1 row, first at line 31)"]),
    ("wrong-column.csv", _csv(rows=100), dict(label_column="text"),
     ["100 rows have a 'text' label", "100 different values: is data.label_column=text"]),
    ("empty.csv", "", dict(label_column="stars"), ["no rows"]),
    ("header-only.csv", "text,stars\n", dict(label_column="stars"), ["no rows"]),
    ("empty.jsonl", "\n\n", dict(label_column="stars"), ["no rows"]),
    ("too-small.csv", _csv(rows=1), dict(label_column="stars", label_map=STARS),
     ["1 row leaves no train examples once data.val_fraction=0.1 is cut off"]),
    ("bad.jsonl", GOOD_JSONL + "{oops\n", dict(label_column="stars", label_map=STARS),
     ["line 31 is not valid JSON"]),
    ("array.jsonl", "[1, 2]\n", dict(label_column="stars"), ["line 1 is not a JSON object"]),
    ("latin1.csv", "text,stars\ncaf\xe9,1\n", dict(label_column="stars", label_map=STARS),
     ["not UTF-8"]),
    ("huge-field.csv", "text,stars\n" + "x" * 140_000 + ",1\n",
     dict(label_column="stars", label_map=STARS), ["not valid CSV near line 2", "field limit"]),
    ("data.xlsx", "whatever", dict(label_column="stars"), ["unsupported extension '.xlsx'"]),
]


@pytest.mark.parametrize(("name", "content", "data", "fragments"), FILES,
                         ids=[f[0] for f in FILES])
def test_a_data_file_is_scanned_as_the_job_reads_it(tmp_path: Path, name: str, content: str,
                                                    data: dict[str, Any],
                                                    fragments: list[str]) -> None:
    path = tmp_path / name
    if name.startswith("latin1"):
        path.write_bytes(content.encode("latin-1"))
    else:
        _write(path, content)
    settings = _settings(tmp_path, dict(source="files", train_file=str(path),
                                        test_file=str(path), **data))
    found = preflight.problems(settings)
    if not fragments:
        assert found == []
        return
    first = found[0]
    assert first.startswith(f"data.train_file={path}: ") and "\n" not in first
    for fragment in fragments:
        assert fragment in first, first
    # the same file as test_file: the same problem, but only train is cut for validation
    assert len(found) == (1 if "no train examples" in first else 2), found
    assert found[-1].startswith(f"data.{'train' if len(found) == 1 else 'test'}_file={path}: ")


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_the_scan_agrees_with_the_training_jobs_reader(tmp_path: Path, suffix: str) -> None:
    """Whatever the scan accepts, jobs/data.py loads; whatever it refuses, jobs/data.py
    refuses too (on the first bad row)."""
    from jobs.data import load_train_val

    rows = [("a", "1"), ("b", "2.0"), ("c", " 2 "), ("d", "neutral"), ("e", "0"), ("f", "9")]
    path = tmp_path / f"train.{suffix}"
    if suffix == "csv":
        _write(path, "text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    else:
        _write(path, _jsonl([{"text": t, "label": label} for t, label in rows]))
    data = DataSettings(source="files", train_file=str(path), test_file=str(path))
    found = data_scan.scan_file(path, "x", data, True)
    assert len(found) == 1 and "'9' (1 row" in found[0] and "'2.0'" in found[0]
    assert "' 2 '" not in found[0]  # int(" 2 ") is 2 for the job too
    with pytest.raises(ValueError, match=r"label '2\.0' is not one of data\.labels"):
        load_train_val(data)
    good = DataSettings(source="files", train_file=str(path), test_file=str(path),
                        labels=("negative", "neutral", "positive", "x", "y", "z", "w", "v",
                                "u", "t", "2.0"))
    assert data_scan.scan_file(path, "x", good, True) == []
    assert len(load_train_val(good)[0]) == 5


def test_a_million_rows_are_scanned_in_seconds(tmp_path: Path) -> None:
    import time

    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("text,stars\n")
        handle.writelines(f"review number {i} reads fine,{i % 5 + 1}\n" for i in range(10**6))
    data = DataSettings(source="files", label_column="stars", label_map=STARS)
    started = time.perf_counter()
    assert data_scan.scan_file(path, "x", data, True) == []
    assert time.perf_counter() - started < 15  # about 1 s on one free core


def _model_folder(tmp_path: Path, config: str | None) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    if config is not None:
        _write(folder / "config.json", config)
    return folder


MODELS: list[tuple[str, Any, str]] = [
    ("missing-absolute", "/nonexistent/model", "/nonexistent/model does not exist"),
    ("missing-relative", "./no/such/model", "no/such/model does not exist"),
    ("missing-home", "~/no-such-model-here", "no-such-model-here does not exist"),
    ("missing-nested", "models/bert/base", "models/bert/base does not exist"),
    ("no-config", None, "has no config.json"),
    ("corrupt-config", "{not json", "cannot be read as JSON"),
    ("config-not-an-object", "[1]", "is not a JSON object"),
    ("a-file", "FILE", "is a file, not a folder"),
    ("ok", '{"model_type": "bert"}', ""),
]


@pytest.mark.parametrize(("case", "config", "fragment"), MODELS, ids=[m[0] for m in MODELS])
def test_a_local_model_folder_must_hold_a_config(tmp_path: Path, case: str, config: Any,
                                                  fragment: str) -> None:
    if case.startswith("missing"):
        name = config
    elif config == "FILE":
        name = str(_write(tmp_path / "model.bin", "x"))
    else:
        name = str(_model_folder(tmp_path, config))
    found = preflight.problems(_settings(tmp_path, model=dict(name_or_path=name)))
    if not fragment:
        assert found == []
        return
    assert len(found) == 1 and found[0].startswith(f"model.name_or_path={name}: "), found
    assert fragment in found[0]


@pytest.mark.parametrize(("executor", "cached", "offline", "error", "warning"), [
    ("local", False, "1", True, False),
    ("debug", False, "true", True, False),
    ("slurm", False, "1", False, True),  # the compute nodes may have internet or a cache
    ("local", True, "1", False, False),
    ("local", False, "", False, False),  # online: the job downloads it
])
def test_a_hub_model_offline_must_be_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            executor: str, cached: bool, offline: str,
                                            error: bool, warning: bool) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    if cached:
        snapshot = tmp_path / "hf" / "hub" / "models--org--bert" / "snapshots" / "abc"
        snapshot.mkdir(parents=True)
        _write(snapshot / "config.json", "{}")
    settings = _settings(tmp_path, model=dict(name_or_path="org/bert"), executor=executor)
    errors, warnings = preflight.problems(settings), preflight.warnings(settings)
    assert bool(errors) == error and bool(warnings) == warning, (errors, warnings)
    for line in errors + warnings:
        assert "model.name_or_path=org/bert: not in the Hugging Face cache" in line
        assert "huggingface-cli download org/bert" in line


def test_a_hub_dataset_offline_and_not_cached_is_a_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    settings = _settings(tmp_path, data=dict(source="hub", hub_name="mteb/tweets"))
    assert preflight.problems(settings) == []
    assert ["data.hub_name=mteb/tweets: not in the Hugging Face cache" in w
            for w in preflight.warnings(settings)] == [True]
    (tmp_path / "hf" / "datasets" / "mteb___tweets").mkdir(parents=True)
    assert preflight.warnings(settings) == []


RECIPES: list[tuple[dict[str, Any], dict[str, Any], str]] = [
    (dict(early_stopping_patience=3, load_best_model_at_end=False), {},
     "train.early_stopping_patience=3 needs train.load_best_model_at_end=true"),
    (dict(metric_for_best_model="f1_macro"), {},
     "train.metric_for_best_model=f1_macro: the training job's evaluation reports accuracy, "
     "precision, recall, f1, loss (macro averages); use train.metric_for_best_model=f1"),
    (dict(metric_for_best_model="bleu"), {}, "train.metric_for_best_model=bleu"),
    ({}, dict(dropout=1.5), "model.dropout=1.5: must be in [0, 1)"),
    ({}, dict(tiny_hidden=100, tiny_heads=3), "model.tiny_hidden=100 must be a multiple"),
    (dict(metric_for_best_model="eval_loss"), {}, ""),
    (dict(early_stopping_patience=0, load_best_model_at_end=False), {}, ""),
]


@pytest.mark.parametrize(("train", "model", "fragment"), RECIPES,
                         ids=[r[2][:40] or f"ok-{i}" for i, r in enumerate(RECIPES)])
def test_train_settings_that_contradict_each_other(tmp_path: Path, train: dict[str, Any],
                                                   model: dict[str, Any], fragment: str) -> None:
    settings = _settings(tmp_path, train=train, model=model)
    found = preflight.problems(settings)
    assert len(found) == bool(fragment) and all(fragment in p for p in found), found
    # users' own training scripts get train.* only as placeholders: nothing to contradict
    byo = replace(settings, train=replace(settings.train, command="run.sh {output_dir}"))
    assert [p for p in preflight.problems(byo) if p.startswith("train.")] == []


@pytest.mark.parametrize(("space", "max_trials", "fragment"), [
    ({"save_steps": [250, 100]}, 2,
     "search.space: trial 2 (save_steps=100): train.save_steps=100 must be a multiple of "
     "train.eval_steps=250"),
    ({"load_best_model_at_end": [True, False]}, 2,
     "search.space: trial 2 (load_best_model_at_end=False): train.early_stopping_patience=5 "
     "needs train.load_best_model_at_end=true"),
    ({"metric_for_best_model": ["f1", "f1_macro"]}, 2, "trial 2 (metric_for_best_model=f1_macro)"),
    ({"save_steps": [250, 100]}, 1, ""),  # the grid stops before the bad point
    ({"save_steps": [250, 500]}, 2, ""),
])
def test_each_trial_of_a_grid_is_checked_with_its_own_settings(
        tmp_path: Path, space: dict[str, Any], max_trials: int, fragment: str) -> None:
    settings = _settings(tmp_path)
    settings = replace(settings, search=replace(settings.search, space=space,
                                                max_trials=max_trials))
    found = preflight.problems(settings)
    assert len(found) == bool(fragment) and all(fragment in p for p in found), found


def test_every_input_problem_joins_the_other_config_problems(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI: exit 2, one error line listing every problem, no search folder made."""
    train = _write(tmp_path / "train.csv", _csv(header="tweet,stars"))
    test = _write(tmp_path / "test.csv", _csv().replace("review 3,4", "review 3,9"))
    directory = tmp_path / "search"
    code = main(["run", "executor=local", "data=files", "data.label_column=stars",
                 "data.label_map={1: negative, 2: negative, 3: neutral, 4: positive, "
                 "5: positive}", f"data.train_file={train}",
                 f"data.test_file={test}", "model.name_or_path=/nonexistent/model",
                 "train.early_stopping_patience=2", "train.load_best_model_at_end=false",
                 "search.patience=0", "search.target=0.8", f"search.dir={directory}"])
    err = capsys.readouterr().err
    assert code == 2, err
    for fragment in ("search.patience=0: must be >= 1",
                     f"data.train_file={train}: no column 'text'",
                     f"data.test_file={test}: 1 row has a 'stars' label",
                     "model.name_or_path=/nonexistent/model: /nonexistent/model does not exist",
                     "train.early_stopping_patience=2 needs train.load_best_model_at_end=true"):
        assert fragment in err, err
    assert not directory.exists()


def test_the_readme_cluster_command_offline_is_a_warning_not_an_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """On SLURM the compute nodes may have internet or a cache of their own: never refuse."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code = main(["run", "executor=slurm", "data=tweet_sentiment", "model=bert_base",
                 "train=seed_recipe", "search.target=0.80", f"search.dir={tmp_path / 'bert'}",
                 "--dry-run"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "# dry run: nothing was submitted" in captured.out
    warnings = [ln for ln in captured.err.splitlines() if ln.startswith("warning: ")]
    assert len(warnings) == 2, captured.err
    assert "model.name_or_path=google-bert/bert-base-uncased: not in the Hugging Face" \
           in warnings[0]
    assert "data.hub_name=mteb/tweet_sentiment_extraction: not in the Hugging Face" \
           in warnings[1]
    # the same on this machine's executor: the jobs would fail for sure
    code = main(["run", "executor=local", "model=bert_base", "search.target=0.80",
                 f"search.dir={tmp_path / 'local'}", "--dry-run"])
    assert code == 2 and "google-bert/bert-base-uncased: not in the Hugging Face cache" in (
        capsys.readouterr().err)


def _labelled(path: Path, labels: list[str]) -> Path:
    rows = [f"example {i} says {label},{label}" for i, label in enumerate(labels)]
    return _write(path, "\n".join(["text,label", *rows]) + "\n")


def test_a_plain_text_label_csv_runs_with_the_files_defaults(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The most common file, `text,label` with class names, needs no data.* key but paths."""
    train = _labelled(tmp_path / "train.csv", ["negative", "neutral", "positive"] * 10)
    test = _labelled(tmp_path / "test.csv", ["positive", "negative"] * 5)
    code = main(["run", "executor=local", "data=files", f"data.train_file={train}",
                 f"data.test_file={test}", "search.target=0.8",
                 f"search.dir={tmp_path / 's'}", "--dry-run"])
    assert code == 0, capsys.readouterr().err


def test_the_advice_for_other_class_names_pastes_whole(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The error's suggested overrides, pasted after the same command, make it pass."""
    train = _labelled(tmp_path / "train.csv", ["joy", "anger", "fear"] * 10)
    test = _labelled(tmp_path / "test.csv", ["joy", "fear"] * 5)
    command = ["run", "executor=local", "data=files", f"data.train_file={train}",
               f"data.test_file={test}", "search.target=0.8", f"search.dir={tmp_path / 's'}",
               "data.label_map={1: negative}", "--dry-run"]
    assert main(command) == 2
    err = capsys.readouterr().err
    advice = err.split("the file names its classes itself: ", 1)[1].split("\n")[0].split()
    assert advice == ["data.labels=[anger,fear,joy]", "data.label_map=null"], err
    assert main([*command, *advice]) == 0, capsys.readouterr().err
