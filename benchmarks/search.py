"""Knowledge-base figures: search latency at three sizes, import throughput and size on disk.

hybrid-lsp's store is built the way a user builds it: the starter knowledge base, then synthetic
entries imported through `KnowledgeBase.add`. The reference is qdrant-client's local mode
(`QdrantClient(path=...)`) holding the same points (same dense and BM25 vectors, same payloads,
same three collections), asked the same dense + sparse queries; the import reference is the
Qdrant Edge engine alone, upserting those same precomputed points.
"""

from __future__ import annotations

import os
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from hybrid_lsp.config import COLLECTIONS, Settings
from hybrid_lsp.embedding import DENSE, SPARSE, Embedder
from hybrid_lsp.knowledge import Entry, embedded_texts, point_id, read_jsonl_file
from hybrid_lsp.pipeline import STARTER_DIR, Pipeline
from hybrid_lsp.query import ErrorQuery
from hybrid_lsp.store import Shard

from . import corpus, profiling
from .harness import Figure, Samples, Target, ms_since, now_ns

TIERS = ("small", "medium", "large")
BATCH = 256


@dataclass
class Sizes:
    entries: tuple[int, int, int]  # synthetic entries at the small, medium and large tier
    queries: int  # timed hybrid-lsp searches per tier
    reference_queries: tuple[int, int, int]  # timed qdrant-client searches per tier (it is slow)
    warmup: int


def directory_mb(path: Path, apparent: bool = False) -> float:
    """Space the files take on disk (Qdrant preallocates sparse files: their apparent size is far larger)."""
    files = [f.stat() for f in path.rglob("*") if f.is_file()]
    return sum(s.st_size if apparent else s.st_blocks * 512 for s in files) / 1e6


def starter_entries() -> list[Entry]:
    return [e for path in sorted(STARTER_DIR.glob("*.jsonl")) for e in read_jsonl_file(path)]


def queries(count: int) -> list[ErrorQuery]:
    return [ErrorQuery(message=d.message, source=d.source, code=d.code, language=d.language)
            for d in corpus.diagnostics(count)]


