"""Fit the relevance calibration (hybrid_lsp/relevance.json) for the shipped embedding model.

Relevance must be an honest probability that the best stored match applies. This script fits a
logistic model over the component scores a search returns (dense cosine, lexical overlap, language
agreement, margin to the runner-up, template match, tie with the runner-up) on the retrieval
benchmark's development corpus of real diagnostics (benchmarks/retrieval/data/corpus.jsonl):

- the knowledge base is built as the benchmark builds it (starter entries + ruff and rustc docs);
- every diagnostic is searched with its source and code and as a bare message; where the best match
  comes from search (not from the exact tool+code key), its features are one row, labelled 1 when
  the match is among the diagnostic's answers and 0 otherwise (a diagnostic no entry answers is
  always 0: what an unknown error looks like);
- the rules (tool+code) are split in two halves by a hash of their name: the weights are fitted on
  one half and judged on the other, so no rule is both fitted and evaluated. The shipped weights are
  those of the fitting half; the held-out half's calibration and known-fix band precision are printed.

Run from the repository root after changing the model, the normalisation or the knowledge base:

    .venv/bin/python scripts/fit_relevance.py
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.retrieval.__main__ import CORPUS, build_knowledge, load_corpus, search  # noqa: E402
from hybrid_lsp.relevance import CALIBRATION_FILE, FEATURES, Calibration  # noqa: E402

BAND = 0.9
ROUNDS = 3  # the best match depends on the weights: collect, fit, collect again


def fold(rule: str) -> int:
    return hashlib.sha256(rule.encode()).digest()[0] % 2


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 20000, lr: float = 0.5) -> tuple[np.ndarray, float]:
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w + b)))
        w -= lr * ((x.T @ (p - y)) / len(y) + l2 * w)
        b -= lr * float(np.mean(p - y))
    return w, b


def collect(pipeline, rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    features, labels, folds = [], [], []
    for row in rows:
        for with_code in (True, False):
            matches = search(pipeline, row.query(with_code))
            if matches and matches[0].via == "search":
                features.append(matches[0].features.vector())
                labels.append(float(matches[0].entry.id in row.truth))
                folds.append(fold(f"{row.tool}:{row.code}"))
    return np.array(features), np.array(labels), np.array(folds)


def report(name: str, p: np.ndarray, y: np.ndarray) -> None:
    print(f"{name}: {len(y)} rows ({int(y.sum())} correct)")
    for lo, hi in [(0, .2), (.2, .5), (.5, .8), (.8, .9), (.9, 1.01)]:
        band = (p >= lo) & (p < hi)
        if band.any():
            print(f"  {lo:.1f}-{min(hi, 1):.1f}: n={int(band.sum()):4d}  predicted {p[band].mean():.3f}  observed {y[band].mean():.3f}")
    known = p >= BAND
    if known.any():
        print(f"  known-fix band (>= {BAND}): precision {y[known].mean():.4f} on {int(known.sum())} rows")


def main() -> int:
    rows = load_corpus(CORPUS)
    work = Path(tempfile.mkdtemp(prefix="hybrid-lsp-fit-"))
    try:
        pipeline, _ = build_knowledge(work / "kb")
        knowledge = pipeline.knowledge
        calibration = knowledge._calibration
        for _ in range(ROUNDS):
            knowledge._changed()
            x, y, f = collect(pipeline, rows)
            fitting, held_out = f == 0, f == 1
            w, b = fit(x[fitting], y[fitting])
            calibration = Calibration(calibration.model, tuple(round(float(v), 4) for v in w), round(float(b), 4))
            knowledge._calibration = calibration
        pipeline.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    p = 1 / (1 + np.exp(-(x @ np.array(calibration.weights) + calibration.bias)))
    report("fitted half (rules with an even hash)", p[fitting], y[fitting])
    report("held-out half (no rule in the fit)", p[held_out], y[held_out])
    calibration.save(CALIBRATION_FILE, fitted_on=(
        f"{int(fitting.sum())} best search matches of real diagnostics, half of the rules of "
        f"{CORPUS.relative_to(ROOT)} (scripts/fit_relevance.py)"))
    print(f"wrote {CALIBRATION_FILE}: " + ", ".join(f"{n} {v}" for n, v in zip(FEATURES, calibration.weights, strict=True))
          + f", bias {calibration.bias}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
