"""An append-only journal of knowledge-base entries: written and synced before the store changes.

It makes an import all or nothing across a crash (entries journaled but not yet in the store are
applied at the next start) and gives `hybrid-lsp kb rebuild` a source that does not depend on the
store being readable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class EntryJournal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.applied_path = path.with_suffix(".applied")

    def _write(self, records: list[dict[str, Any]]) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def put(self, entries: list[dict[str, Any]]) -> None:
        """One import is one transaction: only a group that reached its commit line counts."""
        self._write([{"op": "begin", "count": len(entries)}, *({"op": "put", "entry": e} for e in entries),
                     {"op": "commit"}])

    def remove(self, entry_id: str) -> None:
        self._write([{"op": "begin", "count": 1}, {"op": "remove", "id": entry_id}, {"op": "commit"}])

    def applied(self) -> int:
        try:
            return int(self.applied_path.read_text())
        except (FileNotFoundError, ValueError):
            return 0

    def mark_applied(self) -> None:
        """Everything journaled so far is in the store (written atomically)."""
        size = self.path.stat().st_size if self.path.exists() else 0
        tmp = self.applied_path.with_suffix(".tmp")
        tmp.write_text(str(size))
        tmp.replace(self.applied_path)

    def records(self, start: int = 0) -> Iterator[dict[str, Any]]:
        """Committed records from byte offset `start`; a group cut short by a crash is skipped."""
        if not self.path.exists():
            return
        group: list[dict[str, Any]] | None = None
        with self.path.open("rb") as fh:
            fh.seek(start)
            for line in fh:
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    group = None  # torn write: the group it belongs to never committed
                    continue
                op = record.get("op") if isinstance(record, dict) else None
                if op == "begin":
                    group = []
                elif op == "commit":
                    yield from group or []
                    group = None
                elif group is not None:
                    group.append(record)

    def pending(self) -> list[dict[str, Any]]:
        return list(self.records(self.applied()))

    def current(self) -> dict[str, dict[str, Any]]:
        """The entries as the journal has them: last write wins, removals applied."""
        state: dict[str, dict[str, Any]] = {}
        for record in self.records():
            if record.get("op") == "put" and isinstance(record.get("entry"), dict):
                state[record["entry"].get("id")] = record["entry"]
            elif record.get("op") == "remove":
                state.pop(record.get("id"), None)
        return state