class PreparedPoints:
    """The exact vectors and payloads `KnowledgeBase.add` stores, computed once for the references."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def points(self, entries: list[Entry]) -> list[tuple[Entry, str, list[float], qe.SparseVector, dict[str, Any]]]:
        payloads = [entry.payload() for entry in entries]
        texts = [embedded_texts(entry, payload) for entry, payload in zip(entries, payloads, strict=True)]
        dense = self.embedder.dense([text for text, _ in texts])
        return [(entry, point_id(entry.id), vector.tolist(), self.embedder.sparse_document(words), payload)
                for entry, vector, (_, words), payload in zip(entries, dense, texts, payloads, strict=True)]


class QdrantClientReference:
    """qdrant-client local mode, persisted under `path`, one collection per hybrid-lsp collection."""

    def __init__(self, path: Path, embedder: Embedder) -> None:
        from qdrant_client import QdrantClient, models

        warnings.filterwarnings("ignore", message="Local mode is not recommended", category=UserWarning)
        self.models = models
        self.embedder = embedder
        self.client = QdrantClient(path=str(path))
        for name in COLLECTIONS:
            self.client.create_collection(
                name,
                vectors_config={DENSE: models.VectorParams(size=embedder.dimensions, distance=models.Distance.COSINE)},
                sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            )
            # Local mode commits (and fsyncs) every point on its own: ~500 points/s here. The reference
            # is about search, so the bulk load skips the fsync; what is stored is the same.
            self.client._client.collections[name].storage.storage.execute("PRAGMA synchronous=OFF")

    def add(self, prepared: list[tuple[Entry, str, list[float], qe.SparseVector, dict[str, Any]]]) -> None:
        m = self.models
        by_collection: dict[str, list[Any]] = {}
        for entry, pid, dense, sparse, payload in prepared:
            vector = {DENSE: dense, SPARSE: m.SparseVector(indices=list(sparse.indices), values=list(sparse.values))}
            by_collection.setdefault(entry.collection, []).append(m.PointStruct(id=pid, vector=vector, payload=payload))
        for name, points in by_collection.items():
            self.client.upsert(name, points)

    def search(self, text: str) -> None:
        """The vector part of a hybrid-lsp search: embed the query, dense + sparse top 10 per collection."""
        m = self.models
        dense = self.embedder.dense([text])[0].tolist()
        sparse = self.embedder.sparse_query(text)
        sparse_query = m.SparseVector(indices=list(sparse.indices), values=list(sparse.values))
        for name in COLLECTIONS:
            self.client.query_batch_points(name, [
                m.QueryRequest(query=dense, using=DENSE, limit=10, with_payload=True),
                m.QueryRequest(query=sparse_query, using=SPARSE, limit=10, with_payload=True),
            ])

    def close(self) -> None:
        self.client.close()


class EngineReference:
    """Qdrant Edge alone: the same precomputed points upserted in batches, no hybrid-lsp code around it."""

    def __init__(self, path: Path, dimensions: int) -> None:
        self.shards = {name: Shard(path / name, dimensions) for name in COLLECTIONS}
        self.ms = 0.0
        self.count = 0

    def add(self, prepared: list[tuple[Entry, str, list[float], qe.SparseVector, dict[str, Any]]]) -> None:
        start = now_ns()
        by_collection: dict[str, list[qe.Point]] = {}
        for entry, pid, dense, sparse, payload in prepared:
            by_collection.setdefault(entry.collection, []).append(qe.Point(pid, {DENSE: dense, SPARSE: sparse}, payload))
        for name, points in by_collection.items():
            for first in range(0, len(points), BATCH):
                self.shards[name].upsert(points[first : first + BATCH])
        for shard in self.shards.values():
            shard.flush()
        self.ms += ms_since(start)
        self.count += len(prepared)

    def close(self) -> None:
        for shard in self.shards.values():
            shard.close()


def search_samples(pipeline: Pipeline, items: list[ErrorQuery], warmup: int, cached: bool = False) -> Samples:
    """`KnowledgeBase.search` exactly as `Pipeline.plan` calls it for a diagnostic.

    The knowledge base caches answers until its next write, and error messages collapse to few
    templates once normalised, so most of these queries would be answered from that cache: unless
    `cached`, the cache is emptied (untimed, with the knowledge base's own invalidation, as any write
    does) before each query, so the figure is the cost of a query the store has not answered yet.
    """
    settings = pipeline.settings
    limit = max(5, settings.max_contexts)
    knowledge = pipeline.knowledge
    forget = getattr(knowledge, "_changed", None)  # absent when the knowledge base has no cache

    def one(q: ErrorQuery) -> None:
        knowledge.lookup(q, settings.collections, limit)

    for q in items[:warmup]:
        one(q)
    times = []
    for q in items:
        if cached:
            one(q)
        elif forget is not None:
            forget()
        start = now_ns()
        one(q)
        times.append(ms_since(start))
    return Samples.of(times)


def reference_samples(reference: QdrantClientReference, items: list[ErrorQuery], warmup: int) -> Samples:
    for q in items[:warmup]:
        reference.search(q.search_text())
    times = []
    for q in items:
        start = now_ns()
        reference.search(q.search_text())
        times.append(ms_since(start))
    return Samples.of(times)


def measure(sizes: Sizes, work: Path, progress, profiles: dict[str, Any] | None) -> tuple[list[Figure], Path, int]:
    """Returns the figures, the large knowledge base's data directory (closed) and its entry count."""
    data_dir = work / "kb"
    shutil.rmtree(data_dir, ignore_errors=True)
    pipeline = Pipeline(data_dir, Settings(), starter=True)
    embedder = pipeline.embedder
    prepared_points = PreparedPoints(embedder)
    reference = QdrantClientReference(work / "qdrant-client", embedder)
    engine = EngineReference(work / "engine", embedder.dimensions)
    starter = starter_entries()
    prepare_starter = prepared_points.points(starter)
    reference.add(prepare_starter)

    synthetic = list(corpus.entries(sizes.entries[-1]))
    items = queries(sizes.queries)
    figures: list[Figure] = []
    imported, import_ms = 0, 0.0
    for tier, size, ref_queries in zip(TIERS, sizes.entries, sizes.reference_queries, strict=True):
        progress(f"knowledge base: importing up to {size:,} entries")
        # hybrid-lsp's import first, in one go as `kb import` writes: with the references' work in
        # between, each pause would let the store start building its search index in the
        # background (after a second without writes), competing with the import being timed.
        chunks = [synthetic[start : min(size, start + BATCH * 8)] for start in range(imported, size, BATCH * 8)]
        for chunk in chunks:
            begin = now_ns()
            pipeline.knowledge.add(chunk)
            import_ms += ms_since(begin)
        for chunk in chunks:
            prepared = prepared_points.points(chunk)
            engine.add(prepared)
            reference.add(prepared)
        imported = size
        # As `kb import` does: the search index is built (beside the live store) before searching.
        begin = now_ns()
        pipeline.store.optimize()
        optimize_s = ms_since(begin) / 1000
        for shard in engine.shards.values():  # its index is built now rather than during the searches
            shard.optimize()
        total = sum(pipeline.knowledge.counts().values())
        progress(f"knowledge base: searching {total:,} entries")
        # The first pass touches most of the store's pages for the first time since they were written
        # (vectors and payloads are memory-mapped files): it is reported, and the figures with targets
        # are the second pass, the steady state of a server that has been answering for a while.
        first = search_samples(pipeline, items, sizes.warmup)
        ours = search_samples(pipeline, items, 0)
        theirs = reference_samples(reference, items[:ref_queries], min(3, ref_queries))
        label = f"{total:,} entries"
        large = tier == "large"
        details = {"entries": total, "hybrid": ours.summary(), "hybrid_first_pass": first.summary(),
                   "qdrant_client": theirs.summary(), "index_build_seconds": round(optimize_s, 1)}
        figures.append(Figure(f"search_{tier}_p50", f"Query embedding + KnowledgeBase.search p50, {label}", "ms",
                              ours.p50, theirs.p50, "qdrant-client local mode",
                              Target("value", "<=", 2.0, "ms") if large else None, details))
        figures.append(Figure(f"search_{tier}_p99", f"Query embedding + KnowledgeBase.search p99, {label}", "ms",
                              ours.p99, theirs.p99, "qdrant-client local mode",
                              Target("value", "<=", 10.0, "ms") if large else None, details))
        if large:
            figures.append(Figure("search_large_first_pass_p99", f"… p99 of the first pass over the queries, {label} "
                                  "(store pages not yet resident)", "ms", first.p99, ours.p99, "the second pass", None,
                                  {"hybrid_first_pass": first.summary()}))
            again = search_samples(pipeline, items, 0, cached=True)
            figures.append(Figure("search_large_cached_p50", f"KnowledgeBase.search p50 for a query asked just "
                                  f"before (its answer cache), {label}", "ms", again.p50, ours.p50,
                                  "the same queries uncached", None, {"hybrid": again.summary()}))
    if profiles is not None:
        progress("knowledge base: profiling search on the large store")
        with profiling.Sampler(os.getpid()) as sampler:
            search_samples(pipeline, items, 0)
        profiles["search_large"] = {"what": f"py-spy on the benchmark process during {len(items)} searches of the "
                                            f"{total:,}-entry store; share of busy samples", **sampler.result}
    total = sum(pipeline.knowledge.counts().values())
    pipeline.close()
    engine.close()
    reference.close()
    if profiles is not None:
        progress("knowledge base: profiling import")
        profiles["import_rate"] = _profile_import(work / "import-profile", min(20_000, sizes.entries[-1]))
    rate = imported / (import_ms / 1000)
    engine_rate = engine.count / (engine.ms / 1000)
    figures.append(Figure("import_rate", "Import throughput through KnowledgeBase.add (batches of "
                          f"{BATCH * 8}, {imported:,} entries)", "entries/s", rate, engine_rate,
                          "Qdrant Edge upsert of the same precomputed points", Target("value", ">=", 5000.0, "entries/s"),
                          {"entries": imported, "seconds": round(import_ms / 1000, 2)}))
    figures.append(Figure("store_size", f"Knowledge base on disk, {total:,} entries", "MB", directory_mb(data_dir),
                          directory_mb(work / "qdrant-client"), "qdrant-client local mode, same points", None,
                          {"apparent_mb": round(directory_mb(data_dir, apparent=True), 1),
                           "collections_mb": {p.name: round(directory_mb(p), 1) for p in (data_dir / "collections").iterdir()}}))
    return figures, data_dir, total


