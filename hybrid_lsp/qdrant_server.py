"""A collection on a Qdrant server or cluster, through qdrant-client: the team's shared copy.

`RemoteShard` answers the reads of `store.Shard` (retrieve, query_batch, find, scroll, count) with
the same engine objects the knowledge base passes in (qdrant_edge points, queries and filters,
translated to Qdrant's REST models), and returns records that carry what the knowledge base reads
(`id`, `score`, `payload`, `vector`). Writes take the JSON shape of Qdrant's REST points, because
they come from the durable outbox (outbox.py) rather than from the caller.

Failures are sorted into what the caller can do about them: `Unreachable` (try again later),
`Refused` (the API key or the collection must be fixed by the user), `Rejected` (this one write can
never succeed) and `Unsupported` (a request this translation does not cover: answer it locally).
"""

from __future__ import annotations

import json
import logging
import math
import re
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import qdrant_edge as qe
from pydantic import ValidationError
from qdrant_client import QdrantClient
from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
from qdrant_client.http import models as m
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from .embedding import DENSE, SPARSE
from .store import SCHEMA_VERSION, StoreError

log = logging.getLogger(__name__)
KEYWORD_INDEXES = ("key", "fingerprint", "wording")
FLOAT_INDEXES = ("ts",)
SERVED_VECTORS = (DENSE, SPARSE)
_LOOPBACK = re.compile(r"^https?://(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?(?:/|$)", re.IGNORECASE)


class TeamError(StoreError):
    """The Qdrant server cannot be used right now; the message says why and what to do."""


class Unreachable(TeamError):
    pass


class Refused(TeamError):
    """Needs the user: a wrong API key, or a collection built for another embedding model."""


class Rejected(TeamError):
    """The server refused one request for what it holds; sending it again cannot help."""


class Missing(TeamError):
    """The collection is gone from the server (deleted while in use): create it again."""


class NoPoint(Rejected):
    """A payload update for a point the server does not have."""


class Unsupported(ValueError):
    """A request this translation does not cover; the local copy answers it."""


def connect(url: str, api_key: str | None, timeout: float, verify_tls: bool = True) -> QdrantClient:
    """A REST client; TLS when the URL says https. No request is made until the first call."""
    if not url.lower().startswith(("http://", "https://")):
        raise Refused(f"qdrant.url must start with http:// or https://, got {url!r}")
    if api_key and url.lower().startswith("http://") and not _LOOPBACK.match(url):
        log.warning("the Qdrant API key is sent unencrypted to %s; use an https:// URL", url)
    with warnings.catch_warnings():  # the insecure-key warning is ours to give (above), once
        warnings.simplefilter("ignore", UserWarning)
        return QdrantClient(url=url, api_key=api_key or None, timeout=math.ceil(timeout),
                            check_compatibility=False, verify=verify_tls)


def failure(exc: Exception, url: str, what: str) -> TeamError:
    """What went wrong with a call to the server, as one of the error kinds above."""
    if isinstance(exc, TeamError):
        return exc
    if isinstance(exc, UnexpectedResponse):
        detail = _error_text(exc)
        status = exc.status_code or 0
        if status == 401:
            return Refused(f"the Qdrant server at {url} wants an API key (HTTP 401: {detail}). Set "
                           "HYBRID_LSP_QDRANT_API_KEY (or QDRANT_API_KEY) to a key of that server and restart.")
        if status == 403:
            return Refused(f"the Qdrant server at {url} refused the API key (HTTP 403: {detail}). Set "
                           "HYBRID_LSP_QDRANT_API_KEY (or QDRANT_API_KEY) to a key of that server and restart.")
        if status == 404 and re.search(r"collection\b.*\b(doesn't|does not) exist", detail, re.IGNORECASE):
            return Missing(f"{what}: {detail}")
        if status == 404 and re.search(r"\bno point\b", detail, re.IGNORECASE):
            return NoPoint(f"the Qdrant server at {url} has no such point for {what} ({detail})")
        if status == 429 or status >= 500:
            return Unreachable(f"the Qdrant server at {url} is not answering {what} (HTTP {status}: {detail})")
        return Rejected(f"the Qdrant server at {url} rejected {what} (HTTP {status}: {detail})")
    if isinstance(exc, ResourceExhaustedResponse):
        return Unreachable(f"the Qdrant server at {url} is overloaded ({exc})")
    source = exc.source if isinstance(exc, ResponseHandlingException) else exc
    if isinstance(source, ValidationError):
        return Unreachable(f"the service at {url} does not answer like a Qdrant server ({what}); check qdrant.url")
    if isinstance(source, (httpx.HTTPError, OSError)) and "CERTIFICATE_VERIFY_FAILED" in str(source):
        return Refused(f"the TLS certificate of the Qdrant server at {url} is not trusted ({source}). If the server "
                       "uses a private certificate authority, point SSL_CERT_FILE at its certificate; "
                       "qdrant.verify_tls = false turns the check off (only for a server you control).")
    if isinstance(source, (httpx.HTTPError, OSError)):
        reason = f"{type(source).__name__}: {source}".rstrip(": ")
        return Unreachable(f"the Qdrant server at {url} cannot be reached ({reason})")
    return Unreachable(f"the Qdrant server at {url} failed {what} ({type(exc).__name__}: {exc})")


