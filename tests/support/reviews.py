"""A generated multilingual star-rated review file of mteb/amazon_reviews_multi's shape
(`text`, `label` = stars - 1), for offline tests of data=amazon_reviews."""

from __future__ import annotations

import csv
import random
from pathlib import Path

# stars -> phrases, in four of the set's languages; 3 stars is neither
_PHRASES = {
    1: ("terrible product, broke at once", "schrecklich, sofort kaputt", "horrible, se rompió",
        "nul, cassé tout de suite"),
    2: ("disappointing and cheap", "enttäuschend und billig", "decepcionante y barato",
        "décevant et fragile"),
    3: ("it is okay, nothing special", "geht so, nichts besonderes", "normal, nada especial",
        "correct, sans plus"),
    4: ("good value, works well", "gut, funktioniert prima", "bueno, funciona bien",
        "bon produit, marche bien"),
    5: ("excellent, love it", "ausgezeichnet, super", "excelente, me encanta",
        "excellent, je l'adore"),
}
_ITEMS = ("headphones", "Kopfhörer", "auriculares", "casque", "lamp", "Lampe", "lámpara",
          "lampe", "cable", "Kabel", "mochila", "sac")


def write_reviews(path: Path, n: int, seed: int) -> Path:
    """`n` rows of text and label (0-4); each star's phrases are in every language."""
    rng = random.Random(f"reviews:{seed}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        for i in range(n):
            stars = rng.randint(1, 5)
            text = f"{rng.choice(_ITEMS)}: {rng.choice(_PHRASES[stars])}"
            writer.writerow([f"r{i}", text, stars - 1])
    return path
