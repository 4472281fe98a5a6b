"""Search caching and prefetch, on the real embedded store."""

from __future__ import annotations

from hybrid_lsp.config import Settings
from hybrid_lsp.embedding import SPARSE
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


def test_a_plan_made_from_the_cache_is_the_plan_and_a_write_makes_it_read_the_store_again(tmp_path):
    from hybrid_lsp.query import ErrorQuery, Span

    pipeline = Pipeline(tmp_path / "data", Settings(), starter=True)
    try:
        text = "import os\nimport sys\n\nprint(sys.argv)\n"
        query = ErrorQuery("`os` imported but unused", "ruff", "F401", language="python", span=Span(0, 7, 0, 9))
        assert pipeline.cached_plan(query, text) is None  # nothing looked up yet: the store must be read
        planned = pipeline.plan(query, text)
        cached = pipeline.cached_plan(query, text)
        assert planned.known_edit is not None
        assert (cached.route, cached.known_edit, cached.known_match.entry.id, [m.entry.id for m in cached.matches]) == \
               (planned.route, planned.known_edit, planned.known_match.entry.id, [m.entry.id for m in planned.matches])
        pipeline.knowledge.add([parse_entry({"id": "rustc:E0382", "error": "borrow of moved value: `v`", "solution": "Clone it."})])
        assert pipeline.cached_plan(query, text) is None  # a write drops the cached lookups, learned fixes' too
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


class _Requests:
    """Records what each search asks the engine, through the shard's own query_batch."""

    def __init__(self, shard):
        self.seen: list = []
        self.answers: list = []
        original = shard.query_batch

        def query_batch(requests):
            self.seen.extend(requests)
            answers = original(requests)
            self.answers.extend(answers)
            return answers

        shard.query_batch = query_batch

    def nearest(self, using: str) -> int:
        return sum(f'using="{using}"' in repr(r.query) for r in self.seen)


def _search(pipeline, message, source, code, language="python"):  # as Pipeline.plan asks
    from hybrid_lsp.query import ErrorQuery

    q = ErrorQuery(message=message, source=source, code=code, language=language)
    return pipeline.knowledge.search(q.search_text(), key=q.key, fingerprint_=q.fingerprint, language=language)


def test_a_diagnostic_its_own_rule_answers_skips_the_search_unless_outcomes_lowered_that_entry(tmp_path):
    pipeline = _kb_with(tmp_path, [
        {"id": "ruff:F401", "error": "`os` imported but unused", "solution": "Remove the import.",
         "source": "ruff", "code": "F401", "language": "python"},
        {"id": "pyright:reportUnusedImport", "error": 'Import "os" is not accessed', "solution": "Remove it.",
         "source": "pyright", "code": "reportUnusedImport", "language": "python"},
    ])
    try:
        spy = {name: _Requests(shard) for name, shard in pipeline.knowledge._shards.items()}
        first = _search(pipeline, "`sys` imported but unused", "ruff", "F401")
        assert (first[0].entry.id, first[0].via) == ("ruff:F401", "fingerprint")
        assert first[0].relevance >= pipeline.knowledge.exact_key_relevance
        assert sum(s.nearest(SPARSE) for s in spy.values()) == 0  # no search beyond the exact lookups
        # An entry for this very message answers before any rule's: the rule is not even looked up.
        assert not any("ruff:F401" in repr(r.filter) for s in spy.values() for r in s.seen)
        # Worded otherwise, the rule's entry answers, still without a search.
        other = _search(pipeline, "`sys` imported but unused; consider removing", "ruff", "F401")
        assert (other[0].entry.id, other[0].via) == ("ruff:F401", "key")
        assert sum(s.nearest(SPARSE) for s in spy.values()) == 0

        # Rejected three times: served lower, so the full search runs and the list holds the rest.
        for n in range(3):
            pipeline.knowledge.record_outcome("ruff:F401", f"i{n}", "rejected")
        lowered = _search(pipeline, "`sys` imported but unused", "ruff", "F401")
        assert lowered[0].entry.id == "ruff:F401" and lowered[0].relevance < pipeline.knowledge.exact_key_relevance
        assert "pyright:reportUnusedImport" in [m.entry.id for m in lowered]
        assert sum(s.nearest(SPARSE) for s in spy.values()) == len(pipeline.settings.collections)
    finally:
        pipeline.close()


