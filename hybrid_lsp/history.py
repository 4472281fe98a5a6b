"""Every interaction and its outcome, in the `interaction-history` collection.

An interaction is written when an answer is produced (outcome `offered`) and updated when the user
accepts or rejects it. Each write is flushed before it is acknowledged, so an outcome the user saw
recorded survives a crash. Statistics are computed from these records, never from constants.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import qdrant_edge as qe

from .embedding import DENSE, SPARSE, Embedder
from .store import Shard

Outcome = Literal["offered", "accepted", "rejected", "undone", "validated", "failed", "ignored"]
OUTCOMES: tuple[str, ...] = ("offered", "accepted", "rejected", "undone", "validated", "failed", "ignored")


@dataclass(slots=True)
class Interaction:
    kind: Literal["fix", "ask"]
    query: str
    fingerprint: str
    route: str
    relevance: float
    complexity: int
    reason: str
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    source: str = ""
    code: str = ""
    language: str = ""
    entry_ids: list[str] = field(default_factory=list)
    explanation: str = ""
    has_edit: bool = False
    error: str = ""
    redactions: int = 0
    outcome: str = "offered"
    reject_reason: str = ""
    # The stored entry whose fix was served (known route), and the entry a validated fix became.
    served_entry: str = ""
    learned_entry: str = ""
    # The outcome whose effects on the knowledge base have been applied (see learning.py).
    effects_applied: str = ""
    # The edit as offered: zero-based lines, so it can be followed and learned from.
    span_start: int = -1
    span_end: int = -1
    edit_start: int = -1
    old_lines: list[str] = field(default_factory=list)
    new_lines: list[str] = field(default_factory=list)
    # Size of the prompt the remote route sends (or would have sent), and the remote tokens
    # this answer did not spend (0 for remote answers; see accounting.py).
    prompt_chars: int = 0
    saved_prompt_tokens: int = 0
    saved_completion_tokens: int = 0
    # Worth of the interaction once settled: validated, reused, tokens saved (see learning.py).
    value: float = 0.0
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    ts: float = field(default_factory=time.time)

    @property
    def saved_tokens(self) -> int:
        return self.saved_prompt_tokens + self.saved_completion_tokens

    @property
    def timestamp(self) -> str:
        return datetime.fromtimestamp(self.ts, UTC).isoformat(timespec="seconds")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["timestamp"] = self.timestamp
        return data


class History:
    def __init__(self, shard: Shard, embedder: Embedder) -> None:
        self._shard = shard
        self._embedder = embedder

    def record(self, interaction: Interaction) -> str:
        text = interaction.query[:2000]
        vector = self._embedder.dense([text])[0].tolist()
        payload = interaction.to_json()
        # The write-ahead log already keeps this across a crash of the process; the fsync of a
        # flush is kept for outcomes, which the user acts on, not for every offered answer.
        self._shard.upsert([qe.Point(interaction.id, {DENSE: vector, SPARSE: self._embedder.sparse_document(text)}, payload)])
        return interaction.id

    def get(self, interaction_id: str) -> Interaction | None:
        try:
            uuid.UUID(interaction_id)
        except (ValueError, AttributeError, TypeError):
            return None
        records = self._shard.retrieve([interaction_id])
        return _from_payload(records[0].payload) if records else None

    def set_outcome(self, interaction_id: str, outcome: str, reason: str = "") -> Interaction:
        """Idempotent: recording the same outcome twice changes nothing."""
        return self.change_outcome(interaction_id, outcome, reason)[1]

    def change_outcome(self, interaction_id: str, outcome: str, reason: str = "") -> tuple[str, Interaction]:
        """set_outcome, also returning the outcome it replaced (the interaction's, if unchanged)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}; expected one of {list(OUTCOMES)}")
        current = self.get(interaction_id)
        if current is None:
            raise KeyError(f"no interaction with id {interaction_id!r}")
        previous = current.outcome
        if current.outcome == outcome and current.reject_reason == reason:
            return previous, current
        # A late "accepted" (the command arriving after the edit was seen) must not erase what
        # was learned since; an offer is only "ignored" while nothing else happened to it.
        if outcome == "accepted" and current.outcome in ("validated", "failed", "undone"):
            return previous, current
        if outcome == "ignored" and current.outcome != "offered":
            return previous, current
        self._shard.set_payload(interaction_id, {"outcome": outcome, "reject_reason": reason, "outcome_ts": time.time()})
        if outcome != "ignored":  # what the user did is synced; an offer left aside need not be
            self._shard.flush()
        current.outcome, current.reject_reason = outcome, reason
        return previous, current

    def mark(self, interaction_id: str, sync: bool = True, **values: Any) -> None:
        self._shard.set_payload(interaction_id, values)
        if sync:
            self._shard.flush()

    def list(self, days: float | None = None) -> list[Interaction]:
        condition = None
        if days is not None:
            condition = qe.Filter(must=[qe.FieldCondition(key="ts", range=qe.RangeFloat(gte=time.time() - days * 86400))])
        items = [_from_payload(record.payload) for record in self._shard.scroll(condition)]
        items.sort(key=lambda i: i.ts)
        return items

    def stats(self, days: float | None = None, prices: dict[str, tuple[float, float]] | None = None,
              remote_model: str = "") -> dict[str, Any]:
        from .accounting import cost

        prices = prices or {}
        items = self.list(days)
        fixes = [i for i in items if i.kind == "fix"]
        routes = Counter(i.route for i in items)
        total = len(items)
        decided = [i for i in items if i.outcome in ("accepted", "validated", "rejected", "undone", "failed")]
        accepted = [i for i in decided if i.outcome in ("accepted", "validated")]
        local = [i for i in items if i.route == "local"]
        remote_used = sum(i.prompt_tokens + i.completion_tokens for i in items if i.route == "remote")
        local_used = sum(i.prompt_tokens + i.completion_tokens for i in local)
        per_route = {}
        for route in ("known", "local", "remote"):
            settled = [i for i in decided if i.route == route]
            good = [i for i in settled if i.outcome in ("accepted", "validated")]
            per_route[route] = round(len(good) / len(settled), 4) if settled else None
        return {
            "interactions": total,
            "accept_rate_by_route": per_route,
            "decided_by_route": {route: sum(1 for i in decided if i.route == route) for route in ("known", "local", "remote")},
            "fixes": len(fixes),
            "asks": total - len(fixes),
            "routes": {name: routes.get(name, 0) for name in ("known", "local", "remote")},
            "share_without_remote": round((total - routes.get("remote", 0)) / total, 4) if total else None,
            "accept_rate": round(len(accepted) / len(decided), 4) if decided else None,
            "outcomes": dict(Counter(i.outcome for i in items)),
            "tokens": {"remote": remote_used, "local": local_used, "saved": sum(i.saved_tokens for i in items)},
            "cost_usd": {
                "remote": round(sum(cost(prices, i.model, i.prompt_tokens, i.completion_tokens) for i in items if i.route == "remote"), 4),
                # Saved tokens priced at the configured remote model.
                "saved": round(sum(cost(prices, remote_model, i.saved_prompt_tokens, i.saved_completion_tokens) for i in items), 4),
            },
            "token_reduction": round(sum(i.saved_tokens for i in items) / (sum(i.saved_tokens for i in items) + remote_used), 4)
            if (remote_used or any(i.saved_tokens for i in items)) else None,
            "days": _by_day(items),
            "average_local_relevance": round(sum(i.relevance for i in local) / len(local), 4) if local else None,
            "targets": {"share_without_remote": 0.7, "average_local_relevance": 0.75},
        }


def _by_day(items: list[Interaction]) -> list[dict[str, Any]]:
    days: dict[str, dict[str, Any]] = {}
    for item in items:
        day = days.setdefault(item.timestamp[:10], {"day": item.timestamp[:10], "known": 0, "local": 0, "remote": 0,
                                                    "remote_tokens": 0, "saved_tokens": 0})
        if item.route in ("known", "local", "remote"):
            day[item.route] += 1
        if item.route == "remote":
            day["remote_tokens"] += item.prompt_tokens + item.completion_tokens
        day["saved_tokens"] += item.saved_tokens
    return [days[key] for key in sorted(days)]


def _from_payload(payload: dict[str, Any]) -> Interaction:
    names = Interaction.__dataclass_fields__
    return Interaction(**{k: v for k, v in payload.items() if k in names})
