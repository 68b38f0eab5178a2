"""A tiny BERT with a vocabulary built from the training texts: a model that needs no download.

Theory of operation: the `tokenizers` WordPiece trainer is not deterministic (ml-on-cpu.md),
so the vocabulary is built in plain Python: special tokens, every character and its
`##character`, then every word seen at least twice, by count (descending) then spelling.
Words are split with the same BERT normalizer and pre-tokenizer that the tokenizer uses, so
counting and tokenizing agree. The folder name is a digest of the config and the vocabulary:
the same settings and texts always give the same folder, and a folder that exists is used as
is. It is built in a temp folder and renamed into place; if another process wins the race,
its (identical) folder is used and ours is removed.

BERT's defaults (dropout 0.1, init range 0.02) never learn at this size: dropout is 0 unless
`model.dropout` is set, and the init range is `model.tiny_init_range` (0.05).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from orchestrator.config.settings import DataSettings, ModelSettings

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MIN_WORD_COUNT = 2
INIT_SEED = 0  # the saved weights are the same for every build; trials differ by data order
MIN_POSITIONS = 128


def ensure_tiny_model(
    model: ModelSettings, data: DataSettings, train_texts: Sequence[str] | None = None
) -> Path:
    """Build the tiny model and tokenizer once; return the folder `from_pretrained` loads.

    `train_texts` defaults to the texts of the training split (loaded from `data`); the
    training job passes the ones it already has.
    """
    if train_texts is None:
        from jobs.data import load_train_val

        train_texts = [example.text for example in load_train_val(data)[0]]
    vocab = build_vocab(train_texts)
    config = _config_dict(model, data, len(vocab))
    target = _cache_root(data) / f"tiny-model-{_digest(config, vocab)}"
    if not (target / "config.json").is_file():
        _build(target, config, vocab, data.max_length)
    return target


def _cache_root(data: DataSettings) -> Path:
    from jobs.synthetic import cache_root

    return cache_root(data)


def _normalizer_and_splitter() -> tuple[Any, Any]:
    from tokenizers import normalizers, pre_tokenizers

    return normalizers.BertNormalizer(lowercase=True), pre_tokenizers.BertPreTokenizer()


def build_vocab(texts: Iterable[str]) -> list[str]:
    """The deterministic WordPiece vocabulary described in the module docstring."""
    normalizer, splitter = _normalizer_and_splitter()
    counts: Counter[str] = Counter()
    for text in texts:
        words = splitter.pre_tokenize_str(normalizer.normalize_str(text))
        counts.update(word for word, _ in words)
    chars = sorted({char for word in counts for char in word})
    vocab = [*SPECIAL_TOKENS, *chars, *(f"##{char}" for char in chars)]
    known = set(vocab)
    frequent = sorted(
        (word for word, count in counts.items() if count >= MIN_WORD_COUNT and word not in known),
        key=lambda word: (-counts[word], word),
    )
    return vocab + frequent


def _config_dict(model: ModelSettings, data: DataSettings, vocab_size: int) -> dict[str, Any]:
    dropout = 0.0 if model.dropout is None else model.dropout
    labels = list(data.labels)
    return {
        "vocab_size": vocab_size,
        "hidden_size": model.tiny_hidden,
        "num_hidden_layers": model.tiny_layers,
        "num_attention_heads": model.tiny_heads,
        "intermediate_size": model.tiny_intermediate,
        "max_position_embeddings": max(MIN_POSITIONS, data.max_length),
        "hidden_dropout_prob": dropout,
        "attention_probs_dropout_prob": dropout,
        "initializer_range": model.tiny_init_range,
        "pad_token_id": SPECIAL_TOKENS.index("[PAD]"),
        "id2label": dict(enumerate(labels)),
        "label2id": {name: i for i, name in enumerate(labels)},
        "model_max_length": data.max_length,
    }


def _digest(config: dict[str, Any], vocab: list[str]) -> str:
    blob = json.dumps({"config": config, "vocab": vocab}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _build(target: Path, config: dict[str, Any], vocab: list[str], max_length: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        _save_model(tmp, config)
        _make_tokenizer(vocab, max_length).save_pretrained(str(tmp))
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "config.json").is_file():
                raise
            # Another process renamed its identical build into place first: use that one.
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _save_model(folder: Path, config: dict[str, Any]) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    settings = {k: v for k, v in config.items() if k != "model_max_length"}
    # fork_rng: a fixed init seed without disturbing the caller's random state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        model = BertForSequenceClassification(BertConfig(**settings))
    model.save_pretrained(str(folder))


def _make_tokenizer(vocab: list[str], max_length: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, processors
    from transformers import PreTrainedTokenizerFast

    ids = {token: i for i, token in enumerate(vocab)}
    tokenizer = Tokenizer(models.WordPiece(ids, unk_token="[UNK]"))
    tokenizer.normalizer, tokenizer.pre_tokenizer = _normalizer_and_splitter()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tokenizer.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )
