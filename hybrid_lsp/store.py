"""The embedded vector store: one in-process Qdrant Edge shard per collection, under the data directory.

Each shard keeps a write-ahead log and a lock: one process owns a data directory at a time, and a
second one gets a clear error instead of silently diverging copies. A store built by another
embedding model or schema is detected and the user is told how to rebuild it.

Dense search is a full scan until the engine builds an HNSW index (`EdgeShard.optimize()`), which
takes seconds per 10,000 points and holds the interpreter lock the whole time: run in this process
it would stop every other thread, the language server's included. So a shard that gained many
unindexed points is optimized on a copy by a child process, and the result is swapped in once done;
searches go on against the current shard meanwhile.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from .config import COLLECTIONS
from .embedding import DENSE, SPARSE
from .normalise import version as normalise_version

log = logging.getLogger(__name__)
SCHEMA_VERSION = 1
# Only the fields that are filtered on: every index costs memory in every shard.
_INDEXED_KEYWORDS = ("key", "fingerprint", "wording")
# The engine indexes a segment once its vectors pass this size (its default indexing threshold);
# below it an optimization changes nothing, so it is not worth copying the shard for.
_ENGINE_INDEXING_KB = 10_000
# Writes must have paused this long before a copy is taken: a copy outdated by a write is thrown away.
QUIET_SECONDS = 1.0
# A shard's files are read once after it is opened or swapped in (see Shard._prewarm), up to this much.
PREWARM_BYTES = 1 << 30
# Run by a child process on a copy of a shard. It dies with its parent (Linux): an optimizer that
# outlives the process would only be writing to a copy nobody will read.
_OPTIMIZE_CHILD = """
import ctypes, os, signal, sys
try:
    ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
if os.getppid() != int(sys.argv[2]):
    sys.exit(1)
try:
    os.nice(10)
except (AttributeError, OSError):
    pass