def _profile_import(data_dir: Path, count: int) -> dict[str, Any]:
    pipeline = Pipeline(data_dir, Settings(), starter=False)
    entries = list(corpus.entries(count, offset=10_000_000))
    try:
        with profiling.Sampler(os.getpid()) as sampler:
            for start in range(0, len(entries), BATCH * 8):
                pipeline.knowledge.add(entries[start : start + BATCH * 8])
    finally:
        pipeline.close()
    return {"what": f"py-spy on the benchmark process while KnowledgeBase.add imports {count:,} entries into an "
                    "empty store; share of busy samples", **sampler.result}


def what_if_optimized(data_dir: Path, sizes: Sizes) -> dict[str, Any]:
    """The large store's search before and after one more `EdgeShard.optimize()` in this process: the store
    was indexed after its import already, so this checks that nothing was left for the engine to do."""
    pipeline = Pipeline(data_dir, Settings(), starter=True)
    try:
        items = queries(sizes.queries)
        before = search_samples(pipeline, items, sizes.warmup)
        start = now_ns()
        optimized = {name: getattr(shard, "local", shard)._shard.optimize() for name, shard in pipeline.store.shards.items()}
        seconds = ms_since(start) / 1000
        after = search_samples(pipeline, items, sizes.warmup)
    finally:
        pipeline.close()
    return {"what": "search on the large store before and after EdgeShard.optimize() on every shard (hybrid-lsp "
                    "built the index after the import already); same queries, same process",
            "optimize_seconds": round(seconds, 1), "optimized": optimized,
            "before": before.summary(), "after": after.summary(), "disk_mb_after": round(directory_mb(data_dir), 1)}
