"""The knowledge base: known solutions, their JSONL import/export contract, and how they are found.

Lookup order: the exact fingerprint (this very message), the exact tool+rule key (e.g. "ruff:F401"),
then hybrid search (BM25 sparse + dense) over the configured collections, which for a message without
its tool and code also reads the entries worded like it. Every candidate gets a calibrated relevance
(relevance.py) so that routing thresholds mean the same thing whatever the search path; the raw
message's fit to the entries' own formats orders the ones no score tells apart.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

from .config import COLLECTIONS
from .embedding import DENSE, OLLAMA, SPARSE, Embedder, OllamaEmbedder
from .normalise import (DERIVED_FIELDS, alias_keys, canonical_code, canonical_source, fingerprint, message_keys,
                        normalise, wording)
from .relevance import (Calibration, Features, combined, language_agreement, lexical_overlap, literal_fit,
                        outcome_adjusted, template_match, template_words, tokens)
from .journal import EntryJournal
from .query import ErrorQuery
from .store import Shard

_NAMESPACE = uuid.UUID("5b0e7d34-8c0e-4d0c-9f8e-0f5c2b6a7e11")
_FIELDS = ("id", "error", "solution", "title", "fix", "language", "source", "code", "tags", "collection", "edit",
           "variants")
MAX_VARIANTS = 32
MAX_LINE_CHARS = 100_000
MAX_FIELD_CHARS = 20_000
# An entry written for one message of a rule code fits a diagnostic when this share of their words
# agree (lexical overlap) and no other entry of the code comes this close (lead).
VARIANT_FIT = 0.8
VARIANT_LEAD = 0.1


class ImportFailed(ValueError):
    """A JSONL file with malformed lines; nothing from it was imported."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:20]
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(
            f"{path}: {len(problems)} malformed line(s); nothing was imported. Fix them and import again:\n  "
            + "\n  ".join(shown) + more
        )


@dataclass(frozen=True, slots=True)
class StoredEdit:
    """A machine-applicable fix: a regex rewritten over the diagnostic's lines (see edits.from_pattern)."""

    pattern: str
    replacement: str


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    error: str
    solution: str
    title: str = ""
    fix: str = ""
    language: str = ""
    source: str = ""
    code: str = ""
    tags: tuple[str, ...] = ()
    collection: str = "error-solutions"
    edit: StoredEdit | None = None
    # Other wordings of the same error (a rule's other message formats): each finds the entry, by
    # fingerprint and by search, as `error` does.
    variants: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.source}:{self.code}" if self.source and self.code else ""

    def to_json(self) -> dict[str, Any]:
        """The contract's shape; optional fields only when set."""
        data: dict[str, Any] = {"id": self.id, "error": self.error, "solution": self.solution}
        for name in ("title", "fix", "language", "source", "code"):
            if value := getattr(self, name):
                data[name] = value
        if self.tags:
            data["tags"] = list(self.tags)
        if self.collection != "error-solutions":
            data["collection"] = self.collection
        if self.edit is not None:
            data["edit"] = {"pattern": self.edit.pattern, "replacement": self.edit.replacement}
        if self.variants:
            data["variants"] = list(self.variants)
        return data

    @property
    def wordings(self) -> tuple[str, ...]:
        return (self.error, *self.variants)

    def payload(self) -> dict[str, Any]:
        """What a point stores: the entry as one JSON string, and beside it only the fields that
        are filtered on or read to rank candidates. The engine converts and decodes a payload
        field by field (a few microseconds each), so the entry's own fields stay inside the string."""
        return {
            "entry": json.dumps(self.to_json(), ensure_ascii=False, separators=(",", ":")),
            "entry_id": self.id,
            "key": self.key,
            **self.derived(),
            "language": self.language,
        }

    def derived(self) -> dict[str, str | list[str]]:
        """What this version of normalise.py derives from the entry's wordings: the normalised
        message, the fingerprint (tool, code and message) and the wording (normalise.wording: what
        a message without its tool and code is looked up by). With variants each is a list, the
        error's first: a keyword index matches any element."""
        texts = list(dict.fromkeys(normalise(text).text for text in self.wordings))
        derived = dict(zip(DERIVED_FIELDS, (
            texts,
            list(dict.fromkeys(fingerprint(self.source, self.code, text) for text in texts)),
            list(dict.fromkeys(wording(text) for text in texts)),
        ), strict=True))
        return {name: values[0] if len(values) == 1 else values for name, values in derived.items()}


# A placeholder in a wording: the entry's error (or a variant) is a tool's message format.
_FORMAT = re.compile(r"\{\w*\}")


def _search_key(message_text: str, key: str, fingerprint_: str, language: str, collections: Iterable[str],
                limit: int, message: str) -> tuple:
    """The answer cache's key of a search: one place, so `cached_lookup` finds what `search` stored."""
    return ("search", message_text, key, fingerprint_, language, tuple(collections), limit, message)


def _learned_key(fingerprint_: str, limit: int) -> tuple:
    return ("learned", fingerprint_, limit)


def embedded_texts(entry: Entry, payload: dict[str, Any]) -> tuple[str, str]:
    """What is embedded for an entry: its normalised message and title (the dense vector), and the
    same with every variant's words (the BM25 vector)."""
    normalised = payload["normalised"]
    text = _first(normalised) + " " + entry.title
    return text, (text if isinstance(normalised, str) else text + " " + " ".join(normalised[1:]))


def _first(value: str | list[str]) -> str:
    return value if isinstance(value, str) else value[0]


def point_id(entry_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, entry_id))


def stored_entry(payload: dict[str, Any]) -> Entry:
    """The entry a point holds: a JSON string, or an object in stores written by earlier versions."""
    value = payload["entry"]
    return parse_entry(json.loads(value) if isinstance(value, str) else value)


def parse_entry(value: Any) -> Entry:
    """One contract object to an Entry; raises ValueError naming the field that is wrong."""
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    unknown = sorted(set(value) - set(_FIELDS))
    if unknown:
        raise ValueError(f"unknown field(s) {unknown}; allowed: {list(_FIELDS)}")
    text: dict[str, str] = {}
    for name in ("id", "error", "solution", "title", "fix", "language", "source", "code", "collection"):
        raw = value.get(name)
        if raw is None:
            continue
        if name == "code" and isinstance(raw, int) and not isinstance(raw, bool):
            raw = str(raw)
        if not isinstance(raw, str):
            raise ValueError(f'"{name}" must be a string, got {type(raw).__name__}')
        if len(raw) > MAX_FIELD_CHARS:
            raise ValueError(f'"{name}" is {len(raw)} characters; the limit is {MAX_FIELD_CHARS}')
        if "\x00" in raw:
            raise ValueError(f'"{name}" contains a NUL character')
        text[name] = raw
    for name in ("id", "error", "solution"):
        if not text.get(name, "").strip():
            raise ValueError(f'"{name}" is required and must not be empty')
    tags = value.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError('"tags" must be a list of strings')
    collection = text.get("collection", "error-solutions")
    if collection not in COLLECTIONS:
        raise ValueError(f'"collection" must be one of {list(COLLECTIONS)}, got {collection!r}')
    edit = None
    if (raw_edit := value.get("edit")) is not None:
        if not (isinstance(raw_edit, dict) and isinstance(raw_edit.get("pattern"), str)
                and isinstance(raw_edit.get("replacement"), str) and set(raw_edit) <= {"pattern", "replacement"}):
            raise ValueError('"edit" must be {"pattern": "<regex>", "replacement": "<text>"}')
        try:
            re.compile(re.sub(r"\{id\d\}", "x", raw_edit["pattern"]))
        except re.error as exc:
            raise ValueError(f'"edit.pattern" is not a valid regular expression: {exc}') from None
        edit = StoredEdit(raw_edit["pattern"], raw_edit["replacement"])
    variants = value.get("variants") or []
    if not isinstance(variants, list) or not all(isinstance(v, str) and v.strip() for v in variants):
        raise ValueError('"variants" must be a list of non-empty strings (other wordings of "error")')
    if len(variants) > MAX_VARIANTS or any(len(v) > MAX_FIELD_CHARS or "\x00" in v for v in variants):
        raise ValueError(f'"variants" holds at most {MAX_VARIANTS} wordings of at most {MAX_FIELD_CHARS} '
                         "characters each, without NUL characters")
    return Entry(
        id=text["id"].strip(),
        error=text["error"].strip(),
        solution=text["solution"].strip(),
        title=text.get("title", "").strip(),
        fix=text.get("fix", ""),
        language=text.get("language", "").strip().lower(),
        source=canonical_source(text.get("source")),
        code=canonical_code(text.get("code")),
        tags=tuple(tags),
        collection=collection,
        edit=edit,
        variants=tuple(dict.fromkeys(v.strip() for v in variants if v.strip() != text["error"].strip())),
    )


def read_jsonl(lines: Iterable[str], name: str) -> list[Entry]:
    """Parse a whole file first: one bad line rejects the file, with every problem and its line number."""
    entries: list[Entry] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            problems.append(f"line {number}: {len(line)} characters; the limit is {MAX_LINE_CHARS}")
            continue
        try:
            entry = parse_entry(json.loads(line))
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
            continue
        if entry.id in seen:
            problems.append(f"line {number}: id {entry.id!r} already used on line {seen[entry.id]}")
            continue
        seen[entry.id] = number
        entries.append(entry)
    if problems:
        raise ImportFailed(name, problems)
    return entries


def read_jsonl_file(path: Path) -> list[Entry]:
    try:
        with path.open(encoding="utf-8-sig") as fh:
            return read_jsonl(fh, str(path))
    except UnicodeDecodeError as exc:
        raise ImportFailed(str(path), [f"byte {exc.start}: not UTF-8 text"]) from None
    except OSError as exc:
        raise ImportFailed(str(path), [f"cannot read the file: {exc.strerror}"]) from None


