"""The knowledge base: known solutions, their JSONL import/export contract, and how they are found.

Lookup order: the exact tool+rule key (e.g. "ruff:F401"), the exact fingerprint, then hybrid search
(BM25 sparse + dense) over the configured collections. Every candidate gets a calibrated relevance
(relevance.py) so that routing thresholds mean the same thing whatever the search path.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

from .config import COLLECTIONS
from .embedding import DENSE, OLLAMA, SPARSE, Embedder, OllamaEmbedder
from .normalise import alias_keys, message_keys, canonical_code, canonical_source, fingerprint, normalise
from .relevance import Calibration, Features, combined, language_agreement, lexical_overlap, template_match, template_words, tokens
from .journal import EntryJournal
from .store import Shard

_NAMESPACE = uuid.UUID("5b0e7d34-8c0e-4d0c-9f8e-0f5c2b6a7e11")
_FIELDS = ("id", "error", "solution", "title", "fix", "language", "source", "code", "tags", "collection", "edit")
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
        return data

    def payload(self) -> dict[str, Any]:
        norm = normalise(self.error)
        return {
            "entry": self.to_json(),
            "entry_id": self.id,
            "key": self.key,
            "fingerprint": fingerprint(self.source, self.code, norm.text),
            "normalised": norm.text,
            "language": self.language,
            "source": self.source,
        }


def point_id(entry_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, entry_id))


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
        }


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
        self._calibration = calibration
        self.exact_key_relevance = exact_key_relevance
        self.journal = journal

    def _changed(self) -> None:
        with self._cache_lock:
            self._cache.clear()

    # -- writing -----------------------------------------------------------------------------

    def add(self, entries: list[Entry], batch: int = 256, *, journal: bool = True) -> int:
        """Insert or replace entries by id; an id moved to another collection leaves the old one.

        The entries are journaled (and synced) first, so a crash in the middle leaves them to be
        applied at the next start rather than half-imported.
        """
        if journal and self.journal is not None and entries:
            self.journal.put([entry.to_json() for entry in entries])
        for start in range(0, len(entries), batch):
            chunk = entries[start : start + batch]
            texts = [normalise(e.error).text + " " + e.title for e in chunk]
            dense = self._embedder.dense(texts)
            extra = self.extra.embed(texts) if self.extra is not None else None
            # Replacing an entry keeps what users did with it.
            learned: dict[str, dict] = {}
            for shard in self._shards.values():
                for record in shard.retrieve([point_id(e.id) for e in chunk]):
                    if record.payload.get("outcomes"):
                        learned[str(record.id)] = {k: record.payload[k] for k in ("outcomes", "counts") if k in record.payload}
            by_collection: dict[str, list[qe.Point]] = {}
            for index, (entry, vector) in enumerate(zip(chunk, dense, strict=True)):
                payload = entry.payload() | learned.get(point_id(entry.id), {})
                vectors = {DENSE: vector.tolist(), SPARSE: self._embedder.sparse_document(payload["normalised"] + " " + entry.title)}
                if extra is not None:
                    vectors[OLLAMA] = extra[index].tolist()
                point = qe.Point(point_id(entry.id), vectors, payload)
                by_collection.setdefault(entry.collection, []).append(point)
            for name, shard in self._shards.items():
                moved = [point_id(e.id) for e in chunk if e.collection != name]
                if moved:
                    shard.delete(moved)
                shard.upsert(by_collection.get(name, []))
        for shard in self._shards.values():
            shard.flush()
        if journal and self.journal is not None:
            self.journal.mark_applied()
        self._changed()
        return len(entries)

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
                return parse_entry(records[0].payload["entry"]), name
        return None

    def export(self) -> list[Entry]:
        return [parse_entry(record.payload["entry"]) for shard in self._shards.values() for record in shard.scroll()]

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

    def search(
        self,
        message_text: str,
        *,
        key: str = "",
        fingerprint_: str = "",
        language: str = "",
        collections: Iterable[str] = COLLECTIONS,
        limit: int = 5,
    ) -> list[Match]:
        """Best matches first, each with a calibrated relevance; `message_text` is normalised."""
        key_ = (message_text, key, fingerprint_, language, tuple(collections), limit)
        with self._cache_lock:
            if key_ in self._cache:
                self._cache.move_to_end(key_)
                return list(self._cache[key_])
        if not self._embedder.ready:
            # Just after start the model is still loading: an exact tool+code or fingerprint hit
            # answers without it (and is not cached, so the full search runs once it is ready).
            exact = self._exact(message_text, key, fingerprint_, language, [c for c in collections if c in self._shards])
            if exact:
                return sorted(exact.values(), key=lambda m: m.relevance, reverse=True)[:limit]
        results = self._search(message_text, key=key, fingerprint_=fingerprint_, language=language,
                               collections=tuple(collections), limit=limit)
        with self._cache_lock:
            self._cache[key_] = results
            while len(self._cache) > 2048:
                self._cache.popitem(last=False)
        return list(results)

    def _search(self, message_text: str, *, key: str, fingerprint_: str, language: str,
                collections: tuple[str, ...], limit: int) -> list[Match]:
        wanted = [c for c in collections if c in self._shards]
        found = self._exact(message_text, key, fingerprint_, language, wanted)

        query_vector = self._embedder.dense([message_text])[0]
        sparse = self._embedder.sparse_query(message_text)
        extra = self.extra.embed([message_text]) if self.extra is not None else None
        query_tokens = tokens(message_text)
        candidates: list[Match] = []
        normalised_of: dict[str, str] = {}
        for name in wanted:
            shard = self._shards[name]
            requests = [
                qe.QueryRequest(limit=10, query=qe.Query.Nearest(query_vector.tolist(), using=DENSE), with_payload=True),
                qe.QueryRequest(limit=10, query=qe.Query.Nearest(sparse, using=SPARSE), with_payload=True),
            ]
            if extra is not None:
                requests.append(qe.QueryRequest(limit=10, query=qe.Query.Nearest(extra[0].tolist(), using=OLLAMA), with_payload=True))
            dense_hits, sparse_hits, *extra_hits = shard.query_batch(requests)
            dense_score = {str(h.id): h.score for h in dense_hits}
            sparse_score = {str(h.id): h.score for h in sparse_hits}
            for hit in (extra_hits[0] if extra_hits else []):
                sparse_score.setdefault(str(hit.id), 0.0)
            missing = [pid for pid in sparse_score if pid not in dense_score]
            if missing:
                for record in shard.retrieve(missing, with_vector=True):
                    vector = np.asarray(record.vector[DENSE], dtype=np.float32)
                    dense_score[str(record.id)] = float(vector @ query_vector / (np.linalg.norm(vector) or 1.0))
            payloads = {str(h.id): h.payload for h in [*dense_hits, *sparse_hits, *(extra_hits[0] if extra_hits else [])]}
            for pid, payload in payloads.items():
                entry = parse_entry(payload["entry"])
                if entry.id in found:
                    continue
                written = normalised_of[entry.id] = payload["normalised"]
                features = Features(
                    dense=max(0.0, dense_score.get(pid, 0.0)),
                    lexical=lexical_overlap(query_tokens, tokens(written)),
                    language=language_agreement(language, entry.language),
                    template=template_match(message_text, written),
                )
                candidates.append(Match(entry, name, 0.0, features, "search",
                                        {"dense": dense_score.get(pid, 0.0), "bm25": sparse_score.get(pid, 0.0)},
                                        dict(payload.get("counts") or {})))
        candidates.sort(key=lambda m: combined(m.features), reverse=True)
        for index, match in enumerate(candidates):
            second = candidates[index + 1] if index + 1 < len(candidates) else None
            margin = combined(match.features) - (combined(second.features) if second else 0.0) if index == 0 else 0.0
            # A runner-up the diagnostic fits as well (both templates match, or both entries read the
            # same once normalised): nothing in the message tells them apart.
            tie = float(index == 0 and second is not None and (
                match.features.template == second.features.template == 1.0
                or normalised_of[match.entry.id] == normalised_of[second.entry.id]))
            match.features = replace(match.features, margin=margin, tie=tie)
            match.relevance = self._calibration.probability(match.features)
        if any(m.relevance >= self.exact_key_relevance for m in found.values()):
            # The diagnostic's own rule (or this very message) has an entry that fits it: another
            # rule's entry cannot outrank it.
            for match in candidates:
                match.relevance = min(match.relevance, self.exact_key_relevance - 0.01)
        results = list(found.values()) + [m for m in candidates if m.entry.id not in found]
        results.sort(key=lambda m: m.relevance, reverse=True)
        return results[:limit]

    def learned_for(self, fingerprint_: str, limit: int = 64) -> list[Match]:
        """Every learned fix recorded for this exact message (they all share its fingerprint)."""
        shard = self._shards.get("error-solutions")
        if shard is None or not fingerprint_:
            return []
        matches = []
        for record in shard.find("fingerprint", fingerprint_, limit=limit):
            entry = parse_entry(record.payload["entry"])
            if "learned" in entry.tags and entry.edit is not None:
                match = Match(entry, "error-solutions", 0.99, Features(1.0, 1.0, 0.0), "fingerprint")
                match.counts = dict(record.payload.get("counts") or {})
                matches.append(match)
        return matches

    def _exact(self, message_text: str, key: str, fingerprint_: str, language: str, wanted: list[str]) -> dict[str, Match]:
        """Entries of the first collection with the diagnostic's own tool+code, or fingerprint."""
        found: dict[str, Match] = {}
        if not wanted:
            return found
        first = wanted[0]
        # The fingerprint first: an entry for this very message outranks one for its rule code.
        lookups = [("fingerprint", fingerprint_), ("key", key)]
        if not key:
            # A message without its tool and code, worded as a rule with equivalents is worded.
            lookups += [("key", alias) for own in message_keys(message_text, language)
                        for alias in alias_keys(own, message_text)]
        written: dict[str, str] = {}
        for field_name, value in lookups:
            if not value:
                continue
            same_field = []
            for record in self._shards[first].find(field_name, value, limit=64):
                entry = parse_entry(record.payload["entry"])
                if entry.id not in found:
                    written[entry.id] = record.payload.get("normalised") or normalise(entry.error).text
                    match = self._exact_match(entry, first, field_name, message_text, language, written[entry.id])
                    match.counts = dict(record.payload.get("counts") or {})
                    same_field.append(match)
            if field_name == "key":
                if not same_field and value == key and not found:
                    # No entry for the rule: the equivalent rules of the language's other tools.
                    lookups += [("key", alias) for alias in alias_keys(key, message_text)]
                    continue
                self._rank_variants(same_field, written, exact=bool(found))
                if value != key:
                    for match in same_field:
                        match.relevance = min(match.relevance, self.exact_key_relevance - 0.02)
            for match in same_field:
                found[match.entry.id] = match
        return found

    def _rank_variants(self, matches: list[Match], written: dict[str, str], *, exact: bool) -> None:
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

        def fixed_words(match: Match) -> int:
            return template_words(written[match.entry.id]) if match.features.template else 0

        matches.sort(key=lambda m: (m.features.template, fixed_words(m), m.features.lexical), reverse=True)
        specific = len(matches) > 1 or matches[0].entry.id != matches[0].entry.key
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

    def _exact_match(self, entry: Entry, collection: str, via: str, message_text: str, language: str,
                     normalised: str | None = None) -> Match:
        if normalised is None:
            normalised = normalise(entry.error).text
        features = Features(
            dense=1.0,
            lexical=lexical_overlap(tokens(message_text), tokens(normalised)),
            language=language_agreement(language, entry.language),
            template=template_match(message_text, normalised),
        )
        relevance = 0.99 if via == "fingerprint" else self.exact_key_relevance
        return Match(entry, collection, relevance, features, via)