def test_a_rule_with_many_entries_is_answered_by_the_ones_closest_to_the_message(tmp_path):
    from hybrid_lsp.knowledge import EXACT_LIMIT, point_id

    topics = ["database connection pool", "image thumbnail cache", "payment retry queue", "oauth token refresh",
              "csv export encoding", "websocket heartbeat", "pdf rendering fonts", "cron schedule parser"]
    entries = [{"id": f"demo:W1:{n}", "error": f"the {topic} widget stopped responding",
                "solution": f"Restart the {topic} widget.", "source": "demo", "code": "W1", "language": "python"}
               for n, topic in enumerate(topics * 5)]
    cron = {e["id"] for e in entries if "cron" in e["error"]}
    # The entries a lookup reads when it takes the first ones in id order miss most of these:
    # only reading the nearest ones finds them all.
    first_by_id = sorted(entries, key=lambda e: point_id(e["id"]))[:EXACT_LIMIT]
    assert len(cron & {e["id"] for e in first_by_id}) < len(cron)
    pipeline = _kb_with(tmp_path, entries)
    try:
        spy = _Requests(pipeline.knowledge._shards["error-solutions"])
        for attempt in range(2):
            pipeline.knowledge._changed()
            # Worded a little differently from every entry: no entry for this very message, so the
            # rule's entries are looked up.
            matches = _search(pipeline, "the cron schedule parser widget stopped responding again", "demo", "W1")
            assert matches[0].entry.id in cron, attempt
            # What the rule's lookup read: every entry written for the cron parser.
            read = [a for r, a in zip(spy.seen, spy.answers, strict=True) if "W1" in repr(r.filter)][-1]
            assert cron <= {p.payload["entry_id"] for p in read}, attempt
        # The second time the lookup is known to be crowded: asked for the nearest entries at once.
        lookups = [r for r in spy.seen if "W1" in repr(r.filter)]
        assert [r.query is None for r in lookups] == [True, False, False]
    finally:
        pipeline.close()


def test_entries_stored_by_another_normalisation_are_derived_again_once_keeping_their_outcomes(tmp_path):
    import json

    from hybrid_lsp.knowledge import point_id
    from hybrid_lsp.normalise import version

    data = tmp_path / "data"
    pipeline = _kb_with(tmp_path, [
        {"id": "rustc:E0382", "error": "error[E0382]: borrow of moved value: `v`", "solution": "Clone it.",
         "source": "rustc", "code": "E0382", "language": "rust"},
    ])
    try:
        pipeline.knowledge.record_outcome("rustc:E0382", "i1", "accepted")
        # As an earlier version stored it: another normalised text, hence another fingerprint.
        shard = pipeline.store.shards["error-solutions"]
        shard.set_payload(point_id("rustc:E0382"), {"normalised": "error[E0382]: borrow of moved value: <ID>",
                                                    "fingerprint": "stale"})
        meta = pipeline.store.read_meta()
        pipeline.store.write_meta({k: v for k, v in meta.items() if k != "normalisation"})
    finally:
        pipeline.close()

    pipeline = Pipeline(data, Settings(), starter=False)
    try:
        record = pipeline.store.shards["error-solutions"].retrieve([point_id("rustc:E0382")])[0]
        assert record.payload["normalised"] == "borrow of moved value: <ID>"
        assert record.payload["counts"] == {"accepted": 1}
        match = _search(pipeline, "borrow of moved value: `data`", "rustc", "E0382", "rust")[0]
        assert (match.entry.id, match.via) == ("rustc:E0382", "fingerprint")
        assert pipeline.refresh_normalised() == 0  # once per version
    finally:
        pipeline.close()
    assert json.loads((data / "store.json").read_text())["normalisation"] == version()


def _message_only(pipeline, message, language="python"):  # a pasted message: no tool, no code
    from hybrid_lsp.query import ErrorQuery

    return pipeline.knowledge.lookup(ErrorQuery(message=message, language=language))