@dataclass(slots=True)
class Match:
    entry: Entry
    collection: str
    relevance: float
    features: Features
    via: str  # "key", "fingerprint" or "search"
    scores: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # outcomes of the times it was served

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.entry.id,
            "score": round(self.relevance, 4),
            "collection": self.collection,
            "title": self.entry.title,
            "source": self.entry.source,
            "code": self.entry.code,
            # Outcomes lowered the calibrated relevance (see relevance.outcome_adjusted).
            **({"calibrated": self.scores["calibrated"], "outcomes": self.counts} if "calibrated" in self.scores else {}),
        }


# What ranking reads of a stored entry; the whole entry is read only for the matches returned.
_BRIEF = ["entry_id", "key", "language", "normalised"]
# Entries read per exact lookup (a rule code, a fingerprint): all of them in a knowledge base with a
# few per rule, the ones closest to the message when a rule has many.
EXACT_LIMIT = 16
# Entries read that are worded like a message without its tool and code (see _search).
WORDING_LIMIT = 48


@dataclass(frozen=True, slots=True)
class _Hit:
    pid: uuid.UUID
    entry_id: str
    key: str
    language: str
    normalised: str
    wordings: tuple[str, ...]  # normalised, then its variants' normalised texts

    @staticmethod
    def of(pid: uuid.UUID, payload: dict[str, Any] | None) -> _Hit:
        p = payload or {}
        value = p.get("normalised", "")
        wordings = tuple(value) if isinstance(value, list) and value else (str(value),)
        return _Hit(pid, p.get("entry_id", ""), p.get("key", ""), p.get("language", ""), wordings[0], wordings)

    def fit(self, message_text: str, query_tokens: frozenset[str]) -> tuple[float, float]:
        """Lexical overlap and template match with the wording the diagnostic is closest to."""
        if len(self.wordings) == 1:
            return lexical_overlap(query_tokens, tokens(self.normalised)), template_match(message_text, self.normalised)
        return (max(lexical_overlap(query_tokens, tokens(w)) for w in self.wordings),
                max(template_match(message_text, w) for w in self.wordings))


@dataclass(slots=True)
class _Ranked:
    """A candidate being ranked: a Match before its entry is read."""

    hit: _Hit
    collection: str
    relevance: float
    features: Features
    via: str
    scores: dict[str, float] = field(default_factory=dict)


