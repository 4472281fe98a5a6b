"""Search caching and prefetch, on the real embedded store."""

from __future__ import annotations

from hybrid_lsp.config import Settings
from hybrid_lsp.history import Interaction
from hybrid_lsp.knowledge import parse_entry
from hybrid_lsp.pipeline import Pipeline


def test_a_write_to_the_knowledge_base_is_seen_by_the_next_search(tmp_path):
    pipeline = Pipeline(tmp_path / "data", Settings(), starter=False)
    try:
        kb = pipeline.knowledge
        assert kb.search("borrow of moved value: <ID>") == []
        kb.add([parse_entry({"id": "rustc:E0382", "error": "borrow of moved value: `v`", "solution": "Clone it."})])
        assert kb.search("borrow of moved value: <ID>")[0].entry.id == "rustc:E0382"
        kb.remove("rustc:E0382")
        assert kb.search("borrow of moved value: <ID>") == []
    finally:
        pipeline.close()


def test_prefetch_warms_the_most_frequent_diagnostics(tmp_path):
    pipeline = Pipeline(tmp_path / "data", Settings(), starter=True)
    try:
        for _ in range(3):
            pipeline.history.record(Interaction(kind="fix", query="`os` imported but unused", fingerprint="f", route="known",
                                                relevance=0.97, complexity=2, reason="", source="ruff", code="F401",
                                                language="python"))
        assert pipeline.prefetch() == 1
        assert len(pipeline.knowledge._cache) == 1
    finally:
        pipeline.close()
