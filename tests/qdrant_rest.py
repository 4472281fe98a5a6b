"""A loopback Qdrant server for tests: Qdrant's REST protocol over the embedded engine (qdrant_edge).

It answers exactly the endpoints qdrant-client calls for hybrid-lsp's team mode, with request and
response bodies read and written through qdrant-client's own REST models, so a protocol mistake in
the client-side code fails here the way it would against a real server:

    GET  /                                        version (health)
    GET  /collections                             list
    GET  /collections/{c}/exists                  existence
    GET  /collections/{c}                         info (vectors, sparse vectors, payload schema, metadata)
    PUT  /collections/{c}                         create
    DELETE /collections/{c}                       delete
    PUT  /collections/{c}/index                   create a payload index
    PUT  /collections/{c}/points                  upsert
    POST /collections/{c}/points/delete           delete by ids
    POST /collections/{c}/points/payload          set payload
    POST /collections/{c}/points                  retrieve
    POST /collections/{c}/points/scroll           scroll
    POST /collections/{c}/points/count            count
    POST /collections/{c}/points/query/batch      query batch (nearest, dense or sparse)

Every collection is a Qdrant Edge shard in a directory of its own, so the server keeps what it was
sent across a restart on the same directory. With `tls` (a certificate and its key) it speaks https.
With `api_key` set, requests must carry it in the
`api-key` header (401 without one, 403 with a wrong one), as Qdrant does. `requests` records the
method and path of each request, and `points(collection)` reads a collection directly, for
assertions made on the server's side.
"""

from __future__ import annotations

import json
import re
import shutil
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import qdrant_edge as qe
from pydantic import BaseModel, ValidationError
from qdrant_client.http import models as m

VERSION = "1.16.0"
_DISTANCES = {m.Distance.COSINE: qe.Distance.Cosine, m.Distance.DOT: qe.Distance.Dot,
              m.Distance.EUCLID: qe.Distance.Euclid, m.Distance.MANHATTAN: qe.Distance.Manhattan}
_SCHEMAS = {m.PayloadSchemaType.KEYWORD: qe.PayloadSchemaType.Keyword, m.PayloadSchemaType.FLOAT: qe.PayloadSchemaType.Float,
            m.PayloadSchemaType.INTEGER: qe.PayloadSchemaType.Integer, m.PayloadSchemaType.BOOL: qe.PayloadSchemaType.Bool}


class Problem(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Collection:
    def __init__(self, path: Path, create: m.CreateCollection | None) -> None:
        self.path = path
        meta_path = path / "rest.json"
        if create is None:
            self.create = m.CreateCollection.model_validate_json(meta_path.read_text())
            self.shard = qe.EdgeShard.load(str(path / "shard"))
            self.indexes = {k: m.PayloadSchemaType(v) for k, v in json.loads((path / "indexes.json").read_text()).items()}
            return
        self.create = create
        vectors = create.vectors if isinstance(create.vectors, dict) else {"": create.vectors} if create.vectors else {}
        config = qe.EdgeConfig(
            vectors={name: qe.EdgeVectorParams(size=p.size, distance=_DISTANCES[p.distance]) for name, p in vectors.items()},
            sparse_vectors={name: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf if p.modifier == m.Modifier.IDF else None)
                            for name, p in (create.sparse_vectors or {}).items()},
        )
        (path / "shard").mkdir(parents=True)
        self.shard = qe.EdgeShard.create(str(path / "shard"), config)
        self.indexes: dict[str, m.PayloadSchemaType] = {}
        meta_path.write_text(create.model_dump_json(exclude_none=True))
        self._save_indexes()

    def _save_indexes(self) -> None:
        (self.path / "indexes.json").write_text(json.dumps({k: v.value for k, v in self.indexes.items()}))

    def add_index(self, request: m.CreateFieldIndex) -> None:
        schema = request.field_schema
        kind = schema if isinstance(schema, m.PayloadSchemaType) else m.PayloadSchemaType(getattr(schema, "type", schema))
        if kind not in _SCHEMAS:
            raise Problem(400, f"payload index type {kind} is not served by this test server")
        if request.field_name not in self.indexes:
            self.shard.update(qe.UpdateOperation.create_field_index(request.field_name, _SCHEMAS[kind]))
            self.indexes[request.field_name] = kind
            self._save_indexes()

    def info(self) -> m.CollectionInfo:
        count = self.shard.count(qe.CountRequest(exact=True))
        return m.CollectionInfo(
            status=m.CollectionStatus.GREEN, optimizer_status=m.OptimizersStatusOneOf.OK, segments_count=1,
            points_count=count, indexed_vectors_count=0,
            config=m.CollectionConfig(
                params=m.CollectionParams(vectors=self.create.vectors, sparse_vectors=self.create.sparse_vectors),
                hnsw_config=m.HnswConfig(m=16, ef_construct=100, full_scan_threshold=10000),
                optimizer_config=m.OptimizersConfig(default_segment_number=0, flush_interval_sec=5),
                metadata=self.create.metadata,
            ),
            payload_schema={k: m.PayloadIndexInfo(data_type=v, points=count) for k, v in self.indexes.items()},
        )

    def close(self) -> None:
        self.shard.close()