class KnowledgeBase:
    """Entries in their collections, over the embedded store's shards."""

    def __init__(self, shards: dict[str, Shard], embedder: Embedder, calibration: Calibration,
                 exact_key_relevance: float = 0.97, extra: OllamaEmbedder | None = None,
                 journal: EntryJournal | None = None) -> None:
        self._shards = {name: shards[name] for name in COLLECTIONS if name in shards}
        self._embedder = embedder
        # Optional Ollama vectors widen the candidates; relevance still comes from the shipped
        # model's features, so the calibration stays valid.
        self.extra = extra
        # Editors ask about the same diagnostics on every cursor move: answers are cached until
        # the next write, and frequent queries can be warmed ahead (prefetch).
        self._cache: OrderedDict[tuple, list[Match]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._generation = 0  # bumped by every write: an answer computed across one is not cached
        self._calibration = calibration
        # Exact lookups (rule code, fingerprint) known to select more than EXACT_LIMIT entries.
        self._crowded: set[tuple[str, str]] = set()
        self.exact_key_relevance = exact_key_relevance
        self.journal = journal

    def _changed(self) -> None:
        with self._cache_lock:
            self._cache.clear()
            self._generation += 1

    # -- writing -----------------------------------------------------------------------------

    def add(self, entries: list[Entry], batch: int = 1024, *, journal: bool = True) -> int:
        """Insert or replace entries by id; an id moved to another collection leaves the old one.

        The entries are journaled (and synced) first, so a crash in the middle leaves them to be
        applied at the next start rather than half-imported.
        """
        if journal and self.journal is not None and entries:
            self.journal.put([entry.to_json() for entry in entries])
        for start in range(0, len(entries), batch):
            chunk = entries[start : start + batch]
            self._write(chunk, *self._prepare(chunk))
        for shard in self._shards.values():
            shard.flush()
        if journal and self.journal is not None:
            self.journal.mark_applied()
        self._changed()
        return len(entries)

    def _prepare(self, chunk: list[Entry]) -> tuple:
        """Point ids, payloads and vectors of a chunk of entries: the work that needs no shard."""
        ids = [point_id(e.id) for e in chunk]
        payloads = [e.payload() for e in chunk]
        texts, words = zip(*(embedded_texts(e, payload) for e, payload in zip(chunk, payloads, strict=True))) \
            if chunk else ((), ())
        dense = self._embedder.dense(texts).tolist()
        extra = self.extra.embed(texts) if self.extra is not None else None
        return ids, payloads, words, dense, extra

    def _write(self, chunk: list[Entry], ids: list[str], payloads: list[dict], texts: list[str],
               dense: list[list[float]], extra: np.ndarray | None) -> None:
        """Upsert a prepared chunk, each point into its entry's collection (and out of any other)."""
        # Replacing an entry keeps what users did with it.
        learned: dict[str, dict] = {}
        for shard in self._shards.values():
            for record in shard.retrieve(ids):
                if record.payload.get("outcomes"):
                    learned[str(record.id)] = {k: record.payload[k] for k in ("outcomes", "counts") if k in record.payload}
        by_collection: dict[str, list[qe.Point]] = {}
        for index, (entry, pid, payload) in enumerate(zip(chunk, ids, payloads, strict=True)):
            vectors = {DENSE: dense[index], SPARSE: self._embedder.sparse_document(texts[index])}
            if extra is not None:
                vectors[OLLAMA] = extra[index].tolist()
            point = qe.Point(pid, vectors, payload | learned[pid] if pid in learned else payload)
            by_collection.setdefault(entry.collection, []).append(point)
        for name, shard in self._shards.items():
            moved = [pid for pid, e in zip(ids, chunk, strict=True) if e.collection != name]
            if moved:
                shard.delete(moved)
            shard.upsert(by_collection.get(name, []))

    def renormalise(self) -> int:
        """Store again the entries whose normalised text or fingerprint another version of
        normalise.py made (after an upgrade): lookups by fingerprint and the lexical features
        would otherwise miss them. What users did with them is kept, as by any replacement."""
        stale = []
        for shard in self._shards.values():
            for record in shard.scroll():
                payload = record.payload or {}
                try:
                    entry = stored_entry(payload)
                except (KeyError, ValueError, TypeError):
                    continue  # `kb rebuild` reports unreadable points
                if any(payload.get(name) != value for name, value in entry.derived().items()):
                    stale.append(entry)
        if stale:
            self.add(stale)
        return len(stale)

    def replay_journal(self) -> int:
        """Apply what was journaled but not yet stored when the last process stopped."""
        if self.journal is None:
            return 0
        pending = self.journal.pending()
        puts: list[Entry] = []
        for record in pending:
            if record.get("op") == "put":
                try:
                    puts.append(parse_entry(record["entry"]))
                except (KeyError, ValueError):
                    continue
            elif record.get("op") == "remove" and isinstance(record.get("id"), str):
                self.add(puts, journal=False)
                puts = []
                self.remove(record["id"], journal=False)
        self.add(puts, journal=False)
        if pending:
            self.journal.mark_applied()
        return len(pending)

    def remove(self, entry_id: str, *, journal: bool = True) -> bool:
        if journal and self.journal is not None:
            self.journal.remove(entry_id)
        found = False
        for shard in self._shards.values():
            if shard.retrieve([point_id(entry_id)]):
                shard.delete([point_id(entry_id)])
                shard.flush()
                found = True
        if journal and self.journal is not None:
            self.journal.mark_applied()
        self._changed()
        return found

    # -- reading -----------------------------------------------------------------------------

    def get(self, entry_id: str) -> tuple[Entry, str] | None:
        for name, shard in self._shards.items():
            records = shard.retrieve([point_id(entry_id)])
            if records:
                return stored_entry(records[0].payload), name
        return None

    def export(self) -> list[Entry]:
        return [stored_entry(record.payload) for shard in self._shards.values() for record in shard.scroll()]

    def record_outcome(self, entry_id: str, interaction_id: str, outcome: str) -> dict[str, int]:
        """Idempotent per interaction: the entry keeps a map interaction id -> latest outcome."""
        pid = point_id(entry_id)
        for shard in self._shards.values():
            records = shard.retrieve([pid])
            if not records:
                continue
            outcomes = dict(records[0].payload.get("outcomes") or {})
            outcomes[interaction_id] = outcome
            counts: dict[str, int] = {}
            for value in outcomes.values():
                counts[value] = counts.get(value, 0) + 1
            shard.set_payload(pid, {"outcomes": outcomes, "counts": counts})
            shard.flush()
            self._changed()
            return counts
        return {}

    def counts(self) -> dict[str, int]:
        return {name: shard.count() for name, shard in self._shards.items()}

    def lookup(self, query: ErrorQuery, collections: Iterable[str] = COLLECTIONS, limit: int = 5) -> list[Match]:
        """search() for a diagnostic, as the pipeline asks: its normalised message, tool+rule key,
        fingerprint, language and own words."""
        return self.search(query.search_text(), key=query.key, fingerprint_=query.fingerprint, language=query.language,
                           collections=collections, limit=limit, message=query.message)

    def search(
        self,
        message_text: str,
        *,
        key: str = "",
        fingerprint_: str = "",
        language: str = "",
        collections: Iterable[str] = COLLECTIONS,
        limit: int = 5,
        message: str = "",
    ) -> list[Match]:
        """Best matches first, each with a calibrated relevance; `message_text` is normalised and
        `message`, when given, the diagnostic's own words: they tell apart entries whose messages
        normalise alike (see _follow_wording)."""
        key_ = _search_key(message_text, key, fingerprint_, language, collections, limit, message)
        cached = self._cached(key_)
        if cached is not None:
            return cached
        generation = self._generation
        if not self._embedder.ready:
            # Just after start the model is still loading: an exact tool+code or fingerprint hit
            # answers without it (and is not cached, so the full search runs once it is ready).
            wanted = [c for c in collections if c in self._shards]
            exact = self._exact(message_text, key, fingerprint_, language, wanted[0],
                                _QueryVector(self._embedder, message_text))[0] if wanted else {}
            if exact:
                return self._best(exact, limit)
        results = self._search(message_text, key=key, fingerprint_=fingerprint_, language=language,
                               collections=tuple(collections), limit=limit, message=message)
        self._cache_put(key_, results, generation)
        return list(results)

    def cached_lookup(self, query: ErrorQuery, collections: Iterable[str] = COLLECTIONS,
                      limit: int = 5) -> list[Match] | None:
        """What `lookup` would answer from its cache, without touching a store; None if not cached."""
        return self._cached(_search_key(query.search_text(), query.key, query.fingerprint, query.language,
                                        collections, limit, query.message))

    def _cached(self, key_: tuple) -> list[Match] | None:
        with self._cache_lock:
            found = self._cache.get(key_)
            if found is None:
                return None
            self._cache.move_to_end(key_)
            return list(found)

    def _cache_put(self, key_: tuple, results: list[Match], generation: int) -> None:
        with self._cache_lock:
            if generation != self._generation:
                return  # the store changed while this was computed: it may be stale already
            self._cache[key_] = results
            while len(self._cache) > 2048:
                self._cache.popitem(last=False)

    def _search(self, message_text: str, *, key: str, fingerprint_: str, language: str,
                collections: tuple[str, ...], limit: int, message: str = "") -> list[Match]:
        wanted = [c for c in collections if c in self._shards]
        if not wanted:
            return []
        vector = _QueryVector(self._embedder, message_text)
        first = wanted[0]
        found, complete = self._exact(message_text, key, fingerprint_, language, first, vector, message_first=True)
        if any(m.relevance >= self.exact_key_relevance for m in found.values()):
            # The diagnostic's own rule (or this very message) has an entry that fits it, and no
            # search hit may outrank such an entry (see below): the search would change nothing
            # the answer uses, unless outcomes have lowered that entry.
            exact = self._best(found, limit)
            if exact and exact[0].relevance >= self.exact_key_relevance:
                return exact
        if not complete:
            found, _ = self._exact(message_text, key, fingerprint_, language, first, vector)
        query_vector = vector.array()
        dense = query_vector.tolist()
        sparse = self._embedder.sparse_query(message_text)
        extra = self.extra.embed([message_text]) if self.extra is not None else None
        query_tokens = tokens(message_text)
        worded = wording(message_text)
        candidates: list[_Ranked] = []
        for name in wanted:
            shard = self._shards[name]
            # One batch per collection answering ids and scores only. Reading payloads is what costs,
            # so the fields ranking needs are read once per distinct point, with the dense vectors
            # that give every candidate its dense score; whole entries are read for the returned
            # matches alone.
            requests = [
                qe.QueryRequest(limit=10, query=qe.Query.Nearest(dense, using=DENSE)),
                qe.QueryRequest(limit=10, query=qe.Query.Nearest(sparse, using=SPARSE)),
            ]
            if extra is not None:
                requests.append(qe.QueryRequest(limit=10, query=qe.Query.Nearest(extra[0].tolist(), using=OLLAMA)))
            if not key:
                # A message without its tool and code: the entries worded like it once normalised are
                # all candidates (a score cannot tell them apart, so the nearest 10 may miss the one
                # the message's own words fit; see _follow_wording).
                requests.append(qe.QueryRequest(limit=WORDING_LIMIT, query=None, filter=_equals("wording", worded),
                                                with_payload=False))
            answers = [[(_pid(h.id), h.score) for h in answer] for answer in shard.query_batch(requests)]
            briefs = _briefs(shard, {pid for answer in answers for pid, _ in answer}, query_vector)
            dense_hits, sparse_hits = answers[0], answers[1]
            extra_hits = [hit for answer in answers[2:] for hit in answer]
            sparse_score = dict(sparse_hits)
            for pid, _ in extra_hits:
                sparse_score.setdefault(pid, 0.0)
            for pid in dict.fromkeys(pid for pid, _ in [*dense_hits, *sparse_hits, *extra_hits]):
                if pid not in briefs:  # removed since the search
                    continue
                hit, dense_score = briefs[pid]
                if hit.entry_id in found:
                    continue
                lexical, template = hit.fit(message_text, query_tokens)
                features = Features(
                    dense=max(0.0, dense_score),
                    lexical=lexical,
                    language=language_agreement(language, hit.language),
                    template=template,
                )
                candidates.append(_Ranked(hit, name, 0.0, features, "search",
                                          {"dense": dense_score, "bm25": sparse_score.get(pid, 0.0)}))
        candidates.sort(key=lambda m: combined(m.features), reverse=True)
        fits = self._follow_wording(message, candidates) if message else {}
        for index, match in enumerate(candidates):
            second = candidates[index + 1] if index + 1 < len(candidates) else None
            margin = max(0.0, combined(match.features) - (combined(second.features) if second else 0.0)) if index == 0 else 0.0
            # A runner-up the diagnostic fits as well (both templates match, or both entries read the
            # same once normalised) and its own words no worse: nothing in the message tells them apart.
            tie = float(index == 0 and second is not None and (
                match.features.template == second.features.template == 1.0
                or match.hit.normalised == second.hit.normalised)
                and fits.get(match.hit.pid, -1) == fits.get(second.hit.pid, -1))
            if margin or tie:  # both are 0 (as built) below the first
                match.features = replace(match.features, margin=margin, tie=tie)
            match.relevance = self._calibration.probability(match.features)
        if fits and max(fits.values()) >= 0:
            # One the message's own words follow more closely stays above: scores cannot tell them apart.
            members = [c for c in candidates if c.hit.pid in fits]  # closest fit first
            for index, worse in enumerate(members):
                above = [b.relevance for b in members[:index] if fits[b.hit.pid] > fits[worse.hit.pid]]
                if above:
                    worse.relevance = min(worse.relevance, min(above) - 0.01)
            best = members[0]
            if len(members) == 1 or fits[members[1].hit.pid] < fits[best.hit.pid]:
                # The one format the message follows most closely, word for word: an entry worded
                # as an example (not read for its format) that merely scores higher stays below it.
                rivals = [c.relevance for c in candidates if c.hit.pid not in fits]
                if rivals and max(rivals) >= best.relevance:
                    best.relevance = min(0.99, max(rivals) + 0.01)
        if any(m.relevance >= self.exact_key_relevance for m in found.values()):
            # The diagnostic's own rule (or this very message) has an entry that fits it: another
            # rule's entry cannot outrank it.
            for match in candidates:
                match.relevance = min(match.relevance, self.exact_key_relevance - 0.01)
        results = list(found.values()) + [m for m in candidates if m.hit.entry_id not in found]
        results.sort(key=lambda m: m.relevance, reverse=True)
        return self._matches(results[:limit])

    def _follow_wording(self, message: str, candidates: list[_Ranked]) -> dict[uuid.UUID, int]:
        """How closely the raw message follows each candidate's own formats (relevance.literal_fit),
        when several candidates read like it once normalised; those candidates reordered, the
        closest fit first. _search keeps a closer fit's relevance above a looser one's.

        Normalisation hides quoted code, and with it what sets apart "Use `a != b` instead of
        `not a == b`" from "Use `a == b` instead of `not a != b`": several rules' formats read the
        same. Their stored formats (wordings with the tools' placeholders) still differ. Entries are
        read only when such a group exists. An entry worded as an example message (no placeholder)
        is left where its scores put it, unless the message has its very words: its names are the
        example's, not the rule's.
        """
        if sum(c.features.template == 1.0 for c in candidates) < 2 and len({c.hit.normalised for c in candidates}) == len(candidates):
            return {}
        by_collection: dict[str, list[str]] = {}
        for item in candidates:
            by_collection.setdefault(item.collection, []).append(str(item.hit.pid))
        wordings: dict[uuid.UUID, tuple[str, ...]] = {}
        for name, pids in by_collection.items():
            for record in self._shards[name].retrieve(pids, fields=["entry"]):
                try:
                    wordings[_pid(record.id)] = stored_entry(record.payload).wordings
                except (KeyError, ValueError, TypeError):
                    continue
        fits = {}
        for item in candidates:
            own = wordings.get(item.hit.pid, ())
            fit = max((literal_fit(message, w) for w in own), default=-1)
            if fit >= 0 or any(_FORMAT.search(w) for w in own):  # a format, or the very words
                fits[item.hit.pid] = fit
        if not fits or max(fits.values()) < 0:
            return {}  # the message follows none of them word for word: the scores decide
        slots = [index for index, item in enumerate(candidates) if item.hit.pid in fits]
        ranked = [candidates[index] for index in slots]
        ranked.sort(key=lambda m: fits[m.hit.pid], reverse=True)  # stable: scores order equal fits
        for index, item in zip(slots, ranked, strict=True):
            candidates[index] = item
        return fits

    def _best(self, found: dict[str, _Ranked], limit: int) -> list[Match]:
        """The exact lookups' best entries, as matches."""
        return self._matches(sorted(found.values(), key=lambda m: m.relevance, reverse=True)[:limit])

    def _matches(self, ranked: list[_Ranked]) -> list[Match]:
        """The ranked hits with their whole entries: one read per collection, for the few returned."""
        by_collection: dict[str, list[uuid.UUID]] = {}
        for item in ranked:
            by_collection.setdefault(item.collection, []).append(item.hit.pid)
        payloads: dict[uuid.UUID, dict] = {}
        for name, pids in by_collection.items():
            for record in self._shards[name].retrieve([str(pid) for pid in pids]):
                payloads[_pid(record.id)] = record.payload
        matches = []
        for item in ranked:
            payload = payloads.get(item.hit.pid)
            if payload is None:  # removed since the search
                continue
            counts = dict(payload.get("counts") or {})
            relevance = outcome_adjusted(item.relevance, counts)
            scores = item.scores if relevance == item.relevance else {**item.scores, "calibrated": round(item.relevance, 4)}
            matches.append(Match(stored_entry(payload), item.collection, relevance, item.features,
                                 item.via, scores, counts))
        matches.sort(key=lambda m: m.relevance, reverse=True)  # stable: outcomes only move entries down
        return matches

    def learned_for(self, fingerprint_: str, limit: int = 64) -> list[Match]:
        """Every learned fix recorded for this exact message (they all share its fingerprint).

        Cached like searches, until the next write."""
        shard = self._shards.get("error-solutions")
        if shard is None or not fingerprint_:
            return []
        key_ = _learned_key(fingerprint_, limit)
        cached = self._cached(key_)
        if cached is not None:
            return cached
        generation = self._generation
        matches = self._learned(shard, fingerprint_, limit)
        self._cache_put(key_, matches, generation)
        return list(matches)

    def cached_learned_for(self, fingerprint_: str, limit: int = 64) -> list[Match] | None:
        """What `learned_for` would answer from its cache, without touching a store; None if not cached."""
        if "error-solutions" not in self._shards or not fingerprint_:
            return []
        return self._cached(_learned_key(fingerprint_, limit))

    def _learned(self, shard: Shard, fingerprint_: str, limit: int) -> list[Match]:
        matches = []
        for record in shard.find("fingerprint", fingerprint_, limit=limit):
            stored = record.payload["entry"]
            text = stored if isinstance(stored, str) else json.dumps(stored)
            if '"learned"' not in text or '"edit"' not in text:
                continue  # most entries sharing a message are not learned fixes: no need to parse them
            entry = stored_entry(record.payload)
            if "learned" in entry.tags and entry.edit is not None:
                counts = dict(record.payload.get("counts") or {})
                match = Match(entry, "error-solutions", outcome_adjusted(0.99, counts), Features(1.0, 1.0, 0.0),
                              "fingerprint", counts=counts)
                matches.append(match)
        return matches

    @staticmethod
    def _lookups(message_text: str, key: str, fingerprint_: str, language: str) -> list[tuple[str, str]]:
        """The exact lookups to make up front: the fingerprint first (an entry for this very message
        outranks one for its rule code), then the rule code, or the codes the message is worded as."""
        lookups = [("fingerprint", fingerprint_), ("key", key)]
        if not key:
            # A message without its tool and code, worded as a rule with equivalents is worded.
            lookups += [("key", alias) for own in message_keys(message_text, language)
                        for alias in alias_keys(own, message_text)]
        return list(dict.fromkeys((f, v) for f, v in lookups if v))

    def _exact(self, message_text: str, key: str, fingerprint_: str, language: str, first: str,
               vector: _QueryVector, *, message_first: bool = False) -> tuple[dict[str, _Ranked], bool]:
        """Entries of the first collection with the diagnostic's own tool+code, or fingerprint, and
        whether every lookup was made: with `message_first`, entries for this very message (its
        fingerprint, relevance 0.99, above any rule's entry) end the lookups when there are any."""
        found: dict[str, _Ranked] = {}
        shard = self._shards[first]
        lookups = self._lookups(message_text, key, fingerprint_, language)
        alone = message_first and bool(lookups) and lookups[0][0] == "fingerprint"
        hits = _lookup(shard, lookups[:1] if alone else lookups, vector, self._crowded)
        for field_name, value in lookups:
            if (field_name, value) not in hits:  # the rule's lookups, or a fallback (its equivalents)
                hits.update(_lookup(shard, [pair for pair in lookups if pair not in hits], vector, self._crowded))
            same_field = []
            for hit in hits[(field_name, value)]:
                if hit.entry_id not in found:
                    same_field.append(self._exact_match(hit, first, field_name, message_text, language))
            if field_name == "key":
                if not same_field and value == key and not found:
                    # No entry for the rule: the equivalent rules of the language's other tools.
                    lookups += [("key", alias) for alias in alias_keys(key, message_text)]
                    continue
                self._rank_variants(same_field, message_text, exact=bool(found))
                if value != key:
                    for match in same_field:
                        match.relevance = min(match.relevance, self.exact_key_relevance - 0.02)
            for match in same_field:
                found[match.hit.entry_id] = match
            if alone and field_name == "fingerprint" and found:
                return found, False  # the rule's lookups were not made
        return found, True

    def _rank_variants(self, matches: list[_Ranked], message_text: str, *, exact: bool) -> None:
        """Entries of the diagnostic's tool+code, best first, with a relevance that says whether they fit.

        An entry whose id names a variant of its code ("python:TypeError:not-callable"), or one of
        several entries sharing the code, was written for one message of it: it answers only the
        diagnostics worded like it. The best-worded one keeps the key relevance only when its wording
        fits and stands clear of the next one; otherwise it is a plausible answer, not a known fix.
        Of two templates the message follows, the one with more fixed words is the closer fit.
        An entry for the whole rule (id == tool:code, alone) answers every message of the rule.
        """
        if not matches:
            return

        def fixed_words(match: _Ranked) -> int:
            if not match.features.template:
                return 0
            return max(template_words(w) for w in match.hit.wordings if template_match(message_text, w))

        matches.sort(key=lambda m: (m.features.template, fixed_words(m), m.features.lexical), reverse=True)
        specific = len(matches) > 1 or matches[0].hit.entry_id != matches[0].hit.key
        if not specific and not exact:
            return
        first, second = matches[0], matches[1] if len(matches) > 1 else None
        best, runner_up = first.features.lexical, second.features.lexical if second else 0.0
        fits = not exact and (
            (first.features.template == 1.0 and (second is None or fixed_words(first) > fixed_words(second)))
            or (best >= VARIANT_FIT and best - runner_up >= VARIANT_LEAD))
        if not fits:
            matches[0].relevance = min(matches[0].relevance, 0.5 + 0.35 * best)
        for other in matches[1:]:
            other.relevance = min(other.relevance, 0.6)

    def _exact_match(self, hit: _Hit, collection: str, via: str, message_text: str, language: str) -> _Ranked:
        lexical, template = hit.fit(message_text, tokens(message_text))
        features = Features(dense=1.0, lexical=lexical, language=language_agreement(language, hit.language),
                            template=template)
        relevance = 0.99 if via == "fingerprint" else self.exact_key_relevance
        return _Ranked(hit, collection, relevance, features, via)


class _QueryVector:
    """The message's dense vector, embedded once, and only if a search needs it: a diagnostic
    answered by its own rule's entry may need none. None while the model is still loading."""

    def __init__(self, embedder: Embedder, text: str) -> None:
        self._embedder = embedder
        self._text = text
        self._array: np.ndarray | None = None

    def array(self) -> np.ndarray:
        if self._array is None:
            self._array = self._embedder.dense([self._text])[0]
        return self._array

    def values(self) -> list[float] | None:
        return self.array().tolist() if self._embedder.ready else None


def _equals(field_name: str, value: str) -> qe.Filter:
    return qe.Filter(must=[qe.FieldCondition(key=field_name, match=qe.MatchValue(value))])


def _lookup(shard: Any, lookups: list[tuple[str, str]], vector: _QueryVector,
            crowded: set[tuple[str, str]]) -> dict[tuple[str, str], list[_Hit]]:
    """Entries whose field has the value, per (field, value): all of them when a rule has up to
    EXACT_LIMIT (a filtered read, no vector needed), else the EXACT_LIMIT closest to the message.

    `crowded` remembers the lookups found to have more, so that they are asked the nearest ones
    straight away. A lookup with fewer gets them all from either request: a stale memory after a
    removal costs time, never a different answer."""
    if not lookups:
        return {}
    dense = vector.values() if any(pair in crowded for pair in lookups) else None
    answers = shard.query_batch([_lookup_request(pair, dense if pair in crowded else None) for pair in lookups])
    # Entries sharing the message's fingerprint all read as this very message: which of many are
    # read is immaterial (learned fixes among them are read by learned_for), so only a rule's
    # entries, which differ in wording, are narrowed to the ones closest to the message.
    more = [i for i, answer in enumerate(answers) if len(answer) > EXACT_LIMIT and lookups[i][0] == "key"]
    crowded.update(lookups[i] for i in more)
    if more and (dense := dense or vector.values()) is not None:
        nearest = shard.query_batch([_lookup_request(lookups[i], dense) for i in more])
        for i, answer in zip(more, nearest, strict=True):
            answers[i] = answer
    return {pair: _sorted_hits(answer[:EXACT_LIMIT]) for pair, answer in zip(lookups, answers, strict=True)}


def _lookup_request(pair: tuple[str, str], dense: list[float] | None) -> qe.QueryRequest:
    """The entries whose field has the value: the first EXACT_LIMIT + 1 (telling whether there are
    more), or with the message's vector the EXACT_LIMIT closest to it."""
    if dense is None:
        return qe.QueryRequest(limit=EXACT_LIMIT + 1, query=None, filter=_equals(*pair), with_payload=_BRIEF)
    return qe.QueryRequest(limit=EXACT_LIMIT, query=qe.Query.Nearest(dense, using=DENSE), filter=_equals(*pair),
                           with_payload=_BRIEF)


def _briefs(shard: Any, pids: set[uuid.UUID], query: np.ndarray) -> dict[uuid.UUID, tuple[_Hit, float]]:
    """What ranking reads of these points, with their dense (cosine) similarity to the message: one
    read of the few stored fields and vectors (a filtered search for them costs twice as much)."""
    if not pids:
        return {}
    records = shard.retrieve([str(pid) for pid in pids], with_vector=True, fields=_BRIEF)
    if not records:
        return {}
    matrix = np.array([_dense_of(r) for r in records], dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(query) or 1.0)
    scores = (matrix @ query.astype(np.float32)) / np.where(norms == 0, 1.0, norms)
    return {(pid := _pid(r.id)): (_Hit.of(pid, r.payload), float(score)) for r, score in zip(records, scores, strict=True)}


def _dense_of(record: Any) -> list[float]:
    vector = record.vector
    return vector[DENSE] if isinstance(vector, dict) else vector


def _pid(value: Any) -> uuid.UUID:
    """Point ids as the engine gives them (a server gives strings): compared and ordered as UUIDs."""
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _sorted_hits(points: list[Any]) -> list[_Hit]:
    """In point-id order, the order a scroll gives: ties between equally fitting entries break the same way."""
    hits = [_Hit.of(_pid(p.id), p.payload) for p in points]
    hits.sort(key=lambda h: h.pid)
    return hits
