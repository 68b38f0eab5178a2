"""A synthetic regression set: short product descriptions with a price, no download.

Theory of operation: a description names a product (its base price), a quality word, a
material and a size (each a price factor), plus words that do not matter (a colour, a
selling phrase). The price is the product of those factors with 5 % multiplicative noise,
rounded to cents ending in .99 where it can, so a model that reads the words can predict
it and the mean absolute error (in dollars) has room to fall: predicting the mean is off by
about $60, reading the words gets within a few dollars. Like `jobs.synthetic`, one
`random.Random` per split seeded from a string, so the same settings give byte-identical
files in `<cache_dir>/prices-<hash>/{train,test}.jsonl` ({"text": ..., "price": ...}),
each written atomically.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from jobs.synthetic import cache_root
from orchestrator.common.fsutil import atomic_write_text
from orchestrator.config.settings import DataSettings

# Bump when the generator changes, so that old cached files are not reused.
GENERATOR_VERSION = 1
TEXT_COLUMN, PRICE_COLUMN = "text", "price"

_PRODUCTS = {  # base price in dollars
    "usb cable": 8.0, "phone case": 14.0, "coffee mug": 12.0, "t-shirt": 20.0,
    "desk lamp": 35.0, "backpack": 45.0, "rain jacket": 70.0, "headphones": 90.0,
    "office chair": 150.0, "wrist watch": 120.0, "suitcase": 110.0, "bookshelf": 95.0,
}
_QUALITY = {"basic": 0.7, "standard": 1.0, "premium": 1.5, "luxury": 2.2}
_MATERIAL = {"plastic": 0.8, "cotton": 1.0, "bamboo": 1.1, "steel": 1.25, "leather": 1.5}
_SIZE = {"small": 0.85, "medium": 1.0, "large": 1.2, "extra large": 1.35}
_COLOURS = ("black", "white", "red", "blue", "green", "grey", "navy", "beige")
_PHRASES = ("free shipping", "great gift", "new arrival", "best seller", "limited stock",
            "ships today", "", "", "")
_TEMPLATES = (
    "{quality} {material} {product}, {size}, {colour}",
    "{colour} {product} in {material}, {quality} line, size {size}",
    "{size} {quality} {product} made of {material} ({colour})",
    "{product} - {quality} {material} - {size} - {colour}",
)
NOISE = 0.05  # multiplicative price noise


def settings_hash(data: DataSettings) -> str:
    """A short digest of everything that changes the generated files."""
    key = {"version": GENERATOR_VERSION, "train": data.synthetic_train_size,
           "test": data.synthetic_test_size, "seed": data.synthetic_seed}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def ensure_prices(data: DataSettings) -> tuple[Path, Path]:
    """Generate the train and test JSONL files once; return their paths."""
    folder = cache_root(data) / f"prices-{settings_hash(data)}"
    train_path, test_path = folder / "train.jsonl", folder / "test.jsonl"
    for path, size in ((train_path, data.synthetic_train_size),
                       (test_path, data.synthetic_test_size)):
        if path.is_file():  # written atomically: if it exists, it is complete
            continue
        rng = random.Random(f"prices:{data.synthetic_seed}:{path.stem}")
        rows = (json.dumps({TEXT_COLUMN: text, PRICE_COLUMN: price})
                for text, price in generate(size, rng))
        atomic_write_text(path, "".join(row + "\n" for row in rows))
    return train_path, test_path


def generate(n: int, rng: random.Random) -> list[tuple[str, float]]:
    """`n` (description, price) pairs."""
    found = []
    for _ in range(n):
        product = rng.choice(sorted(_PRODUCTS))
        quality, material, size = (rng.choice(sorted(table))
                                   for table in (_QUALITY, _MATERIAL, _SIZE))
        price = (_PRODUCTS[product] * _QUALITY[quality] * _MATERIAL[material] * _SIZE[size]
                 * rng.uniform(1 - NOISE, 1 + NOISE))
        text = rng.choice(_TEMPLATES).format(
            quality=quality, material=material, product=product, size=size,
            colour=rng.choice(_COLOURS))
        phrase = rng.choice(_PHRASES)
        found.append((f"{text}, {phrase}" if phrase else text, _shop_price(price)))
    return found


def _shop_price(price: float) -> float:
    # $23.99 rather than $24.13: the shop's habit, within a dollar of the true price
    return round(max(1.0, float(int(price))) - 0.01, 2)
