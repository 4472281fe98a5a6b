"""Team mode: the knowledge base on a Qdrant server or cluster, with this machine's store as its copy.

Every write goes to the local store first (searchable at once, offline too) and to the durable
outbox (outbox.py); a background sender passes the outbox to the server in order, retrying with
a growing pause while the server is away, and removes a write only once the server confirmed it.

Reads go to the server while it answers and already holds every write of this machine, so each
window sees what the others learned; otherwise to the local copy, at once: a failed read keeps
reads local until the sender has reached the server again, so a dead server costs one timeout at
most, not one per diagnostic.

When it reaches the server the sender brings the local copy up to date (points the copy lacks or
holds in another state are fetched, points deleted on the server are dropped), so the local
fallback stays current. The first time a data directory joins a server, its own points the server
lacks are queued for it: entries made before team mode are shared rather than hidden.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import qdrant_edge as qe

from .embedding import DENSE
from .outbox import Op, Outbox, summary
from .qdrant_server import (
    SERVED_VECTORS,
    Missing,
    NoPoint,
    Refused,
    Rejected,
    RemoteShard,
    TeamError,
    Unsupported,
    connect,
    edge_point,
    failure,
    nearest,
    point_json,
)
from .store import Shard, Store

if TYPE_CHECKING:
    from .config import QdrantServer

log = logging.getLogger(__name__)
BATCH = 256


def read_points(local: Shard, point_ids: list[str], dimensions: int) -> list[Any]:
    """Points of the local store with every vector (Shard.retrieve gives the dense one only)."""
    if not point_ids:
        return []
    request = qe.QueryRequest(limit=len(point_ids), query=qe.Query.Nearest([0.0] * dimensions, using=DENSE),
                              filter=qe.Filter(must=[qe.HasIdCondition(set(point_ids))]),
                              with_payload=True, with_vector=True)
    return local.query_batch([request])[0]


def _using(request: qe.QueryRequest) -> str | None:
    if request.query is None:  # a filtered read of payloads: the server holds them all
        return DENSE
    try:
        return nearest(request.query)[1]
    except Unsupported:
        return None


class TeamShard:
    """A collection in team mode: the local shard, the server's copy, and the way between them."""

    def __init__(self, name: str, local: Shard, remote: RemoteShard, sync: TeamSync) -> None:
        self.name = name
        self.local = local
        self.remote = remote
        self.path = local.path
        self._sync = sync
        self.lock = threading.Lock()  # one write at a time: the local write and its queued copy
        self.writes = 0

    # -- writes: local store, then the outbox --------------------------------------------------------

    def upsert(self, points: list[qe.Point]) -> None:
        if not points:
            return
        with self.lock:
            self.local.upsert(points)
            self._sync.queue(self.name, "upsert", {"points": [point_json(p) for p in points]})
            self.writes += 1

    def set_payload(self, point_id: str, payload: dict[str, Any]) -> None:
        with self.lock:
            try:
                self.local.set_payload(point_id, payload)
            except Exception:  # a point read from the server that the local copy has not fetched yet
                if not self._fetch(point_id):
                    raise
                self.local.set_payload(point_id, payload)
            self._sync.queue(self.name, "set_payload", {"id": str(point_id), "payload": payload})
            self.writes += 1

    def delete(self, point_ids: list[str]) -> None:
        with self.lock:
            self.local.delete(point_ids)
            self._sync.queue(self.name, "delete", {"ids": [str(i) for i in point_ids]})
            self.writes += 1

    def _fetch(self, point_id: str) -> bool:
        """Copy one point from the server into the local store; False when it cannot."""
        if not self._sync.serves(self.name):
            return False
        try:
            records = self.remote.retrieve_points([str(point_id)])
        except TeamError as exc:
            self._sync.read_failed(exc)
            return False
        if records:
            self.local.upsert([edge_point(records[0])])
        return bool(records)

    def flush(self) -> None:
        self.local.flush()  # the outbox is synced by every write already

    def add_dense_vector(self, name: str, size: int, replace: bool) -> None:
        """Extra vectors (Ollama embeddings) stay in the local store; searches with them are local."""
        self.local.add_dense_vector(name, size, replace)

    # -- reads: the server when it is current, else the local copy -----------------------------------

    def _read(self, remote: Callable[[], Any], local: Callable[[], Any]) -> Any:
        if self._sync.serves(self.name):
            try:
                return remote()
            except Unsupported:
                pass
            except TeamError as exc:
                self._sync.read_failed(exc)
        return local()

    def retrieve(self, point_ids: list[str], with_vector: bool = False, fields: list[str] | None = None) -> list[Any]:
        return self._read(lambda: self.remote.retrieve(point_ids, with_vector, fields),
                          lambda: self.local.retrieve(point_ids, with_vector, fields))

    def query_batch(self, requests: list[qe.QueryRequest]) -> list[list[Any]]:
        served = [i for i, r in enumerate(requests) if _using(r) in SERVED_VECTORS]
        if not served:
            return self.local.query_batch(requests)
        others = [i for i in range(len(requests)) if i not in served]

        def mixed() -> list[list[Any]]:
            answers = dict(zip(served, self.remote.query_batch([requests[i] for i in served]), strict=True))
            if others:
                answers.update(zip(others, self.local.query_batch([requests[i] for i in others]), strict=True))
            return [answers[i] for i in range(len(requests))]

        return self._read(mixed, lambda: self.local.query_batch(requests))

    def find(self, field: str, value: str, limit: int = 5) -> list[Any]:
        return self._read(lambda: self.remote.find(field, value, limit), lambda: self.local.find(field, value, limit))

    def scroll(self, filter: qe.Filter | None = None, batch: int = 512) -> Iterator[Any]:
        yield from self._read(lambda: list(self.remote.scroll(filter, batch)), lambda: self.local.scroll(filter, batch))

    def count(self) -> int:
        return self._read(self.remote.count, self.local.count)

    def close(self) -> None:
        self._sync.close()  # first: the sender stops before the local shards it reads are closed
        self.local.close()


