"""The search index is built beside the live store: searches go on, and give the same answers."""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks import corpus
from hybrid_lsp.config import COLLECTIONS
from hybrid_lsp.embedding import Embedder
from hybrid_lsp.knowledge import KnowledgeBase
from hybrid_lsp.query import ErrorQuery
from hybrid_lsp.relevance import Calibration
from hybrid_lsp.store import Shard, Store

EMBEDDER = Embedder()


def open_store(root: Path) -> tuple[Store, KnowledgeBase]:
    store = Store(root, COLLECTIONS, EMBEDDER.model_id, EMBEDDER.dimensions)
    return store, KnowledgeBase(store.shards, EMBEDDER, Calibration.load())


def top(knowledge: KnowledgeBase, items: list[ErrorQuery]) -> list[list[str]]:
    answers = []
    for q in items:
        knowledge._changed()
        matches = knowledge.search(q.search_text(), key=q.key, fingerprint_=q.fingerprint, language=q.language)
        answers.append([m.entry.id for m in matches[:3]])
    return answers


def test_searches_during_a_background_optimize_answer_as_before_and_are_not_held_up(tmp_path: Path):
    store, knowledge = open_store(tmp_path)
    shard = store.shards["error-solutions"]
    needed = shard._optimize_at
    knowledge.add(list(corpus.entries(int(needed / 0.85))))  # ~90% of them land in error-solutions
    assert shard.needs_optimize
    items = [ErrorQuery(message=d.message, source=d.source, code=d.code, language=d.language)
             for d in corpus.diagnostics(25)]
    before = top(knowledge, items)

    shard.optimize(wait=False)
    during, slowest, started = [], 0.0, time.monotonic()
    while shard.optimizing and time.monotonic() - started < 120:
        begin = time.perf_counter()
        during.append(top(knowledge, items[:5]))
        slowest = max(slowest, (time.perf_counter() - begin) / 5)
    assert shard.wait_optimized(120)
    assert during, "the optimization ended before a search could run beside it"
    assert all(answers == before[:5] for answers in during)
    assert slowest < 1.0, f"a search waited {slowest:.1f} s for the optimization"
    assert not shard.needs_optimize and shard._count_unindexed() == 0
    assert top(knowledge, items) == before

    store.close()
    store, knowledge = open_store(tmp_path)  # the swapped-in shard is the one found next time
    try:
        reopened = store.shards["error-solutions"]
        assert reopened._count_unindexed() == 0
        assert top(knowledge, items) == before
        # Its files were read ahead in the background, the dense vectors of every point among them.
        reopened._prewarmer.join(60)
        assert reopened.prewarmed >= reopened.count() * EMBEDDER.dimensions * 4
    finally:
        store.close()


def test_reading_ahead_reads_a_files_data_and_skips_its_holes(tmp_path: Path):
    from hybrid_lsp.store import _read_through

    sparse = tmp_path / "page_0.dat"
    with open(sparse, "wb") as handle:  # 4 KiB at the start, 8 KiB at 10 MiB, 32 MiB long, like the engine's pages
        handle.write(b"a" * 4096)
        handle.seek(10 << 20)
        handle.write(b"b" * 8192)
        handle.truncate(32 << 20)
    assert _read_through(sparse, 1 << 30) == 4096 + 8192
    assert _read_through(sparse, 6000) == 6000  # the budget is kept
    (tmp_path / "empty").touch()
    assert _read_through(tmp_path / "empty", 100) == 0


def test_reading_ahead_where_the_filesystem_cannot_tell_holes_reads_the_whole_file(tmp_path: Path, monkeypatch):
    import errno
    import os

    from hybrid_lsp.store import _read_through

    sparse = tmp_path / "page_0.dat"
    with open(sparse, "wb") as handle:
        handle.write(b"a" * 4096)
        handle.truncate(1 << 20)

    def cannot_tell(fd, offset, how):
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(os, "lseek", cannot_tell)
    assert _read_through(sparse, 1 << 30) == 1 << 20


def test_a_swap_cut_short_by_a_crash_is_undone_at_the_next_open(tmp_path: Path):
    path = tmp_path / "collections" / "c"
    shard = Shard(path, 8)
    import qdrant_edge as qe

    shard.upsert([qe.Point(f"00000000-0000-0000-0000-00000000000{n}", {"dense": [1.0] * 8}, {"key": "k"}) for n in range(3)])
    shard.close()
    spare = tmp_path / "optimize"
    path.rename(spare / "c.replaced")  # killed between moving the old shard out and the new one in
    (spare / "c.copy-99999").mkdir()  # and a copy whose optimizer died with it
    shard = Shard(path, 8)
    try:
        assert shard.count() == 3
        assert not (spare / "c.replaced").exists() and not (spare / "c.copy-99999").exists()
    finally:
        shard.close()
