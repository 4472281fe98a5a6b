"""Writes waiting for the team's Qdrant server, kept in order and on disk until it acknowledges them.

One SQLite file in the data directory (`team-outbox.sqlite3`). `put` returns only once the write
is synced to disk, so a write the editor was told about survives a crash, a power cut or a server
that stays away for days. Each write has its own id and is removed only after the server confirmed
it; every write sets a state (upsert, set payload, delete), so sending one again after a crash
between the confirmation and the removal changes nothing.

A write the server refuses for what it is (not for being unreachable) cannot block the ones behind
it: it moves to the `rejected` table, where `hybrid-lsp doctor` reports it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .store import StoreError

FILENAME = "team-outbox.sqlite3"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS ops (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,
    collection TEXT NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL, queued REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rejected (id TEXT PRIMARY KEY, collection TEXT NOT NULL, kind TEXT NOT NULL,
    body TEXT NOT NULL, queued REAL NOT NULL, error TEXT NOT NULL, rejected REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Op:
    id: str
    collection: str
    kind: str  # "upsert" | "set_payload" | "delete"
    body: dict[str, Any]
    queued: float


class Outbox:
    def __init__(self, root: Path) -> None:
        self.path = root / FILENAME
        root.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a commit is on disk when it returns
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the team outbox {self.path}: {exc}. If it is damaged, move it away "
                          "(its writes are then only in this machine's knowledge base).") from None
        self._lock = threading.Lock()

    def put(self, collection: str, kind: str, body: dict[str, Any]) -> str:
        op_id = str(uuid.uuid4())
        with self._lock:
            self._db.execute("INSERT INTO ops (id, collection, kind, body, queued) VALUES (?, ?, ?, ?, ?)",
                             (op_id, collection, kind, json.dumps(body, separators=(",", ":")), time.time()))
        return op_id

    def head(self, limit: int = 32) -> list[Op]:
        """The oldest waiting writes, in the order they were made."""
        with self._lock:
            rows = self._db.execute("SELECT id, collection, kind, body, queued FROM ops ORDER BY seq LIMIT ?",
                                    (limit,)).fetchall()
        return [Op(row[0], row[1], row[2], json.loads(row[3]), row[4]) for row in rows]

    def done(self, op_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM ops WHERE id = ?", (op_id,))

    def reject(self, op: Op, error: str) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT OR REPLACE INTO rejected VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (op.id, op.collection, op.kind, json.dumps(op.body), op.queued, error, time.time()))
            self._db.execute("DELETE FROM ops WHERE id = ?", (op.id,))
            self._db.execute("COMMIT")

    def pending(self) -> Counter[str]:
        """Waiting writes per collection."""
        with self._lock:
            rows = self._db.execute("SELECT collection, COUNT(*) FROM ops GROUP BY collection").fetchall()
        return Counter(dict(rows))

    def rejected(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT id, collection, kind, error, rejected FROM rejected ORDER BY rejected").fetchall()
        return [dict(zip(("id", "collection", "kind", "error", "rejected"), row)) for row in rows]

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def summary(root: Path) -> tuple[int, int] | None:
    """(waiting, rejected) writes of a data directory, read without taking part; None without an outbox."""
    path = root / FILENAME
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            waiting = db.execute("SELECT COUNT(*) FROM ops").fetchone()[0]
            rejected = db.execute("SELECT COUNT(*) FROM rejected").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return waiting, rejected