class TeamSync:
    """The link between one data directory and a Qdrant server: one outbox, one sender thread."""

    def __init__(self, settings: QdrantServer, root: Path, model_id: str, dimensions: int, api_key: str | None,
                 *, retry_max: float = 30.0, refresh: float = 30.0, mirror_every: float = 600.0) -> None:
        self.settings = settings
        self.url = settings.url
        self.model_id = model_id
        self.dimensions = dimensions
        self.retry_max = retry_max
        self.refresh = refresh  # answers cached from the server are dropped this often
        self.mirror_every = mirror_every
        self.outbox = Outbox(root)
        self._reader = connect(settings.url, api_key, settings.read_timeout, settings.verify_tls)
        self._writer = connect(settings.url, api_key, settings.timeout, settings.verify_tls)
        self.shards: dict[str, TeamShard] = {}
        self._senders: dict[str, RemoteShard] = {}
        self._pending: Counter[str] = self.outbox.pending()
        self._ensured: set[str] = set()
        self._lock = threading.Lock()
        self.state, self.reason = "connecting", ""
        self.mirrored = False  # the local copy was brought up to date since the last connection
        self.on_change: list[Callable[[], None]] = []
        self._wake, self._stop, self._first = threading.Event(), threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def remote_name(self, name: str) -> str:
        return f"{self.settings.collection_prefix}{name}"

    def attach(self, name: str, local: Shard) -> TeamShard:
        remote = RemoteShard(self._reader, self.url, self.remote_name(name), self.dimensions, self.model_id)
        self.shards[name] = TeamShard(name, local, remote, self)
        return self.shards[name]

    def start(self, wait: float) -> None:
        """Start the sender; wait up to `wait` seconds for its first round (connect, send, update the copy)."""
        self._thread = threading.Thread(target=self._run, name="hybrid-lsp-team", daemon=True)
        self._thread.start()
        self._first.wait(wait)

    # -- used by the shards ----------------------------------------------------------------------------

    def serves(self, name: str) -> bool:
        return self.state == "online" and name in self._ensured and not self._pending[name]

    def queue(self, name: str, kind: str, body: dict[str, Any]) -> None:
        self.outbox.put(name, kind, body)
        with self._lock:
            self._pending[name] += 1
        self._wake.set()

    def read_failed(self, exc: TeamError) -> None:
        if isinstance(exc, Missing):
            self._ensured.clear()
        self._set_state("refused" if isinstance(exc, Refused) else "offline", str(exc))
        self._wake.set()

    # -- state -------------------------------------------------------------------------------------------

    def _set_state(self, state: str, reason: str) -> None:
        if state == self.state:
            self.reason = reason
            return
        self.state, self.reason = state, reason
        if state == "online":
            log.info("team knowledge base at %s: connected", self.url)
        else:
            self.mirrored = False
            log.warning("team knowledge base: %s; working on the local copy, writes are kept and sent later", reason)
        self._changed()

    def _changed(self) -> None:
        for callback in self.on_change:
            try:
                callback()
            except Exception:  # a listener's failure is not the sender's
                log.exception("team change listener failed")

    def status(self) -> dict[str, Any]:
        with self._lock:
            pending = {name: count for name, count in self._pending.items() if count}
        return {"url": self.url, "state": self.state, "reason": self.reason, "pending": sum(pending.values()),
                "pending_by_collection": pending, "rejected": len(self.outbox.rejected()), "mirrored": self.mirrored}

    def wait_synced(self, timeout: float) -> bool:
        """True once the server holds every write and the local copy was brought up to date."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if status["state"] == "online" and not status["pending"] and self.mirrored:
                return True
            time.sleep(0.02)
        return False

    # -- the sender ---------------------------------------------------------------------------------------

    def _run(self) -> None:
        delay = 0.5
        last_mirror = float("-inf")
        while not self._stop.is_set():
            self._wake.clear()
            try:
                if self.state != "online":
                    self._connect()
                    self._set_state("online", "")
                self._drain()
                due = not self.mirrored or time.monotonic() - last_mirror >= self.mirror_every
                if due and self._mirror_all():
                    self.mirrored, last_mirror = True, time.monotonic()
                delay = 0.5
                self._first.set()
                if not self._wake.wait(self.refresh if self.mirrored else 0.5):
                    self._changed()  # other machines write too: cached answers do not outlive `refresh`
            except Refused as exc:
                self._set_state("refused", str(exc))
                self._first.set()
                self._stop.wait(self.retry_max)
            except Exception as exc:  # unreachable, or anything unexpected: wait, then try again
                if not isinstance(exc, TeamError):
                    log.exception("team sender")
                    exc = TeamError(f"synchronising with the Qdrant server at {self.url} failed "
                                    f"({type(exc).__name__}: {exc}); retrying")
                if isinstance(exc, Missing):
                    self._ensured.clear()
                self._set_state("offline", str(exc))
                self._first.set()
                self._stop.wait(delay)
                delay = min(delay * 2, self.retry_max)

    def _sender(self, name: str) -> RemoteShard:
        if name not in self._senders:
            self._senders[name] = RemoteShard(self._writer, self.url, self.remote_name(name), self.dimensions, self.model_id)
        return self._senders[name]

    def _ensure(self, name: str) -> RemoteShard:
        remote = self._sender(name)
        if name not in self._ensured:
            if remote.ensure():  # new, or deleted on the server since: it gets this copy's points again
                self.outbox.set(self._joined_key(name), "")
            self._ensured.add(name)
            if name in self.shards:
                self._join(name, self.shards[name])
        return remote

    def _connect(self) -> None:
        self._ensured.clear()
        for name in self.shards:
            self._ensure(name)

    def _joined_key(self, name: str) -> str:
        return f"joined {self.url} {self.remote_name(name)}"

    def _join(self, name: str, shard: TeamShard) -> None:
        """The first time: queue this copy's points the server lacks, so they are shared."""
        key = self._joined_key(name)
        if self.outbox.get(key):
            return
        theirs = {str(r.id) for r in self._sender(name).scroll(batch=1024, with_payload=False)}
        ours = [str(r.id) for r in shard.local.scroll()]
        missing = [pid for pid in ours if pid not in theirs]
        for start in range(0, len(missing), BATCH):
            with shard.lock:  # no write of the same points can slip between the read and the queue
                points = read_points(shard.local, missing[start:start + BATCH], self.dimensions)
                if points:
                    self.queue(name, "upsert", {"points": [point_json(p) for p in points]})
        self.outbox.set(key, time.strftime("%Y-%m-%dT%H:%M:%S"))
        if missing:
            log.info("team knowledge base: sharing %d point(s) of %s made before joining", len(missing), name)

    def _drain(self) -> None:
        while not self._stop.is_set():
            ops = self.outbox.head()
            if not ops:
                return
            for op in ops:
                self._send(op)
                self.outbox.done(op.id)
                with self._lock:
                    self._pending[op.collection] -= 1

    def _send(self, op: Op) -> None:
        remote = self._ensure(op.collection)
        try:
            if op.kind == "upsert":
                remote.upsert_json(op.body["points"])
            elif op.kind == "set_payload":
                try:
                    remote.set_payload(op.body["id"], op.body["payload"])
                except NoPoint:  # made before the server had the point: send the point as it is now
                    shard = self.shards.get(op.collection)
                    if shard is None:
                        raise
                    points = read_points(shard.local, [op.body["id"]], self.dimensions)
                    if points:
                        remote.upsert_json([point_json(p) for p in points])
            elif op.kind == "delete":
                remote.delete(op.body["ids"])
            else:
                raise Rejected(f"unknown write kind {op.kind!r}")
        except Rejected as exc:
            log.error("the Qdrant server refused a queued %s on %s; it is set aside (see `hybrid-lsp doctor`): %s",
                      op.kind, op.collection, exc)
            self.outbox.reject(op, str(exc))

    def _mirror_all(self) -> bool:
        done = True
        for name, shard in self.shards.items():  # every collection, even after one was put off
            done = self._mirror(name, shard) and done
        return done

    def _mirror(self, name: str, shard: TeamShard) -> bool:
        """Bring the local copy to the server's state; False when local writes got in the way (try later)."""
        if self._pending[name]:
            return False
        writes = shard.writes
        remote = self._ensure(name)
        theirs = {str(r.id): r.payload for r in remote.scroll(batch=512)}
        ours = {str(r.id): r.payload for r in shard.local.scroll()}
        fetch = [pid for pid, payload in theirs.items() if ours.get(pid) != payload]
        gone = [pid for pid in ours if pid not in theirs]
        if not fetch and not gone:
            return True
        for start in range(0, len(fetch), BATCH):
            records = remote.retrieve_points(fetch[start:start + BATCH])
            with shard.lock:
                if shard.writes != writes or self._pending[name]:
                    return False
                shard.local.upsert([edge_point(r) for r in records])
        with shard.lock:
            if shard.writes != writes or self._pending[name]:
                return False
            if gone:
                shard.local.delete(gone)
            shard.local.flush()
        log.info("team knowledge base: local copy of %s updated (%d fetched, %d removed)", name, len(fetch), len(gone))
        self._changed()
        return True

    def close(self) -> None:
        """Give the sender up to `timeout` seconds to send what is waiting, then stop it."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + self.settings.timeout
        while self.state == "online" and self.status()["pending"] and time.monotonic() < deadline:
            time.sleep(0.02)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(self.settings.timeout + 1)
        if self._thread is None or not self._thread.is_alive():
            self.outbox.close()
        for client in (self._reader, self._writer):
            try:
                client.close()
            except Exception:  # closing a client that never connected
                pass


def notice(previous: str, state: str, status: dict[str, Any]) -> tuple[str, str] | None:
    """What the editor is told when the line to the team server changes: (severity, message).

    Going away and coming back are worth a message; the first connection at start is not.
    Severity is "error" (the server refuses this machine: only the user can fix it), "warning"
    (unreachable: answers and writes go on locally) or "info" (back)."""
    url, reason, pending = status["url"], status["reason"], status["pending"]
    waiting = f"{pending} write(s) wait to be sent" if pending else "new writes wait to be sent"
    if state == "refused" and previous != "refused":
        return ("error", f"the team knowledge base at {url} refuses this machine ({reason}); answers come from "
                         f"the local copy and {waiting}. Check HYBRID_LSP_QDRANT_API_KEY, then run `hybrid-lsp doctor`.")
    if state == "offline" and previous not in ("offline", "refused"):
        return ("warning", f"the team knowledge base at {url} is unreachable ({reason}); answers come from the "
                           f"local copy and {waiting} when it is back.")
    if state == "online" and previous in ("offline", "refused"):
        return ("info", f"the team knowledge base at {url} is reachable again; queued writes are being sent.")
    return None


def join_team(store: Store, settings: QdrantServer, model_id: str, dimensions: int,
              collections: tuple[str, ...], api_key: str | None) -> TeamSync:
    """Put the named collections of an open store in team mode (in place, in store.shards)."""
    try:
        sync = TeamSync(settings, store.root, model_id, dimensions, api_key)
    except Exception:
        store.close()
        raise
    for name in collections:
        store.shards[name] = sync.attach(name, store.shards[name])  # type: ignore[assignment]
    sync.start(wait=settings.timeout)
    return sync


def doctor_checks(settings: QdrantServer, root: Path, api_key: str | None) -> list[tuple[bool | None, str, str]]:
    """`hybrid-lsp doctor`'s lines for the team server: reachable, its collections, the outbox."""
    if not settings.url:
        return []
    checks: list[tuple[bool | None, str, str]] = []
    try:
        client = connect(settings.url, api_key, settings.timeout, settings.verify_tls)
        try:
            names = sorted(c.name for c in client.get_collections().collections
                           if c.name.startswith(settings.collection_prefix))
            counts = [f"{n} ({_points(client.count(n, exact=True).count)})" for n in names]
        finally:
            client.close()
        checks.append((True, "team server", f"{settings.url} answers; " + (
            "collections: " + ", ".join(counts) if counts else
            f"no {settings.collection_prefix}* collections yet: the first hybrid-lsp start creates them")))
    except Exception as exc:
        error = failure(exc, settings.url, "listing collections")
        checks.append((False, "team server", str(error) + ("" if isinstance(error, Refused) else
                       "; until it answers, the knowledge base works on the local copy and keeps its writes")))
    waiting = summary(root)
    if waiting is not None:
        queued, rejected = waiting
        detail = f"{queued} write(s) waiting for the server" + (
            "; they are sent while hybrid-lsp runs and the server answers" if queued else "")
        if rejected:
            detail += (f"; {rejected} write(s) refused by the server, kept in the `rejected` table of "
                       f"{root / 'team-outbox.sqlite3'}")
        checks.append((not rejected if rejected else None if queued else True, "team outbox", detail))
    return checks


def _points(count: int) -> str:
    return f"{count} point{'' if count == 1 else 's'}"
