"""Relevance: an honest estimate, in [0, 1], that a stored solution applies to a diagnostic.

Fused rank scores carry no absolute meaning, so the estimate is a logistic model over component
scores that do: dense cosine similarity, lexical overlap of the normalised messages, whether the
languages agree, and the margin to the runner-up. Its weights are fitted per (embedding model,
normalisation) by `scripts/fit_relevance.py` and shipped in `relevance.json`. Pure.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

CALIBRATION_FILE = Path(__file__).parent / "relevance.json"
FEATURES = ("dense", "lexical", "language", "margin")
_TOKEN = re.compile(r"<[a-z]+>|[a-z0-9_]+")


@functools.lru_cache(maxsize=65536)
def tokens(text: str) -> frozenset[str]:
    """Words of a normalised message; placeholders such as <id> count as words."""
    return frozenset(t for t in _TOKEN.findall(text.lower()) if len(t) > 1)


def lexical_overlap(query_tokens: frozenset[str], entry_tokens: frozenset[str]) -> float:
    """Share of the query's words that the entry's message also has, discounted for extra words."""
    if not query_tokens or not entry_tokens:
        return 0.0
    common = len(query_tokens & entry_tokens)
    recall = common / len(query_tokens)
    precision = common / len(entry_tokens)
    return 0.0 if common == 0 else 2 * recall * precision / (recall + precision)


def language_agreement(query_language: str, entry_language: str) -> float:
    if not query_language or not entry_language:
        return 0.0
    families = {"javascript": "typescript"}
    same = families.get(query_language, query_language) == families.get(entry_language, entry_language)
    return 1.0 if same else -1.0


@dataclass(frozen=True, slots=True)
class Features:
    dense: float
    lexical: float
    language: float
    margin: float = 0.0

    def vector(self) -> list[float]:
        return [self.dense, self.lexical, self.language, self.margin]


@dataclass(frozen=True, slots=True)
class Calibration:
    model: str
    weights: tuple[float, ...]
    bias: float

    def probability(self, features: Features) -> float:
        z = self.bias + sum(w * x for w, x in zip(self.weights, features.vector(), strict=True))
        return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, z))))

    @staticmethod
    def load(path: Path = CALIBRATION_FILE) -> Calibration:
        data = json.loads(path.read_text())
        return Calibration(data["model"], tuple(float(w) for w in data["weights"]), float(data["bias"]))

    def save(self, path: Path = CALIBRATION_FILE, **extra: object) -> None:
        data = {"model": self.model, "features": list(FEATURES), "weights": list(self.weights), "bias": self.bias}
        data.update(extra)
        path.write_text(json.dumps(data, indent=2) + "\n")


def combined(features: Features) -> float:
    """Uncalibrated ranking score used only to order candidates before the margin is known."""
    return 0.5 * features.dense + 0.5 * features.lexical + 0.05 * features.language
