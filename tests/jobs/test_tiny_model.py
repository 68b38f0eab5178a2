from __future__ import annotations

import json
from pathlib import Path

from jobs.tiny_model import SPECIAL_TOKENS, build_vocab, ensure_tiny_model
from orchestrator.config.settings import DataSettings, ModelSettings

TEXTS = ["The food was GOOD!", "the food was bad", "good, good food", "a typo: fod", "bad"]


def test_vocab_layout_specials_then_characters_then_frequent_words() -> None:
    vocab = build_vocab(TEXTS)
    assert vocab[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    chars = sorted(set("thefoodwasgoodbadtypo") | set("!,:"))
    after_specials = vocab[len(SPECIAL_TOKENS) :]
    assert after_specials[: 2 * len(chars)] == chars + [f"##{c}" for c in chars]
    # counts: good 3, food 3, the 2, was 2, bad 2; fod and typo once: left out
    assert after_specials[2 * len(chars) :] == ["food", "good", "bad", "the", "was"]


def test_building_twice_gives_identical_vocab_files(tmp_path: Path) -> None:
    model = ModelSettings()
    first = ensure_tiny_model(model, DataSettings(cache_dir=str(tmp_path / "a")), TEXTS * 3)
    second = ensure_tiny_model(model, DataSettings(cache_dir=str(tmp_path / "b")), TEXTS * 3)
    assert first.name == second.name
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_an_existing_model_is_reused(tmp_path: Path) -> None:
    data = DataSettings(cache_dir=str(tmp_path))
    first = ensure_tiny_model(ModelSettings(), data, TEXTS)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert ensure_tiny_model(ModelSettings(), data, TEXTS) == first
    assert (first / "model.safetensors").stat().st_mtime_ns == stamp


def test_config_has_no_dropout_the_tiny_init_range_and_the_labels(tmp_path: Path) -> None:
    data = DataSettings(cache_dir=str(tmp_path), labels=("neg", "pos"), max_length=64)
    folder = ensure_tiny_model(ModelSettings(tiny_layers=1), data, TEXTS)
    config = json.loads((folder / "config.json").read_text())
    assert config["hidden_dropout_prob"] == config["attention_probs_dropout_prob"] == 0.0
    assert config["initializer_range"] == 0.05
    assert config["num_hidden_layers"] == 1
    assert config["id2label"] == {"0": "neg", "1": "pos"}
    assert config["max_position_embeddings"] >= 64


def test_it_loads_offline_through_the_auto_classes(tmp_path: Path) -> None:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = ensure_tiny_model(ModelSettings(), DataSettings(cache_dir=str(tmp_path)), TEXTS)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    encoded = tokenizer("the food was good", truncation=True, max_length=16)
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    assert tokens == ["[CLS]", "the", "food", "was", "good", "[SEP]"]
    assert tokenizer.convert_ids_to_tokens(tokenizer("fod")["input_ids"]) == [
        "[CLS]", "f", "##o", "##d", "[SEP]"
    ]
    assert model.config.num_labels == 3
