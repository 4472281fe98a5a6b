"""Outcomes refresh an entry's relevance: rejections take confidence away, accepts earn it back."""

from __future__ import annotations

import pytest

from hybrid_lsp.config import Settings
from hybrid_lsp.history import Interaction
from hybrid_lsp.knowledge import parse_entry
from hybrid_lsp.pipeline import Pipeline
from hybrid_lsp.query import ErrorQuery
from hybrid_lsp.relevance import outcome_adjusted


def test_rejections_lower_relevance_accepts_earn_it_back_and_nothing_raises_it():
    assert outcome_adjusted(0.95, {}) == 0.95
    assert outcome_adjusted(0.95, {"accepted": 30, "validated": 4}) == 0.95, "never lent confidence"
    one = outcome_adjusted(0.95, {"rejected": 1})
    two = outcome_adjusted(0.95, {"rejected": 1, "undone": 1})
    assert one == pytest.approx(0.95 * 0.952, abs=1e-3) and two < one
    assert outcome_adjusted(0.95, {"rejected": 1, "failed": 1, "accepted": 10}) > two
    assert outcome_adjusted(0.4, {"rejected": 10}) < 0.4 * 0.7


def _served(pipeline: Pipeline, entry_id: str) -> str:
    return pipeline.history.record(Interaction(
        kind="fix", query="Undefined name `x`", fingerprint="f", route="known", relevance=0.95, complexity=2,
        reason="", served_entry=entry_id, has_edit=True))


def test_a_rejected_entry_ranks_below_its_sibling_and_says_what_calibration_gave_it(tmp_path):
    pipeline = Pipeline(tmp_path / "data", Settings(), starter=False)
    try:
        pipeline.knowledge.add([parse_entry(e) for e in (
            {"id": "a", "error": "Undefined name `x`", "solution": "Import it.", "source": "ruff", "code": "F821"},
            {"id": "b", "error": "Undefined name `x`", "solution": "Define it first.", "source": "ruff", "code": "F821"},
        )])
        query = ErrorQuery(message="Undefined name `total`", source="ruff", code="F821", language="python")

        def ranked():
            return pipeline.knowledge.search(query.search_text(), key=query.key, fingerprint_=query.fingerprint,
                                             language="python")

        first = ranked()
        top, other = first[0], first[1]
        assert top.relevance == other.relevance and "calibrated" not in top.scores
        pipeline.learning.record(_served(pipeline, top.entry.id), "rejected")
        after = ranked()
        assert after[0].entry.id == other.entry.id, "the rejected entry moved down"
        demoted = next(m for m in after if m.entry.id == top.entry.id)
        assert demoted.relevance == pytest.approx(outcome_adjusted(top.relevance, {"rejected": 1}))
        assert demoted.scores["calibrated"] == pytest.approx(top.relevance, abs=1e-4)
        for _ in range(5):
            pipeline.learning.record(_served(pipeline, top.entry.id), "accepted")
        recovered = next(m for m in ranked() if m.entry.id == top.entry.id)
        assert demoted.relevance < recovered.relevance < top.relevance
    finally:
        pipeline.close()


def test_search_json_shows_the_calibrated_relevance_beside_the_refreshed_one(tmp_path):
    pipeline = Pipeline(tmp_path / "data", Settings(), starter=False)
    try:
        pipeline.knowledge.add([parse_entry({"id": "a", "error": "Undefined name `x`", "solution": "Import it.",
                                             "source": "ruff", "code": "F821"})])
        pipeline.learning.record(_served(pipeline, "a"), "undone")
        match = pipeline.knowledge.search("Undefined name <ID>", key="ruff:F821")[0]
        shown = match.to_json()
        assert shown["score"] < shown["calibrated"] and shown["outcomes"] == {"undone": 1}
    finally:
        pipeline.close()
