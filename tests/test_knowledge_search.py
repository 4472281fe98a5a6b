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


def _kb_with(tmp_path, entries):
    pipeline = Pipeline(tmp_path / "data", Settings(), starter=False)
    pipeline.knowledge.add([parse_entry(e) for e in entries])
    return pipeline


def test_an_entry_for_one_message_of_a_code_is_a_known_fix_only_for_messages_worded_like_it(tmp_path):
    from hybrid_lsp.query import ErrorQuery

    pipeline = _kb_with(tmp_path, [
        {"id": "python:TypeError:not-callable", "error": "TypeError: 'Response' object is not callable",
         "solution": "Do not call it.", "source": "python", "code": "TypeError", "language": "python"},
        {"id": "python:TypeError:not-iterable", "error": "TypeError: 'int' object is not iterable",
         "solution": "Iterate over range(n).", "source": "python", "code": "TypeError", "language": "python"},
    ])
    try:
        def best(message):
            q = ErrorQuery(message=message, source="python", code="TypeError", language="python")
            return pipeline.knowledge.search(q.search_text(), key=q.key, fingerprint_=q.fingerprint, language="python")[0]

        fits = best("TypeError: 'int' object is not callable")
        assert (fits.entry.id, fits.relevance) == ("python:TypeError:not-callable", 0.97)
        unknown = best("TypeError: Object of type datetime is not JSON serializable")
        assert unknown.relevance < 0.9
    finally:
        pipeline.close()


def test_a_rule_without_entries_is_answered_by_an_equivalent_rule_with_or_without_its_code(tmp_path):
    from hybrid_lsp.query import ErrorQuery

    pipeline = _kb_with(tmp_path, [
        {"id": "ruff:F811", "error": "Redefinition of unused `load` from line 3", "solution": "Remove one.",
         "source": "ruff", "code": "F811", "language": "python"},
    ])
    try:
        for q in (ErrorQuery(message='Name "Morsel" already defined (possibly by an import)', source="mypy",
                             code="no-redef", language="python"),
                  ErrorQuery(message='Name "Morsel" already defined (possibly by an import)', language="python")):
            best = pipeline.knowledge.search(q.search_text(), key=q.key, fingerprint_=q.fingerprint, language="python")[0]
            assert best.entry.id == "ruff:F811"
            assert 0.9 <= best.relevance < 0.97
    finally:
        pipeline.close()
