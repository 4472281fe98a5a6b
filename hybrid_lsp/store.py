"""The embedded vector store: one in-process Qdrant Edge shard per collection, under the data directory.

Each shard keeps a write-ahead log and a lock: one process owns a data directory at a time, and a
second one gets a clear error instead of silently diverging copies. A store built by another
embedding model or schema is detected and the user is told how to rebuild it.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from .embedding import DENSE, SPARSE

SCHEMA_VERSION = 1
# Only the fields that are filtered on: every index costs memory in every shard.
_INDEXED_KEYWORDS = ("key", "fingerprint")


class StoreError(RuntimeError):
    """The knowledge base cannot be used as it is; the message says what to do."""


class StoreBusy(StoreError):
    pass


class Shard:
    """A collection: a Qdrant Edge shard with a dense and a BM25 (IDF) sparse vector."""

    def __init__(self, path: Path, dimensions: int) -> None:
        self.path = path
        self._lock = threading.RLock()
        config = qe.EdgeConfig(
            vectors={DENSE: qe.EdgeVectorParams(size=dimensions, distance=qe.Distance.Cosine)},
            sparse_vectors={SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
        )
        try:
            if (path / "edge_config.json").exists() or any(path.glob("segments*")):
                # The stored config is authoritative (it may hold an extra named vector).
                self._shard = qe.EdgeShard.load(str(path))
            else:
                path.mkdir(parents=True, exist_ok=True)
                self._shard = qe.EdgeShard.create(str(path), config)
                for field in _INDEXED_KEYWORDS:
                    self._shard.update(qe.UpdateOperation.create_field_index(field, qe.PayloadSchemaType.Keyword))
                self._shard.update(qe.UpdateOperation.create_field_index("ts", qe.PayloadSchemaType.Float))
        except Exception as exc:  # the engine reports every failure as a plain Exception
            text = str(exc)
            if "WouldBlock" in text or "lock" in text.lower():
                raise StoreBusy(
                    f"the knowledge base at {path.parent.parent} is in use by another hybrid-lsp process "
                    "(an editor's language server?). Close it, or pass --data-dir / set HYBRID_LSP_DATA_DIR "
                    "to use another directory."
                ) from None
            raise StoreError(
                f"cannot open the knowledge base collection at {path}: {text}. "
                "If it is damaged, run `hybrid-lsp kb rebuild`."
            ) from None

    def add_dense_vector(self, name: str, size: int, replace: bool) -> None:
        """A named dense vector beside the built-in ones (replace: drop the old one first)."""
        with self._lock:
            if replace:
                try:
                    self._shard.update(qe.UpdateOperation.delete_vector_name(name))
                except Exception:  # not there yet
                    pass
            try:
                self._shard.update(qe.UpdateOperation.create_dense_vector(name, size, qe.Distance.Cosine))
            except Exception as exc:
                if "exist" not in str(exc).lower():
                    raise

    def upsert(self, points: list[qe.Point]) -> None:
        if not points:
            return
        with self._lock:
            self._shard.update(qe.UpdateOperation.upsert_points(points))

    def set_payload(self, point_id: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self._shard.update(qe.UpdateOperation.set_payload([point_id], payload))

    def delete(self, point_ids: list[str]) -> None:
        with self._lock:
            self._shard.update(qe.UpdateOperation.delete_points(point_ids))

    def flush(self) -> None:
        with self._lock:
            self._shard.flush()

    def retrieve(self, point_ids: list[str], with_vector: bool = False) -> list[qe.Record]:
        with self._lock:
            return self._shard.retrieve(point_ids, with_payload=True, with_vector=[DENSE] if with_vector else False)

    def query_batch(self, requests: list[qe.QueryRequest]) -> list[list[qe.ScoredPoint]]:
        with self._lock:
            return self._shard.query_batch(qe.QueryBatchRequest(requests))

    def find(self, field: str, value: str, limit: int = 5) -> list[qe.Record]:
        condition = qe.Filter(must=[qe.FieldCondition(key=field, match=qe.MatchValue(value))])
        with self._lock:
            records, _ = self._shard.scroll(qe.ScrollRequest(limit=limit, filter=condition, with_payload=True))
        return records

    def scroll(self, filter: qe.Filter | None = None, batch: int = 512) -> Iterator[qe.Record]:
        offset = None
        while True:
            with self._lock:
                records, offset = self._shard.scroll(
                    qe.ScrollRequest(offset=offset, limit=batch, filter=filter, with_payload=True)
                )
            yield from records
            if offset is None:
                return

    def count(self) -> int:
        with self._lock:
            return self._shard.count(qe.CountRequest(exact=True))

    def close(self) -> None:
        with self._lock:
            self._shard.flush()
            self._shard.close()


class Store:
    """All collections of one data directory, with a manifest naming the model that built them."""

    def __init__(self, root: Path, collections: tuple[str, ...], model_id: str, dimensions: int) -> None:
        self.root = root
        self.meta_path = root / "store.json"
        root.mkdir(parents=True, exist_ok=True)
        meta = self.read_meta()
        if meta:
            if meta.get("schema") != SCHEMA_VERSION or meta.get("embedding") != model_id:
                raise StoreError(
                    f"the knowledge base at {root} was built with embedding model {meta.get('embedding')!r} "
                    f"(schema {meta.get('schema')}); this version uses {model_id!r} (schema {SCHEMA_VERSION}). "
                    "Run `hybrid-lsp kb rebuild` to re-embed every entry with the current model."
                )
        self.shards: dict[str, Shard] = {}
        # Shards load in parallel: the engine does the work outside the interpreter lock.
        with ThreadPoolExecutor(max_workers=len(collections)) as pool:
            futures = {name: pool.submit(Shard, root / "collections" / name, dimensions) for name in collections}
        failures = []
        for name, future in futures.items():
            try:
                self.shards[name] = future.result()
            except Exception as exc:
                failures.append(exc)
        if failures:
            self.close()
            raise next((f for f in failures if isinstance(f, StoreBusy)), failures[0])
        if not meta:
            self.write_meta({"schema": SCHEMA_VERSION, "embedding": model_id})

    def read_meta(self) -> dict[str, Any]:
        try:
            return json.loads(self.meta_path.read_text())
        except FileNotFoundError:
            return {}
        except (json.JSONDecodeError, OSError) as exc:
            raise StoreError(f"{self.meta_path} is damaged ({exc}); run `hybrid-lsp kb rebuild`.") from None

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Atomic: a crash leaves the old manifest or the new one, never half of one."""
        tmp = self.meta_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        tmp.replace(self.meta_path)

    def update_meta(self, **values: Any) -> None:
        meta = self.read_meta()
        meta.update(values)
        self.write_meta(meta)

    def close(self) -> None:
        for shard in self.shards.values():
            shard.close()
        self.shards.clear()

    @staticmethod
    def wipe(root: Path) -> None:
        shutil.rmtree(root / "collections", ignore_errors=True)
        (root / "store.json").unlink(missing_ok=True)