# -- REST models <-> engine objects ------------------------------------------------------------

def _vector(value: Any) -> Any:
    if isinstance(value, m.SparseVector):
        return qe.SparseVector(value.indices, value.values)
    if isinstance(value, list):
        return [float(v) for v in value]
    raise Problem(400, f"vector of type {type(value).__name__} is not served by this test server")


def _condition(condition: Any) -> Any:
    if isinstance(condition, m.FieldCondition):
        if isinstance(condition.match, m.MatchValue):
            return qe.FieldCondition(key=condition.key, match=qe.MatchValue(condition.match.value))
        if isinstance(condition.range, m.Range):
            r = condition.range
            return qe.FieldCondition(key=condition.key, range=qe.RangeFloat(gte=r.gte, gt=r.gt, lte=r.lte, lt=r.lt))
    if isinstance(condition, m.HasIdCondition):
        return qe.HasIdCondition({str(i) for i in condition.has_id})
    if isinstance(condition, m.Filter):
        return _filter(condition)
    raise Problem(400, f"condition {condition!r} is not served by this test server")


def _filter(value: m.Filter | None) -> qe.Filter | None:
    if value is None:
        return None

    def listed(part: Any) -> list | None:
        if part is None:
            return None
        return [_condition(c) for c in (part if isinstance(part, list) else [part])]

    return qe.Filter(must=listed(value.must), should=listed(value.should), must_not=listed(value.must_not))


def _with_vector(value: Any) -> Any:
    return value if isinstance(value, (bool, list)) else bool(value)


def _vector_json(vector: Any) -> Any:
    if isinstance(vector, dict):
        return {name: _vector_json(v) for name, v in vector.items()}
    if isinstance(vector, qe.SparseVector):
        return {"indices": list(vector.indices), "values": list(vector.values)}
    return vector


def _id(value: Any) -> Any:
    return value if value is None or isinstance(value, int) else str(value)