def _error_text(exc: UnexpectedResponse) -> str:
    try:
        status = exc.structured().get("status")
        if isinstance(status, dict) and status.get("error"):
            return str(status["error"])
    except (ValueError, AttributeError):
        pass
    return (exc.content or b"").decode(errors="replace")[:200] or str(exc.reason_phrase)


# -- engine objects -> REST models ---------------------------------------------------------------

def vector_json(vector: Any) -> Any:
    """A dense list or a qdrant_edge / REST sparse vector, as Qdrant's REST JSON."""
    if hasattr(vector, "indices"):
        return {"indices": [int(i) for i in vector.indices], "values": [float(v) for v in vector.values]}
    return [float(v) for v in vector]


def point_json(point: Any, names: tuple[str, ...] = SERVED_VECTORS) -> dict[str, Any]:
    """A point (engine or REST) as REST JSON, with only the named vectors the server holds."""
    vectors = {name: vector_json(v) for name, v in (point.vector or {}).items() if name in names}
    return {"id": str(point.id), "vector": vectors, "payload": point.payload or {}}


def edge_point(record: Any) -> qe.Point:
    """A record read from the server, as a point for the local engine."""
    vectors = {name: qe.SparseVector(list(v.indices), list(v.values)) if hasattr(v, "indices") else list(v)
               for name, v in (record.vector or {}).items()}
    return qe.Point(str(record.id), vectors, record.payload or {})


def rest_filter(value: qe.Filter | None) -> m.Filter | None:
    if value is None:
        return None
    if value.min_should is not None:
        raise Unsupported("min_should filters")

    def listed(part: list | None) -> list | None:
        return None if part is None else [_condition(c) for c in part]

    return m.Filter(must=listed(value.must), should=listed(value.should), must_not=listed(value.must_not))


def _condition(condition: Any) -> Any:
    if isinstance(condition, qe.Filter):
        return rest_filter(condition)
    if isinstance(condition, qe.HasIdCondition):
        return m.HasIdCondition(has_id=[str(i) for i in condition.point_ids])
    if isinstance(condition, qe.FieldCondition):
        others = (condition.geo_bounding_box, condition.geo_radius, condition.geo_polygon,
                  condition.values_count, condition.is_empty, condition.is_null)
        if any(o is not None for o in others):
            raise Unsupported(f"condition on {condition.key!r}")
        if isinstance(condition.match, qe.MatchValue):
            return m.FieldCondition(key=condition.key, match=m.MatchValue(value=condition.match.value))
        if isinstance(condition.range, qe.RangeFloat):
            r = condition.range
            return m.FieldCondition(key=condition.key, range=m.Range(gte=r.gte, gt=r.gt, lte=r.lte, lt=r.lt))
    raise Unsupported(f"condition {condition!r}")


