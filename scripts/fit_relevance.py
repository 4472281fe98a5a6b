"""Fit the relevance calibration (hybrid_lsp/relevance.json) for the shipped embedding model.

Relevance must be an honest probability that the best stored match applies. This script builds a
development set from the starter knowledge base and fits a logistic model over the component
scores the search returns (dense cosine, lexical overlap, language agreement, margin):

- positives: each entry's message with its names, numbers and paths replaced, and with common
  rewordings (prefixes, case, a dropped word), searched with the entry present; label 1 when the
  best match is the entry itself, 0 when it is another one;
- negatives: the same queries searched with the entry left out (leave-one-out), so the best match is
  some other entry: label 0. This is what an error the knowledge base does not know looks like.

Run from the repository root after changing the model, the normalisation or the starter set:

    .venv/bin/python scripts/fit_relevance.py

It prints accuracy, calibration by bins and the precision of the band routed as a known fix.
"""

from __future__ import annotations

import random
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hybrid_lsp.config import COLLECTIONS  # noqa: E402
from hybrid_lsp.embedding import Embedder  # noqa: E402
from hybrid_lsp.knowledge import KnowledgeBase, read_jsonl_file  # noqa: E402
from hybrid_lsp.normalise import normalise  # noqa: E402
from hybrid_lsp.pipeline import STARTER_DIR  # noqa: E402
from hybrid_lsp.relevance import CALIBRATION_FILE, Calibration, Features  # noqa: E402
from hybrid_lsp.store import Store  # noqa: E402

NAMES = ["total_count", "user", "config_path", "MyWidget", "data", "np", "requests", "item_id", "self.cache", "x"]
PREFIXES = ["", "error: ", "Error: ", "E: ", "warning: "]


def variants(message: str, rng: random.Random) -> list[str]:
    """Realistic variations of one message: other names, numbers, paths, prefixes and wording."""
    out = []
    for _ in range(3):
        text = re.sub(r"`[^`]+`|'[^']+'|\"[^\"]+\"",
                      lambda m: m.group(0)[0] + rng.choice(NAMES) + m.group(0)[-1], message)
        text = re.sub(r"\b\d+\b", lambda m: str(rng.randint(1, 500)), text)
        text = re.sub(r"(/[\w.-]+)+", "/home/dev/project/src/module.py", text)
        out.append(rng.choice(PREFIXES) + text)
    words = message.split()
    if len(words) > 4:
        drop = rng.randrange(len(words))
        out.append(" ".join(words[:drop] + words[drop + 1:]))
    out.append(message.lower())
    return out


def best_features(kb: KnowledgeBase, text: str, language: str) -> tuple[Features, str] | None:
    matches = kb.search(normalise(text).text, language=language, collections=COLLECTIONS, limit=1)
    if not matches:
        return None
    return matches[0].features, matches[0].entry.id


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-4, steps: int = 60000, lr: float = 1.0) -> tuple[np.ndarray, float]:
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        w -= lr * ((x.T @ (p - y)) / len(y) + l2 * w)
        b -= lr * float(np.mean(p - y))
    return w, b


def main() -> int:
    rng = random.Random(7)
    entries = [e for path in sorted(STARTER_DIR.glob("*.jsonl")) for e in read_jsonl_file(path)]
    errors = [e for e in entries if e.collection == "error-solutions"]
    embedder = Embedder()
    rows: list[tuple[list[float], int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp), COLLECTIONS, embedder.model_id, embedder.dimensions)
        kb = KnowledgeBase(store.shards, embedder, Calibration(embedder.model_id, (0.0,) * 4, 0.0))
        kb.add(entries)
        queries = [(entry, text) for entry in errors for text in variants(entry.error, rng)]
        for entry, text in queries:
            found = best_features(kb, text, entry.language)
            if found:
                rows.append((found[0].vector(), int(found[1] == entry.id)))
        for entry in errors:
            kb.remove(entry.id)
            for text in variants(entry.error, rng)[:2]:
                found = best_features(kb, text, entry.language)
                if found:
                    rows.append((found[0].vector(), 0))
            kb.add([entry])
        store.close()
    x = np.array([r[0] for r in rows], dtype=float)
    y = np.array([r[1] for r in rows], dtype=float)
    order = np.random.default_rng(7).permutation(len(y))
    split = int(len(y) * 0.7)
    train, test = order[:split], order[split:]
    w, b = fit(x[train], y[train])
    p = 1 / (1 + np.exp(-(x[test] @ w + b)))
    print(f"rows: {len(y)} ({int(y.sum())} positive); held-out: {len(test)}")
    print(f"held-out accuracy at 0.5: {np.mean((p >= 0.5) == y[test]):.3f}")
    print("calibration (held-out): predicted band -> observed share correct")
    for lo, hi in [(0, .2), (.2, .4), (.4, .6), (.6, .8), (.8, .9), (.9, 1.01)]:
        band = (p >= lo) & (p < hi)
        if band.any():
            print(f"  {lo:.1f}-{min(hi, 1):.1f}: n={int(band.sum()):4d}  predicted {p[band].mean():.3f}  observed {y[test][band].mean():.3f}")
    known = p >= 0.9
    if known.any():
        print(f"precision of the known-fix band (>= 0.9): {y[test][known].mean():.4f} on {int(known.sum())} queries")
    w_all, b_all = fit(x, y)
    Calibration(embedder.model_id, tuple(round(float(v), 4) for v in w_all), round(float(b_all), 4)).save(
        CALIBRATION_FILE, fitted_on=f"{len(y)} queries from {len(errors)} starter entries (scripts/fit_relevance.py)")
    print(f"wrote {CALIBRATION_FILE}: weights {np.round(w_all, 3).tolist()} bias {b_all:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
