"""Where an answer comes from: a stored fix, the local model, or the remote API.

The decision tree is the reference design's: a close, simple match goes to the free local model,
a weak or complex one to the remote API; on top of it a stored fix that applies as is costs
nothing at all. Thresholds live in settings; the relevance fed in is calibrated (see
relevance.py), never a raw fused score. Pure: no I/O, no network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

from .config import Routing
from .query import ErrorQuery

Target = Literal["known", "local", "remote"]

# [relevance above, complexity below] -> local model. The reference design's should_use_local.
POLICY_RULES: dict[str, tuple[tuple[float, int], ...]] = {
    "default": ((0.85, 6), (0.8, 4), (0.7, 3)),
    "critical": ((0.95, 4),),
    "casual": ((0.65, 7),),
    "local-only": ((0.0, 11),),
    "remote-first": (),
}


@dataclass(frozen=True, slots=True)
class Availability:
    """Which model backends are configured (not whether they answer right now)."""

    local: bool
    remote: bool
    local_reason: str = ""
    remote_reason: str = ""


@dataclass(frozen=True, slots=True)
class Route:
    target: Target
    relevance: float
    complexity: int
    reason: str
    # False when no backend can produce a fix and only the stored explanation is left.
    can_fix: bool = True

    def to_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "relevance": round(self.relevance, 4),
            "complexity": self.complexity,
            "reason": self.reason,
        }


def complexity(query: ErrorQuery, diagnostics_in_document: int = 1) -> int:
    """Estimate on the reference 1-10 scale from measurable features of the diagnostic.

    Starts at 2 (one diagnostic, one line); grows with the lines the error spans, with how crowded
    the document is with errors, with a long or multi-line message, and for type and borrow errors
    whose fix often lies away from the reported line.
    """
    score = 2
    span_lines = 1
    if query.span is not None:
        span_lines = query.span.end_line - query.span.start_line + 1
    score += 1 if span_lines > 1 else 0
    score += 1 if span_lines > 5 else 0
    score += 1 if diagnostics_in_document > 3 else 0
    score += 1 if diagnostics_in_document > 10 else 0
    if len(query.message) > 160 or "\n" in query.message.strip():
        score += 1
    text = query.normalised.text.lower()
    if any(word in text for word in ("type", "lifetime", "borrow", "generic", "trait", "overload", "incompatible")):
        score += 2
    if query.related:
        score += 1
    return max(1, min(10, score))


def ask_complexity(question: str, code: str | None) -> int:
    """The 1-10 scale for a free question: longer questions, several questions at once and more
    code to read make it harder."""
    words = len(question.split())
    code_lines = len(code.splitlines()) if code else 0
    score = 2
    score += 1 if words > 25 else 0
    score += 1 if words > 80 else 0
    score += 1 if question.count("?") > 1 else 0
    score += 1 if code_lines > 20 else 0
    score += 2 if code_lines > 150 else 0
    score += 1 if "\n" in question.strip() else 0
    return max(1, min(10, score))


def adapt_offset(offset: float, *, local_share: float, local_accept: float | None, remote_accept: float | None,
                 local_decided: int, target: float, margin: float, remote_decided: int | None = None,
                 step: float = 0.02, bound: float = 0.15, evidence: int = 20, confidence: float = 0.95) -> float:
    """Move the local rules' relevance bars from outcomes.

    Local answers accepted less often than remote ones by more than `margin`, with `evidence`
    outcomes on each side at least and beyond chance (see worse_beyond_margin): raise the bars
    (fewer local). Below the target share of answers without the remote API, or with the bars raised
    while local answers are not shown to do worse: lower them. A point comparison would raise the
    bars on noise: with local answers right at the margin, half the samples fall below it, and
    each step sends good local answers to the remote API without making the rest any better.
    """
    remote_decided = local_decided if remote_decided is None else remote_decided
    enough = (local_accept is not None and remote_accept is not None
              and local_decided >= evidence and remote_decided >= evidence)
    worse = enough and worse_beyond_margin(local_accept, local_decided, remote_accept, remote_decided, margin, confidence)
    if worse:
        offset -= step
    elif local_share < target or (offset < 0 and enough):
        offset += step
    return max(-bound, min(bound, round(offset, 4)))


def worse_beyond_margin(local_accept: float, local_decided: int, remote_accept: float, remote_decided: int,
                        margin: float, confidence: float = 0.95) -> bool:
    """Whether local answers are accepted less often than remote ones minus `margin`, at `confidence`:
    a one-sided test on the difference of two proportions, each variance from the rate with one
    success and one failure added (so a rate of 0 or 1 over few outcomes is not taken as certain)."""
    def variance(rate: float, n: int) -> float:
        smoothed = (rate * n + 1) / (n + 2)
        return smoothed * (1 - smoothed) / n

    gap = (remote_accept - margin) - local_accept
    if gap <= 0:
        return False
    spread = math.sqrt(variance(local_accept, local_decided) + variance(remote_accept, remote_decided))
    return gap > NormalDist().inv_cdf(confidence) * spread


SETTLED = ("accepted", "validated", "rejected", "undone", "failed")
ACCEPTED = ("accepted", "validated")


class OutcomeWindow:
    """Answers and outcomes of the last `days`, counted per hour as they happen.

    What adapt_offset needs, without re-reading the history: each outcome costs a few dict
    updates instead of decoding a week of interactions. Outcomes count in the hour of the answer
    they settle, so a later change (accepted, then undone) moves one count, not two. Pure.
    """

    def __init__(self, days: float = 7.0) -> None:
        self.days = days
        self._hours: dict[int, dict[str, int]] = {}

    def answered(self, ts: float, route: str) -> None:
        self._bump(ts, "answers", 1)
        self._bump(ts, f"answers:{route}", 1)

    def settled(self, ts: float, route: str, previous: str, outcome: str) -> None:
        """The answer given at `ts` by `route` went from `previous` to `outcome`."""
        for state, sign in ((previous, -1), (outcome, 1)):
            if state in SETTLED:
                self._bump(ts, f"decided:{route}", sign)
                if state in ACCEPTED:
                    self._bump(ts, f"accepted:{route}", sign)

    def figures(self, now: float) -> dict[str, object]:
        """Share without remote, accept rate and settled count per route, over the window."""
        oldest = int((now - self.days * 86400) // 3600)
        for hour in [h for h in self._hours if h < oldest]:
            del self._hours[hour]
        totals: dict[str, int] = {}
        for counts in self._hours.values():
            for name, value in counts.items():
                totals[name] = totals.get(name, 0) + value
        answers = totals.get("answers", 0)
        decided = {route: totals.get(f"decided:{route}", 0) for route in ("known", "local", "remote")}
        return {
            "share_without_remote": (answers - totals.get("answers:remote", 0)) / answers if answers else None,
            "decided_by_route": decided,
            "accept_rate_by_route": {route: totals.get(f"accepted:{route}", 0) / n if n else None
                                     for route, n in decided.items()},
        }

    def _bump(self, ts: float, name: str, by: int) -> None:
        counts = self._hours.setdefault(int(ts // 3600), {})
        counts[name] = counts.get(name, 0) + by


def should_use_local(relevance: float, complexity_score: int, rules: tuple[tuple[float, int], ...]) -> bool:
    return any(relevance > above and complexity_score < below for above, below in rules)


def decide(
    relevance: float,
    complexity_score: int,
    settings: Routing,
    availability: Availability,
    *,
    known_edit: bool,
    has_match: bool,
    language: str = "",
    offset: float = 0.0,
) -> Route:
    """The decision tree, with a one-line reason the user can read in hover and `search --json`.

    `offset` is what outcomes taught (see adapt_offset): it lowers (or raises) the relevance bars of
    the local rules.
    """
    policy = settings.languages.get(language, settings.policy)
    # Custom rules refine the judgement of the default-style policies, never local-only or remote-first.
    custom = tuple(settings.local_rules) if policy not in ("local-only", "remote-first") else ()
    rules = custom or POLICY_RULES[policy]
    if offset and policy not in ("local-only", "remote-first"):
        rules = tuple((max(0.0, min(0.99, above - offset)), below) for above, below in rules)
    remote_allowed = policy != "local-only" and availability.remote
    rel = f"relevance {relevance:.2f}"

    if has_match and relevance >= settings.known_threshold and known_edit:
        return Route("known", relevance, complexity_score, f"{rel} >= {settings.known_threshold:.2f} and a stored fix applies")

    wants_local = policy == "local-only" or should_use_local(relevance, complexity_score, rules)
    if wants_local and availability.local:
        why = "local-only policy" if policy == "local-only" else f"{rel}, complexity {complexity_score}: simple enough for the local model"
        return Route("local", relevance, complexity_score, why)
    if wants_local and remote_allowed:
        return Route("remote", relevance, complexity_score, f"local model unavailable ({availability.local_reason}); using the remote API")
    if not wants_local and remote_allowed:
        why = "remote-first policy" if policy == "remote-first" else f"{rel}, complexity {complexity_score}: needs the remote model"
        return Route("remote", relevance, complexity_score, why)
    if availability.local:
        why = "local-only policy" if policy == "local-only" else f"remote API unavailable ({availability.remote_reason})"
        return Route("local", relevance, complexity_score, f"{why}; using the local model")
    # No model can be reached: a close stored solution is still worth showing as an explanation.
    missing = "; ".join(r for r in (availability.local_reason, availability.remote_reason) if r)
    if has_match and relevance >= settings.known_threshold:
        return Route("known", relevance, complexity_score, f"{rel}; stored solution (no model configured: {missing})", can_fix=known_edit)
    target: Target = "local" if policy == "local-only" else "remote"
    return Route(target, relevance, complexity_score, f"{rel}; no model available: {missing}", can_fix=False)