def test_each_wording_of_a_rule_finds_its_entry_by_fingerprint_and_by_search(tmp_path):
    pipeline = _kb_with(tmp_path, [
        {"id": "ruff:DTZ001", "error": "`datetime.datetime()` called without a `tzinfo` argument",
         "variants": ["`tzinfo=None` passed to `datetime.datetime()`"], "solution": "Pass a timezone.",
         "source": "ruff", "code": "DTZ001", "language": "python"},
        {"id": "ruff:E711", "error": "Comparison to `None` should be `cond is None`", "solution": "Use is.",
         "source": "ruff", "code": "E711", "language": "python"},
    ])
    try:
        message = "`tzinfo=None` passed to `datetime.datetime()`"
        match = _search(pipeline, message, "ruff", "DTZ001")[0]
        assert (match.entry.id, match.via) == ("ruff:DTZ001", "fingerprint")
        assert _message_only(pipeline, message)[0].entry.id == "ruff:DTZ001"
    finally:
        pipeline.close()


def test_a_pasted_message_finds_the_rule_whose_format_it_follows_among_many_worded_alike(tmp_path):
    # Forty rules whose formats all normalise to "Use <ID> instead of <ID>": no score tells them
    # apart, and the nearest ten by either vector need not include the right one.
    alike = [{"id": f"lint:X{i:03d}", "error": "Use `{expected}` instead of `{actual}`", "solution": f"Rewrite {i}.",
              "source": "lint", "code": f"X{i:03d}", "language": "python"} for i in range(40)]
    pipeline = _kb_with(tmp_path, [*alike,
        {"id": "ruff:SIM201", "error": "Use `{left} != {right}` instead of `not {left} == {right}`",
         "title": "Negate equal op", "solution": "Use !=.", "source": "ruff", "code": "SIM201", "language": "python"},
        {"id": "ruff:SIM202", "error": "Use `{left} == {right}` instead of `not {left} != {right}`",
         "title": "Negate not equal op", "solution": "Use ==.", "source": "ruff", "code": "SIM202", "language": "python"},
        {"id": "pattern:prefer-builtin", "error": "Use `list` instead of `List`", "solution": "Builtin generics.",
         "collection": "skills-patterns", "language": "python"},
    ])
    try:
        matches = _message_only(pipeline, "Use `a == b` instead of `not a != b`")
        assert matches[0].entry.id == "ruff:SIM202"
        assert all(m.relevance < matches[0].relevance for m in matches[1:])
        assert _message_only(pipeline, "Use `x != y` instead of `not x == y`")[0].entry.id == "ruff:SIM201"
        # An entry worded as an example keeps its place unless the message has its very words.
        assert _message_only(pipeline, "Use `list` instead of `List`")[0].entry.id == "pattern:prefer-builtin"
    finally:
        pipeline.close()


def test_a_store_of_an_earlier_version_gets_the_wording_index_and_field(tmp_path):
    import qdrant_edge as qe

    from hybrid_lsp.embedding import DENSE
    from hybrid_lsp.knowledge import point_id
    from hybrid_lsp.store import Shard

    path = tmp_path / "shard"
    path.mkdir()
    old = qe.EdgeShard.create(str(path), qe.EdgeConfig(
        vectors={DENSE: qe.EdgeVectorParams(size=4, distance=qe.Distance.Cosine)},
        sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)}))
    old.update(qe.UpdateOperation.create_field_index("key", qe.KeywordIndexParams()))
    old.close()
    shard = Shard(path, 4)
    try:
        assert {"key", "fingerprint", "wording"} <= set(shard._shard.info().payload_schema)
    finally:
        shard.close()

    pipeline = _kb_with(tmp_path, [{"id": "rustc:E0382", "error": "borrow of moved value: `v`", "solution": "Clone it.",
                                    "source": "rustc", "code": "E0382", "language": "rust"}])
    try:
        shard = pipeline.store.shards["error-solutions"]
        stored = shard.retrieve([point_id("rustc:E0382")])[0].payload["wording"]
        shard.set_payload(point_id("rustc:E0382"), {"wording": "stale"})
        assert pipeline.knowledge.renormalise() == 1
        assert shard.retrieve([point_id("rustc:E0382")])[0].payload["wording"] == stored
    finally:
        pipeline.close()