import qdrant_edge as qe
shard = qe.EdgeShard.load(sys.argv[1])
changed = shard.optimize()
shard.close()
print("optimized" if changed else "unchanged")
"""


class StoreError(RuntimeError):
    """The knowledge base cannot be used as it is; the message says what to do."""


class StoreBusy(StoreError):
    pass


def _keyword_indexes(shard: qe.EdgeShard, fields: Iterable[str]) -> None:
    for field in fields:
        # Looked up by exact value (a filtered read, or a plain search among a rule's entries): no
        # per-value HNSW links to build, and the index stays on disk.
        shard.update(qe.UpdateOperation.create_field_index(
            field, qe.KeywordIndexParams(enable_hnsw=False, memory=qe.Memory.Cold)))


class Shard:
    """A collection: a Qdrant Edge shard with a dense and a BM25 (IDF) sparse vector."""

    def __init__(self, path: Path, dimensions: int, journaled: bool = False) -> None:
        self.path = path
        self._journaled = journaled
        self._lock = threading.RLock()
        self._spare = path.parent.parent / "optimize"  # copies being optimized, and replaced shards
        self._writes = 0  # bumped by every write: an optimized copy of an older state is stale
        self._last_write = 0.0
        self._optimize_at = max(1, _ENGINE_INDEXING_KB * 1024 // (4 * dimensions))
        self._optimizer: threading.Thread | None = None
        self._child: subprocess.Popen | None = None
        self._wanted = threading.Event()  # optimize as soon as possible, without waiting for quiet
        self._closed = False
        self._claim = self._claim_spare()
        try:
            self._recover()
            self._shard = self._open(dimensions)
        except BaseException:
            os.close(self._claim)
            raise
        self._unindexed = self._count_unindexed()
        if self._unindexed >= self._optimize_at:  # e.g. a store filled before indexes were built
            self._start_optimizer()
        self._start_prewarm()

    def _busy(self) -> StoreBusy:
        return StoreBusy(
            f"the knowledge base at {self.path.parent.parent} is in use by another hybrid-lsp process "
            "(an editor's language server?). Close it, or pass --data-dir / set HYBRID_LSP_DATA_DIR "
            "to use another directory."
        )

    def _claim_spare(self) -> int:
        """The owner's lock on the optimizer's directory: only the owner may repair or swap shards."""
        self._spare.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._spare / f"{self.path.name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # no flock: the engine's own lock still keeps a second process out
            pass
        except OSError:
            os.close(fd)
            raise self._busy() from None
        return fd

    def _open(self, dimensions: int) -> qe.EdgeShard:
        path = self.path
        sparse = {SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf, memory=qe.Memory.Cold)}
        # A search here takes a fraction of a millisecond: handing its segments to a thread pool
        # costs more than it saves, so each runs on the calling thread.
        threads = 1
        try:
            if (path / "edge_config.json").exists() or any(path.glob("segments*")):
                # The stored dense vectors are authoritative (there may be an extra named one).
                shard = qe.EdgeShard.load(str(path), qe.EdgeConfig(sparse_vectors=sparse, max_search_threads=threads))
                missing = [f for f in _INDEXED_KEYWORDS if f not in (shard.info().payload_schema or {})]
                _keyword_indexes(shard, missing)  # a store written by an earlier version
                return shard
            path.mkdir(parents=True, exist_ok=True)
            # Cold: vectors and payloads stay in their files until a search reads them, rather than
            # being read into memory at open (146 MB less resident just after opening 100,000 entries).
            # A collection whose every write is journaled first (the knowledge base's entries.jsonl,
            # outcomes re-applied from the interaction history) and flushed before it is
            # acknowledged needs no engine WAL of its own: without one, a 100,000-entry store
            # opens without replaying 32 MB log segments into memory, and imports write once.
            config = qe.EdgeConfig(
                vectors={DENSE: qe.EdgeVectorParams(size=dimensions, distance=qe.Distance.Cosine, memory=qe.Memory.Cold)},
                sparse_vectors=sparse,
                payload_memory=qe.Memory.Cold, id_tracker_memory=qe.Memory.Cold, max_search_threads=threads,
                wal_enabled=not self._journaled)
            shard = qe.EdgeShard.create(str(path), config)
            _keyword_indexes(shard, _INDEXED_KEYWORDS)
            shard.update(qe.UpdateOperation.create_field_index("ts", qe.PayloadSchemaType.Float))
            return shard
        except Exception as exc:  # the engine reports every failure as a plain Exception
            text = str(exc)
            if "WouldBlock" in text or "lock" in text.lower():
                raise self._busy() from None
            raise StoreError(
                f"cannot open the knowledge base collection at {path}: {text}. "
                "If it is damaged, run `hybrid-lsp kb rebuild`."
            ) from None

    # -- first searches as fast as later ones ---------------------------------------------------

    def _start_prewarm(self) -> None:
        self.prewarmed = 0  # bytes read so far
        self._prewarmer = threading.Thread(target=self._prewarm, name=f"prewarm-{self.path.name}", daemon=True)
        self._prewarmer.start()

    def _prewarm(self) -> None:
        """Read the segment files once, in the background, so the page cache holds them.

        Vectors, payloads and indexes are memory-mapped and read on demand (cold): without this, the
        first searches after a start or an index swap wait on the disk page by page (a first pass
        over 968 real diagnostics at 100,000 entries: p99 28 ms with 6,900 major page faults, 13 ms
        with the files read ahead). Reading into the page cache adds nothing to the process's
        resident memory. posix_fadvise(WILLNEED) was tried instead and left 5,000 of the faults.
        Holes in sparse files are skipped; a file removed meanwhile (a swap) is skipped."""
        budget, buffer = PREWARM_BYTES, bytearray(1 << 18)
        # os.walk skips what vanishes meanwhile (a swap moves the directory; the new shard reads its own)
        files = sorted(Path(top, name) for top, _, names in os.walk(self.path / "segments") for name in names)
        for file in files:
            if self._closed or budget <= 0:
                return
            try:
                done = _read_through(file, budget, buffer)
            except OSError:  # gone with a swap
                continue
            budget -= done
            self.prewarmed += done

    # -- the HNSW index, built beside the live shard --------------------------------------------

    def _recover(self) -> None:
        """Finish or undo a swap cut short by a crash, and drop copies nobody is optimizing any more."""
        old = self._spare / f"{self.path.name}.replaced"
        if old.exists():
            if not self.path.exists():
                # Killed between the two renames: the replaced shard is complete (it was closed first).
                old.rename(self.path)
            else:
                shutil.rmtree(old, ignore_errors=True)
        for stale in self._spare.glob(f"{self.path.name}.copy-*"):
            shutil.rmtree(stale, ignore_errors=True)

    def _count_unindexed(self) -> int:
        """Dense vectors outside an HNSW index (the engine counts sparse vectors as indexed anyway)."""
        try:
            config = json.loads((self.path / "edge_config.json").read_text())
            kinds = len(config.get("vectors") or {}) + len(config.get("sparse_vectors") or {})
        except (OSError, ValueError):
            kinds = 2
        with self._lock:
            info = self._shard.info()
        return max(0, info.points_count * kinds - info.indexed_vectors_count)

    def _wrote(self, points: int = 0) -> None:
        self._writes += 1
        self._last_write = time.monotonic()
        self._unindexed += points
        if self._unindexed >= self._optimize_at:
            self._start_optimizer()

    def _start_optimizer(self) -> None:
        with self._lock:
            if self._closed or (self._optimizer is not None and self._optimizer.is_alive()):
                return
            self._optimizer = threading.Thread(target=self._optimize_until_current, name=f"optimize-{self.path.name}",
                                               daemon=True)
            self._optimizer.start()

    def optimize(self, wait: bool = True) -> None:
        """Build the indexes now if enough points lack one (without waiting for writes to pause)."""
        if not self.needs_optimize:
            return
        self._wanted.set()
        self._start_optimizer()
        if wait:
            self.wait_optimized()

    def wait_optimized(self, timeout: float | None = None) -> bool:
        """True once no optimization is running."""
        thread = self._optimizer
        if thread is not None:
            thread.join(timeout)
            return not thread.is_alive()
        return True

    @property
    def needs_optimize(self) -> bool:
        return self._unindexed >= self._optimize_at or self.optimizing

    @property
    def optimizing(self) -> bool:
        return self._optimizer is not None and self._optimizer.is_alive()

    def _optimize_until_current(self) -> None:
        try:
            while not self._closed:
                if not self._wanted.is_set():
                    idle = time.monotonic() - self._last_write
                    if idle < QUIET_SECONDS:
                        self._wanted.wait(QUIET_SECONDS - idle)
                        continue
                if self._optimize_copy():
                    return
                self._wanted.clear()  # writes came in: wait for them to pause rather than copy again at once
        except Exception as exc:  # the live shard is untouched: searches just stay unindexed
            log.warning("could not build the search index of %s: %s", self.path.name, exc)
        finally:
            self._wanted.clear()

    def _optimize_copy(self) -> bool:
        """One attempt; False when a write made the copy stale (the caller tries again)."""
        copy = self._spare / f"{self.path.name}.copy-{os.getpid()}"
        shutil.rmtree(copy, ignore_errors=True)
        self._spare.mkdir(parents=True, exist_ok=True)
        with self._lock:
            if self._closed:
                return True
            self._shard.flush()
            version, unindexed = self._writes, self._unindexed
        try:
            # Reads leave the files alone; a write during the copy bumps the version and voids it.
            shutil.copytree(self.path, copy)
            if self._writes != version:
                return False
            with self._lock:
                if self._closed:
                    return True
                self._child = subprocess.Popen([sys.executable, "-c", _OPTIMIZE_CHILD, str(copy), str(os.getpid())],
                                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            out, err = self._child.communicate()
            if self._closed:
                return True
            if self._child.returncode != 0:
                raise StoreError(err.strip().splitlines()[-1] if err.strip() else f"exit status {self._child.returncode}")
            if out.strip() != "optimized":
                # Nothing reached the engine's indexing threshold: try again after as many more points.
                self._optimize_at = unindexed + self._optimize_at
                return True
            with self._lock:
                if self._closed:
                    return True
                if self._writes != version:
                    return False
                self._swap(copy)
                self._unindexed = max(0, self._unindexed - unindexed)
            return True
        finally:
            self._child = None
            shutil.rmtree(copy, ignore_errors=True)
            shutil.rmtree(self._spare / f"{self.path.name}.replaced", ignore_errors=True)

    def _swap(self, copy: Path) -> None:
        """Put the optimized copy in place of the live shard (under the lock, nothing written since the copy).

        Renames only: a crash leaves either directory complete, and `_recover` puts the right one back.
        """
        old = self._spare / f"{self.path.name}.replaced"
        self._shard.close()
        self.path.rename(old)
        copy.rename(self.path)
        try:
            self._shard = qe.EdgeShard.load(str(self.path))
        except Exception:
            self.path.rename(copy)
            old.rename(self.path)
            self._shard = qe.EdgeShard.load(str(self.path))
            raise
        self._start_prewarm()

    def add_dense_vector(self, name: str, size: int, replace: bool) -> None:
        """A named dense vector beside the built-in ones (replace: drop the old one first)."""
        with self._lock:
            self._wrote()
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
            self._wrote(len(points))

    def set_payload(self, point_id: str, payload: dict[str, Any]) -> None:
        with self._lock:
            self._shard.update(qe.UpdateOperation.set_payload([point_id], payload))
            self._wrote()

    def delete(self, point_ids: list[str]) -> None:
        with self._lock:
            self._shard.update(qe.UpdateOperation.delete_points(point_ids))
            self._wrote()

    def flush(self) -> None:
        with self._lock:
            self._shard.flush()

    def retrieve(self, point_ids: list[str], with_vector: bool = False, fields: list[str] | None = None) -> list[qe.Record]:
        """The points that exist, with their whole payload or only `fields` (the engine decodes the
        whole payload either way), and their dense vector if asked."""
        with self._lock:
            return self._shard.retrieve(point_ids, with_payload=fields if fields is not None else True,
                                        with_vector=[DENSE] if with_vector else False)

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
            self._closed = True
            self._wanted.set()
            child = self._child
        if child is not None:  # its copy is thrown away; the live shard never depended on it
            child.kill()
        if self._optimizer is not None:
            self._optimizer.join()
        with self._lock:
            self._shard.flush()
            self._shard.close()
            os.close(self._claim)


def _read_through(file: Path, limit: int, buffer: bytearray | None = None) -> int:
    """Read a file's data (not its holes) up to `limit` bytes into the page cache; the bytes read.

    Into one reused buffer: a new 1 MiB bytes object per read would leave the allocator holding
    megabytes of resident memory afterwards."""
    view = memoryview(buffer if buffer is not None else bytearray(1 << 18))
    holes = hasattr(os, "SEEK_DATA") and hasattr(os, "SEEK_HOLE")  # not on every platform
    done = 0
    with open(file, "rb", buffering=0) as handle:
        size = os.fstat(handle.fileno()).st_size
        offset = 0
        while offset < size and done < limit:
            end = size
            if holes:
                try:
                    offset = os.lseek(handle.fileno(), offset, os.SEEK_DATA)
                    end = os.lseek(handle.fileno(), offset, os.SEEK_HOLE)
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        break  # ENXIO: only a hole is left
                    holes = False  # the filesystem cannot tell holes from data: read it all
            handle.seek(offset)
            while offset < end and done < limit:
                count = handle.readinto(view[:min(len(view), end - offset, limit - done)])
                if not count:
                    return done
                offset += count
                done += count
    return done


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
        # One thread per collection (the engine holds the interpreter lock while it loads, though).
        with ThreadPoolExecutor(max_workers=len(collections)) as pool:
            futures = {name: pool.submit(Shard, root / "collections" / name, dimensions, name in COLLECTIONS)
                       for name in collections}
        failures = []
        for name, future in futures.items():
            try:
                self.shards[name] = future.result()
            except Exception as exc:
                failures.append(exc)
        if failures:
            self.close()
            raise next((f for f in failures if isinstance(f, StoreBusy)), failures[0])
        if not meta:  # a new store: whatever it will hold is normalised by this version
            self.write_meta({"schema": SCHEMA_VERSION, "embedding": model_id, "normalisation": normalise_version()})

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

    def optimize_pending(self) -> list[bool]:
        """Per collection: whether enough points lack a search index for `optimize` to build one."""
        return [getattr(shard, "local", shard).needs_optimize for shard in self.shards.values()]

    def optimize(self) -> None:
        """Build every collection's search index now, waiting for it (after a bulk import)."""
        for shard in self.shards.values():
            getattr(shard, "local", shard).optimize(wait=False)  # a team collection searches its local copy
        for shard in self.shards.values():
            getattr(shard, "local", shard).wait_optimized()

    def close(self) -> None:
        for shard in self.shards.values():
            shard.close()
        self.shards.clear()

    @staticmethod
    def wipe(root: Path) -> None:
        shutil.rmtree(root / "collections", ignore_errors=True)
        shutil.rmtree(root / "optimize", ignore_errors=True)
        (root / "store.json").unlink(missing_ok=True)