_NEAREST = re.compile(r'^Query\.Nearest\(query=(?P<vector>.*), using=(?:"(?P<using>[^"]*)"|None)\)$', re.DOTALL)
_SPARSE = re.compile(r"^SparseVector\(indices=(?P<indices>\[[^\]]*\]), values=(?P<values>\[[^\]]*\])\)$")


def nearest(query: Any) -> tuple[list[float] | m.SparseVector, str | None]:
    """The vector and vector name of a nearest-neighbour query.

    A query read back from a qdrant_edge QueryRequest is an opaque `Query` (its `query` and `using`
    are only on the `Query.Nearest` it was built from), so it is read from its text form, which
    holds the exact 32-bit values the engine searches with."""
    if isinstance(query, qe.Query.Nearest):
        vector, using = query.query, query.using
        if hasattr(vector, "indices"):
            return m.SparseVector(indices=list(vector.indices), values=list(vector.values)), using
        return [float(v) for v in vector], using
    found = _NEAREST.match(repr(query))
    if found is None:
        raise Unsupported(f"query {query!r}")
    text, using = found.group("vector"), found.group("using")
    try:
        if sparse := _SPARSE.match(text):
            return m.SparseVector(indices=json.loads(sparse["indices"]), values=json.loads(sparse["values"])), using
        return [float(v) for v in json.loads(text)], using
    except (ValueError, TypeError):
        raise Unsupported(f"query {query!r}") from None


def rest_query(request: qe.QueryRequest) -> m.QueryRequest:
    if request.prefetches or request.params is not None:
        raise Unsupported(f"query {request!r}")
    # No query: the points the filter selects, in id order (exact lookups by rule or fingerprint).
    target, using = nearest(request.query) if request.query is not None else (None, None)
    with_payload, with_vector = request.with_payload, request.with_vector
    if not isinstance(with_payload, (bool, list, type(None))) or not isinstance(with_vector, (bool, list, type(None))):
        raise Unsupported("payload or vector selectors")
    return m.QueryRequest(query=target, using=using, limit=request.limit, offset=request.offset or None,
                          filter=rest_filter(request.filter), score_threshold=request.score_threshold,
                          with_payload=with_payload if isinstance(with_payload, list) else bool(with_payload),
                          with_vector=with_vector or False)


# -- the collection ------------------------------------------------------------------------------