def _record(record: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": _id(record.id), "payload": record.payload}
    if record.vector:
        out["vector"] = _vector_json(record.vector)
    return out


def _scored(point: Any) -> dict[str, Any]:
    return _record(point) | {"score": point.score, "version": point.version or 0}


# -- the server --------------------------------------------------------------------------------

class QdrantRest:
    """`with QdrantRest(path) as server:` ... `server.url`; `stop()` and `start()` again keep the data."""

    def __init__(self, root: Path, api_key: str | None = None, port: int = 0,
                 tls: tuple[Path, Path] | None = None) -> None:
        self.root = root
        self.api_key = api_key
        self.tls = tls  # (certificate, private key): serve https
        self.port = port
        self.requests: list[tuple[str, str]] = []
        self._collections: dict[str, Collection] = {}
        self._lock = threading.RLock()
        self._http: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def start(self) -> QdrantRest:
        (self.root / "collections").mkdir(parents=True, exist_ok=True)
        for path in sorted((self.root / "collections").iterdir()):
            if path.name not in self._collections and (path / "rest.json").exists():
                self._collections[path.name] = Collection(path, None)
        handler = type("Handler", (_Handler,), {"app": self})
        self._http = _QuietServer(("127.0.0.1", self.port), handler)
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._http.socket = context.wrap_socket(self._http.socket, server_side=True)
        self._http.daemon_threads = True
        self.port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, name="qdrant-rest", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        with self._lock:
            for collection in self._collections.values():
                collection.close()
            self._collections.clear()

    def __enter__(self) -> QdrantRest:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- direct reads, for assertions ----------------------------------------------------------

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._collections)

    def points(self, name: str) -> dict[str, dict[str, Any]]:
        """Every point of a collection: id -> payload."""
        with self._lock:
            shard = self._collections[name].shard
            found, offset = {}, None
            while True:
                records, offset = shard.scroll(qe.ScrollRequest(offset=offset, limit=256, with_payload=True))
                found.update({str(r.id): r.payload for r in records})
                if offset is None:
                    return found

    # -- the protocol --------------------------------------------------------------------------

    def handle(self, method: str, path: str, body: bytes) -> Any:
        self.requests.append((method, path))
        parts = [p for p in path.split("?")[0].split("/") if p]
        if method == "GET" and not parts:
            return {"title": "qdrant - vector search engine", "version": VERSION}
        if parts[:1] != ["collections"]:
            raise Problem(404, f"no endpoint {method} {path}")
        with self._lock:
            if len(parts) == 1 and method == "GET":
                return m.CollectionsResponse(collections=[m.CollectionDescription(name=n) for n in sorted(self._collections)])
            name, rest = parts[1], parts[2:]
            if rest == ["exists"] and method == "GET":
                return m.CollectionExistence(exists=name in self._collections)
            if not rest and method == "PUT":
                return self._create(name, body)
            if not rest and method == "DELETE":
                collection = self._collections.pop(name, None)
                if collection is not None:
                    collection.close()
                    shutil.rmtree(collection.path)
                return collection is not None
            collection = self._collections.get(name)
            if collection is None:
                raise Problem(404, f"Not found: Collection `{name}` doesn't exist!")
            return self._collection(collection, method, rest, body)

    def _create(self, name: str, body: bytes) -> bool:
        if not re.fullmatch(r"[\w.-]{1,255}", name):
            raise Problem(422, f"invalid collection name {name!r}")
        if name in self._collections:
            raise Problem(409, f"Wrong input: Collection `{name}` already exists!")
        request = _parse(m.CreateCollection, body)
        self._collections[name] = Collection(self.root / "collections" / name, request)
        return True

    def _collection(self, collection: Collection, method: str, rest: list[str], body: bytes) -> Any:
        shard = collection.shard
        done = m.UpdateResult(operation_id=0, status=m.UpdateStatus.COMPLETED)
        route = (method, "/".join(rest))
        if route == ("GET", ""):
            return collection.info()
        if route == ("PUT", "index"):
            collection.add_index(_parse(m.CreateFieldIndex, body))
            return done
        if route == ("PUT", "points"):
            request = _parse(m.PointsList, body)
            points = [qe.Point(str(p.id), {name: _vector(v) for name, v in p.vector.items()}, p.payload or {})
                      for p in request.points]
            shard.update(qe.UpdateOperation.upsert_points(points))
            return done
        if route == ("POST", "points/delete"):
            request = _parse(m.PointIdsList, body)
            shard.update(qe.UpdateOperation.delete_points([str(i) for i in request.points]))
            return done
        if route == ("POST", "points/payload"):
            request = _parse(m.SetPayload, body)
            if request.points is None or request.key is not None:
                raise Problem(400, "only set payload by point ids is served by this test server")
            shard.update(qe.UpdateOperation.set_payload([str(i) for i in request.points], request.payload))
            return done
        if route == ("POST", "points"):
            request = _parse(m.PointRequest, body)
            records = shard.retrieve([str(i) for i in request.ids], with_payload=_with_payload(request.with_payload),
                                     with_vector=_with_vector(request.with_vector))
            return [_record(r) for r in records]
        if route == ("POST", "points/scroll"):
            request = _parse(m.ScrollRequest, body)
            records, offset = shard.scroll(qe.ScrollRequest(
                offset=str(request.offset) if request.offset is not None else None, limit=request.limit or 10,
                filter=_filter(request.filter), with_payload=request.with_payload is not False,
                with_vector=_with_vector(request.with_vector)))
            return {"points": [_record(r) for r in records], "next_page_offset": _id(offset)}
        if route == ("POST", "points/count"):
            request = _parse(m.CountRequest, body)
            return m.CountResult(count=shard.count(qe.CountRequest(exact=True, filter=_filter(request.filter))))
        if route == ("POST", "points/query/batch"):
            request = _parse(m.QueryRequestBatch, body)
            batch = qe.QueryBatchRequest([self._query(q) for q in request.searches])
            return [{"points": [_scored(p) for p in hits]} for hits in shard.query_batch(batch)]
        raise Problem(404, f"no endpoint {method} /collections/{{name}}/{route[1]}")

    @staticmethod
    def _query(request: m.QueryRequest) -> qe.QueryRequest:
        query = request.query
        if isinstance(query, m.NearestQuery):
            query = query.nearest
        if request.prefetch:
            raise Problem(400, "prefetch is not served by this test server")
        return qe.QueryRequest(
            limit=request.limit or 10, offset=request.offset, filter=_filter(request.filter),
            # No query: the filtered points in id order, as Qdrant answers it.
            query=qe.Query.Nearest(_vector(query), using=request.using) if query is not None else None,
            score_threshold=request.score_threshold, with_payload=_with_payload(request.with_payload),
            with_vector=_with_vector(request.with_vector or False))


