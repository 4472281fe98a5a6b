"""Relevance: an honest estimate, in [0, 1], that a stored solution applies to a diagnostic.

Fused rank scores carry no absolute meaning, so the estimate is a logistic model over component
scores that do: dense cosine similarity, lexical overlap of the normalised messages, whether the
languages agree, the margin to the runner-up, whether the diagnostic follows the entry's message
template word for word, and whether the runner-up does too (a tie no score can break). Its weights
are fitted per (embedding model, normalisation) by `scripts/fit_relevance.py` and shipped in
`relevance.json`. Pure.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

CALIBRATION_FILE = Path(__file__).parent / "relevance.json"
FEATURES = ("dense", "lexical", "language", "margin", "template", "tie")
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


# In an entry's normalised message, a name placeholder stands for any quoted value (a builtin's name
# is kept verbatim in the diagnostic, e.g. "Unnecessary `float` call") and a template's own
# placeholder (<ARG>, from "{row}") for any text.
_SLOTS = {"<ID>": r"(?:<ID>|'[^']*')", "<ARG>": r".+?"}
_SLOT = re.compile(r"<ID>|<ARG>")
_TRAILING = re.compile(r"[\s.:;!]+$")


@functools.lru_cache(maxsize=16384)
def _template(entry_text: str) -> re.Pattern[str] | None:
    literal = _SLOT.sub(" ", entry_text)
    if len(_TOKEN.findall(literal.lower())) < 2:
        return None  # "<ID>" alone, or one word: it would match anything
    parts = _SLOT.split(_TRAILING.sub("", entry_text))
    slots = _SLOT.findall(_TRAILING.sub("", entry_text))
    pattern = re.escape(parts[0]) + "".join(_SLOTS[slot] + re.escape(part) for slot, part in zip(slots, parts[1:], strict=True))
    return re.compile(pattern, re.I)


def template_words(entry_text: str) -> int:
    """How many fixed words an entry's normalised message has (its slots left out)."""
    return len(_TOKEN.findall(_SLOT.sub(" ", entry_text).lower()))


def template_match(query_text: str, entry_text: str) -> float:
    """1.0 when the normalised diagnostic is the entry's normalised message with its slots filled."""
    if query_text == entry_text:
        return 1.0 if len(_TOKEN.findall(_SLOT.sub(" ", entry_text).lower())) >= 2 else 0.0
    pattern = _template(entry_text)
    return 1.0 if pattern is not None and pattern.fullmatch(_TRAILING.sub("", query_text)) else 0.0


# A placeholder of a message format as tools write them: "{name}" (or "{}" for a positional one).
_FORMAT_SLOT = re.compile(r"\{(\w*)\}")


@functools.lru_cache(maxsize=16384)
def _format(wording: str) -> tuple[re.Pattern[str], int]:
    """A wording as a pattern over raw messages, and how many characters of it are fixed text.

    A named placeholder used twice must be filled twice with the same text, as the tool fills it
    ("Use `{supertype}` instead of `{subtype} | {supertype}`").
    """
    parts, named, fixed, position = [], set(), 0, 0
    for slot in _FORMAT_SLOT.finditer(wording):
        text = wording[position:slot.start()]
        parts.append(re.escape(text))
        fixed += len(text.replace(" ", ""))
        name = slot.group(1)
        if name and name in named:
            parts.append(f"(?P={name})")
        elif name and name.isidentifier():
            named.add(name)
            parts.append(f"(?P<{name}>.+?)")
        else:
            parts.append(".+?")
        position = slot.end()
    text = _TRAILING.sub("", wording[position:])
    parts.append(re.escape(text))
    fixed += len(text.replace(" ", ""))
    return re.compile("".join(parts), re.S), fixed


def literal_fit(message: str, wording: str) -> int:
    """How closely a raw diagnostic message follows one wording of an entry, before normalisation.

    The number of fixed characters of the wording when the message is the wording with its
    placeholders filled in (the more fixed text, the more specific the fit), -1 when it is not.
    Normalisation hides quoted code, so "Use `a != b` instead of `not a == b`" and "Use `a == b`
    instead of `not a != b`" read the same; the raw text still tells their rules' formats apart.
    """
    pattern, fixed = _format(wording.strip())
    return fixed if pattern.fullmatch(_TRAILING.sub("", message.strip())) else -1


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
    template: float = 0.0
    tie: float = 0.0

    def vector(self) -> list[float]:
        return [self.dense, self.lexical, self.language, self.margin, self.template, self.tie]


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
    return 0.5 * features.dense + 0.5 * features.lexical + 0.05 * features.language + 0.5 * features.template


# What users did when an entry was served (see learning.py).
SUCCESSES = ("accepted", "validated")
FAILURES = ("rejected", "undone", "failed")
# The calibration as a prior on an entry's success rate: PRIOR_RATE, worth PRIOR_WEIGHT outcomes.
PRIOR_RATE, PRIOR_WEIGHT = 0.9, 20.0


def outcome_adjusted(relevance: float, counts: dict[str, int]) -> float:
    """The calibrated relevance, refreshed by the entry's outcomes (per entry, in the manner of vCache).

    The entry's success rate is a Beta posterior whose prior is the calibration's (PRIOR_RATE, worth
    PRIOR_WEIGHT outcomes); relevance is scaled by posterior / prior, and never raised: outcomes
    gathered on other diagnostics may take confidence away from a match, never lend it one. One
    rejection takes 5% off, two 9%; accepts earn it back.
    """
    good = sum(counts.get(name, 0) for name in SUCCESSES)
    bad = sum(counts.get(name, 0) for name in FAILURES)
    if not bad:
        return relevance
    posterior = (PRIOR_RATE * PRIOR_WEIGHT + good) / (PRIOR_WEIGHT + good + bad)
    return relevance * min(1.0, posterior / PRIOR_RATE)