class RemoteShard:
    """One collection on the server, named `prefix + name`, with the embedded store's schema."""

    def __init__(self, client: QdrantClient, url: str, name: str, dimensions: int, model_id: str) -> None:
        self.client = client
        self.url = url
        self.collection = name
        self.dimensions = dimensions
        self.model_id = model_id

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise failure(exc, self.url, f"{what} on {self.collection}") from None

    # -- schema ------------------------------------------------------------------------------------

    def ensure(self) -> bool:
        """Create the collection if it is missing (True); refuse one built for other vectors."""
        try:
            return self._ensure()
        except Rejected as exc:  # not a Qdrant server, or one that will not hold these collections
            raise Refused(f"{exc}. Check that qdrant.url points to a Qdrant server (its REST port, "
                          "6333 by default) and that the key may create collections.") from None

    def _ensure(self) -> bool:
        created = False
        if not self._call("checking the collection", self.client.collection_exists, self.collection):
            created = True
            try:
                self._call("creating the collection", self.client.create_collection, self.collection,
                           vectors_config={DENSE: m.VectorParams(size=self.dimensions, distance=m.Distance.COSINE)},
                           sparse_vectors_config={SPARSE: m.SparseVectorParams(modifier=m.Modifier.IDF)},
                           metadata={"embedding": self.model_id, "schema": SCHEMA_VERSION})
            except Rejected as exc:  # another machine created it at the same moment
                if "already exists" not in str(exc):
                    raise
        info = self._call("reading the collection", self.client.get_collection, self.collection)
        self._check(info)
        wanted = {**{k: m.PayloadSchemaType.KEYWORD for k in KEYWORD_INDEXES},
                  **{k: m.PayloadSchemaType.FLOAT for k in FLOAT_INDEXES}}
        for field, kind in wanted.items():
            if field not in (info.payload_schema or {}):
                self._call("creating a payload index", self.client.create_payload_index, self.collection, field, kind)
        return created

    def _check(self, info: m.CollectionInfo) -> None:
        params = info.config.params
        dense = params.vectors.get(DENSE) if isinstance(params.vectors, dict) else None
        sparse = (params.sparse_vectors or {}).get(SPARSE)
        metadata = info.config.metadata or {}
        problem = ""
        if dense is None or sparse is None:
            problem = f"it has no {DENSE!r} dense and {SPARSE!r} sparse vectors"
        elif dense.size != self.dimensions or dense.distance != m.Distance.COSINE:
            problem = f"its {DENSE!r} vectors are {dense.size}-dimensional {dense.distance.value}"
        elif sparse.modifier != m.Modifier.IDF:
            problem = f"its {SPARSE!r} vectors have no IDF modifier"
        elif metadata.get("embedding") not in (None, self.model_id):
            problem = f"it was built with the embedding model {metadata['embedding']!r}"
        if problem:
            raise Refused(
                f"the Qdrant collection {self.collection!r} at {self.url} does not fit this hybrid-lsp: {problem}, and "
                f"this version needs {self.dimensions}-dimensional Cosine vectors from {self.model_id!r}. Set another "
                "qdrant.collection_prefix in the config file (a new set of collections), or delete the old ones on the server.")

    # -- writes, in REST JSON (from the outbox) ----------------------------------------------------

    def upsert_json(self, points: list[dict[str, Any]]) -> None:
        structs = [m.PointStruct(id=p["id"], vector=p["vector"], payload=p["payload"]) for p in points]
        self._call("an upsert", self.client.upsert, self.collection, structs, wait=True)

    def set_payload(self, point_id: str, payload: dict[str, Any]) -> None:
        self._call("a payload update", self.client.set_payload, self.collection, payload, [point_id], wait=True)

    def delete(self, point_ids: list[str]) -> None:
        self._call("a delete", self.client.delete, self.collection, m.PointIdsList(points=point_ids), wait=True)

    def flush(self) -> None:
        """Writes wait for the server's acknowledgement: nothing is left to flush."""

    # -- reads, as store.Shard answers them --------------------------------------------------------

    def retrieve(self, point_ids: list[str], with_vector: bool = False, fields: list[str] | None = None) -> list[m.Record]:
        return self._call("a retrieve", self.client.retrieve, self.collection, point_ids,
                          with_payload=fields if fields is not None else True,
                          with_vectors=[DENSE] if with_vector else False)

    def retrieve_points(self, point_ids: list[str]) -> list[m.Record]:
        """With every vector the server holds (to copy points into the local store)."""
        return self._call("a retrieve", self.client.retrieve, self.collection, point_ids, with_payload=True,
                          with_vectors=True)

    def query_batch(self, requests: list[qe.QueryRequest]) -> list[list[m.ScoredPoint]]:
        translated = [rest_query(r) for r in requests]
        responses = self._call("a search", self.client.query_batch_points, self.collection, translated)
        return [response.points for response in responses]

    def find(self, field: str, value: str, limit: int = 5) -> list[m.Record]:
        condition = m.Filter(must=[m.FieldCondition(key=field, match=m.MatchValue(value=value))])
        records, _ = self._call("a lookup", self.client.scroll, self.collection, scroll_filter=condition, limit=limit,
                                with_payload=True)
        return records

    def scroll(self, filter: qe.Filter | None = None, batch: int = 512, with_payload: bool = True) -> Iterator[m.Record]:
        condition = rest_filter(filter)
        offset = None
        while True:
            records, offset = self._call("a scroll", self.client.scroll, self.collection, scroll_filter=condition,
                                         limit=batch, offset=offset, with_payload=with_payload)
            yield from records
            if offset is None:
                return

    def count(self) -> int:
        return self._call("a count", self.client.count, self.collection, exact=True).count

    def add_dense_vector(self, name: str, size: int, replace: bool) -> None:
        raise Unsupported(f"extra vector {name!r}: Qdrant collections cannot gain named vectors; it stays local")

    def close(self) -> None:
        """The client is shared by every collection and closed by its owner."""