def _with_payload(selector: Any) -> bool | list[str]:
    """True, False, or the list of fields to return (Qdrant's payload selectors)."""
    if isinstance(selector, list):
        return [str(f) for f in selector]
    if selector is not None and not isinstance(selector, bool):
        raise Problem(400, f"payload selector {selector!r} is not served by this test server")
    return selector is not False


def _parse(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate_json(body or b"{}")
    except ValidationError as exc:
        raise Problem(422, f"Format error in JSON body: {exc}") from None


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients cut off mid-request (by the fault proxy) are expected, not worth a traceback."""


class _Handler(BaseHTTPRequestHandler):
    app: QdrantRest
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self) -> None:
        started = time.perf_counter()
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        key = self.app.api_key
        try:
            if key is not None and self.headers.get("api-key") != key:
                if self.headers.get("api-key") is None:
                    raise Problem(401, "Must provide an API key or an Authorization bearer token")
                raise Problem(403, "Invalid API key or JWT")
            result = self.app.handle(self.command, self.path, body)
            if isinstance(result, BaseModel):
                result = result.model_dump(mode="json", exclude_none=True)
            status, payload = 200, {"result": result, "status": "ok"}
        except Problem as exc:
            status, payload = exc.status, {"status": {"error": str(exc)}}
        except Exception as exc:  # the engine's own errors (and this server's), as a server reports them
            if str(exc).startswith("No point with id"):
                status, payload = 404, {"status": {"error": f"Not found: {exc} found"}}
            elif str(exc).startswith("Vector dimension error"):
                status, payload = 400, {"status": {"error": f"Wrong input: {exc}"}}
            else:
                status, payload = 500, {"status": {"error": f"Service internal error: {exc}"}}
        payload["time"] = time.perf_counter() - started
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_PATCH = _serve
