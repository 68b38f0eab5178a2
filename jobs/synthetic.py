"""A synthetic 3-class sentiment data set that needs no download.

Theory of operation: sentences are drawn from templates with polar adjectives and verbs,
negations ("not good" is negative), "but" clauses (the clause after "but" decides), neutral
statements, noise tokens (handles, hashtags, links) and typos. Then `synthetic_noise` of the
labels are flipped to another class, so the best possible accuracy is about 1 - noise
(0.90 by default) and a learning curve has room to rise. Everything comes from one
`random.Random` per split, seeded from a string (str seeds hash with SHA-512, so the files do
not depend on PYTHONHASHSEED or the process): the same settings give byte-identical files.

Files land in `<cache_dir>/synthetic-<hash of the synthetic_* settings>/{train,test}.jsonl`,
each written atomically. Two processes racing write the same bytes, and `os.replace` makes
whichever finishes last win with an identical complete file.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import NamedTuple

from orchestrator.common import layout
from orchestrator.common.fsutil import atomic_write_text
from orchestrator.config.settings import DataSettings

# Bump when the generator changes, so that old cached files are not reused.
GENERATOR_VERSION = 1
CLASSES = ("negative", "neutral", "positive")
# Neutral is the largest class, as in the tweet data, so class weighting has work to do.
_CLASS_WEIGHTS = (3, 4, 3)

_SUBJECTS = (
    "the movie", "this film", "the hotel", "the food", "this phone", "the service",
    "my order", "the book", "this app", "the flight", "the concert", "the staff",
    "the camera", "this laptop", "the coffee", "the game", "the show", "the room",
    "the delivery", "the update", "the team", "this song", "the class", "the pizza",
)
_POSITIVE_ADJ = (
    "good", "great", "excellent", "wonderful", "amazing", "fantastic", "lovely", "brilliant",
    "superb", "delightful", "enjoyable", "perfect", "impressive", "pleasant", "awesome", "nice",
)
_NEGATIVE_ADJ = (
    "bad", "terrible", "awful", "horrible", "poor", "boring", "dreadful", "disappointing",
    "useless", "annoying", "mediocre", "broken", "slow", "rude", "frustrating", "ugly",
)
_NEUTRAL_ADJ = (
    "ordinary", "average", "typical", "standard", "new", "small", "large", "blue", "quiet",
    "available", "open", "closed", "red", "old", "busy", "full",
)
_POSITIVE_VERB = ("love", "enjoy", "like", "adore", "recommend", "appreciate", "praise")
_NEGATIVE_VERB = ("hate", "dislike", "regret", "despise", "loathe", "resent", "detest")
_NEUTRAL_VERB = ("bought", "watched", "ordered", "checked", "used", "got", "opened", "visited")
_ADVERBS = ("really", "very", "quite", "so", "pretty", "truly", "rather", "", "", "")
_WHEN = (
    "yesterday", "today", "last week", "on monday", "on friday", "this morning", "tonight",
    "at noon", "last month", "after work",
)
_NOISE_TOKENS = (
    "lol", "tbh", "omg", "@user", "@friend", "#tbt", "#mood", "http://t.co/x", "haha",
    "idk", "rn", "btw", "ok", "so", "well", "hmm", "2day", "4real",
)
_NEUTRAL_TEMPLATES = (
    "{s} arrived {w}",
    "i {nv} {s} {w}",
    "{s} is {na}",
    "has anyone tried {s}",
    "{s} comes in {na} and {na2}",
    "we talked about {s} {w}",
    "{s} opens at {n} pm",
    "{s} was not {na}",
    "is {s} {na} {w}",
)
_POLAR_TEMPLATES = ("{s} was {a} {adj}", "{s} is {a} {adj}", "i {verb} {s}", "{a} {adj} {s}")
_NEGATED_TEMPLATES = ("{s} was not {adj}", "{s} is not {a} {adj}", "i do not {verb} {s}")
TYPO_RATE = 0.04  # per word
NOISE_TOKEN_RATE = 0.3  # per sentence, at the start or the end


class SyntheticExample(NamedTuple):
    text: str
    label: str  # after label noise: what the files hold
    clean_label: str  # before label noise: what the sentence says


def settings_hash(data: DataSettings) -> str:
    """A short digest of everything that changes the generated files."""
    key = {
        "version": GENERATOR_VERSION,
        "train": data.synthetic_train_size,
        "test": data.synthetic_test_size,
        "noise": data.synthetic_noise,
        "seed": data.synthetic_seed,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def cache_root(data: DataSettings) -> Path:
    """`data.cache_dir`, or `./assets` when empty (the validator normally fills it in)."""
    return Path(data.cache_dir or layout.ASSETS_DIR)


def ensure_synthetic(data: DataSettings) -> tuple[Path, Path]:
    """Generate the train and test JSONL files once; return their paths."""
    folder = cache_root(data) / f"synthetic-{settings_hash(data)}"
    train_path, test_path = folder / "train.jsonl", folder / "test.jsonl"
    sizes = {train_path: data.synthetic_train_size, test_path: data.synthetic_test_size}
    for path, size in sizes.items():
        if path.is_file():  # written atomically: if it exists, it is complete
            continue
        rng = random.Random(f"synthetic:{data.synthetic_seed}:{path.stem}")
        examples = generate_examples(size, data.synthetic_noise, rng)
        atomic_write_text(path, _to_jsonl(examples))
    return train_path, test_path


def _to_jsonl(examples: list[SyntheticExample]) -> str:
    lines = (json.dumps({"text": e.text, "label": e.label}, ensure_ascii=False) for e in examples)
    return "".join(line + "\n" for line in lines)


def generate_examples(n: int, noise: float, rng: random.Random) -> list[SyntheticExample]:
    """`n` examples; each label is flipped to another class with probability `noise`."""
    examples = []
    for _ in range(n):
        clean = rng.choices(CLASSES, weights=_CLASS_WEIGHTS)[0]
        text = _decorate(_sentence(clean, rng), rng)
        label = clean
        if rng.random() < noise:
            label = rng.choice([c for c in CLASSES if c != clean])
        examples.append(SyntheticExample(text, label, clean))
    return examples


def _sentence(label: str, rng: random.Random) -> str:
    if label == "neutral":
        # A neutral opener before "but" would make half the "but" sentences trivially polar.
        return _neutral_clause(rng)
    kind = rng.choices(("plain", "negated", "but"), weights=(6, 2, 2))[0]
    if kind == "plain":
        return _polar_clause(label, rng)
    if kind == "negated":
        return _negated_clause(label, rng)
    first = _polar_clause(_opposite(label), rng) if rng.random() < 0.6 else _neutral_clause(rng)
    second = _polar_clause(label, rng) if rng.random() < 0.7 else _negated_clause(label, rng)
    return f"{first} but {second}"


def _opposite(label: str) -> str:
    return "negative" if label == "positive" else "positive"


def _fill(template: str, rng: random.Random, polarity: str) -> str:
    positive = polarity == "positive"
    return template.format(
        s=rng.choice(_SUBJECTS),
        a=rng.choice(_ADVERBS),
        adj=rng.choice(_POSITIVE_ADJ if positive else _NEGATIVE_ADJ),
        verb=rng.choice(_POSITIVE_VERB if positive else _NEGATIVE_VERB),
        na=rng.choice(_NEUTRAL_ADJ),
        na2=rng.choice(_NEUTRAL_ADJ),
        nv=rng.choice(_NEUTRAL_VERB),
        w=rng.choice(_WHEN),
        n=rng.randint(1, 12),
    )


def _polar_clause(label: str, rng: random.Random) -> str:
    return _fill(rng.choice(_POLAR_TEMPLATES), rng, label)


def _negated_clause(label: str, rng: random.Random) -> str:
    """A clause whose negation gives `label`: "not good" is negative, "not bad" positive."""
    return _fill(rng.choice(_NEGATED_TEMPLATES), rng, _opposite(label))


def _neutral_clause(rng: random.Random) -> str:
    return _fill(rng.choice(_NEUTRAL_TEMPLATES), rng, "neutral")


def _decorate(sentence: str, rng: random.Random) -> str:
    """Typos, a noise token, punctuation and capitals: the surface noise of real tweets."""
    words = [_typo(w, rng) if rng.random() < TYPO_RATE else w for w in sentence.split()]
    if rng.random() < NOISE_TOKEN_RATE:
        token = rng.choice(_NOISE_TOKENS)
        words.insert(0 if rng.random() < 0.5 else len(words), token)
    text = " ".join(words) + rng.choice(("", "", ".", "!", "!!", "...", " ?"))
    return text[0].upper() + text[1:] if rng.random() < 0.5 else text


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 3:
        return word
    i = rng.randrange(len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:  # swap two neighbours
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:  # drop one
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]  # double one
