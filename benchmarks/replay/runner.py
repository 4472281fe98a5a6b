"""The three routers over the same stream, each against its own loopback model servers.

hybrid-lsp: `Pipeline` in-process on a fresh data directory with the starter knowledge base, exactly
as the server uses it: `plan` then `solve` per event, then the simulated user's verdict through
`pipeline.learning.record` ("accepted" then "validated" for a correct fix, "rejected" for a wrong
one), so validated model fixes are promoted and the routing offset adapts.

seed tree and always-remote: another `Pipeline` (starter only, never told an outcome, so it never
learns). Per event `plan` is computed once for its matches; only the route is replaced, by the seed
tree's decision or by "remote", with no stored edit, and `solve` does the rest: the same prompts
(`prompts.fix_prompt` over `Pipeline._contexts`, i.e. the same stored solutions as context), the
same backends, the same parsing and validation of the fix. The seed tree (reference design,
`should_use_local`): local when relevance > 0.85 and complexity < 6, > 0.8 and < 4, > 0.7 and < 3,
else remote; relevance is the top raw cosine of the dense search (the `dense` score of
`KnowledgeBase.search` over the three collections, the normalised message embedded by the shipped
model); complexity is the reference design's keyword guess on the message.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from hybrid_lsp import edits
from hybrid_lsp.config import COLLECTIONS, Settings, parse_settings
from hybrid_lsp.learning import demoted
from hybrid_lsp.pipeline import Pipeline, Plan
from hybrid_lsp.query import ErrorQuery, Span, code_window
from hybrid_lsp.routing import Route

from .models import Models, Oracle
from .stream import LINE, Event, Stream, build, equivalent

LOCAL_MODEL = "qwen2.5-coder-7b-instruct"


# -- the reference design's decision tree, verbatim -------------------------------------------------

def seed_complexity(query: str) -> int:
    indicators = {
        "simple": ["what is", "how to", "show me", "list"],
        "medium": ["explain", "why", "compare", "debug"],
        "complex": ["design", "architect", "implement", "refactor", "optimize"],
    }
    lower = query.lower()
    if any(keyword in lower for keyword in indicators["complex"]):
        return 8
    if any(keyword in lower for keyword in indicators["medium"]):
        return 5
    return 2


def seed_should_use_local(relevance: float, complexity: int) -> bool:
    if relevance > 0.85 and complexity < 6:
        return True
    if relevance > 0.8 and complexity < 4:
        return True
    if relevance > 0.7 and complexity < 3:  # noqa: SIM103 - the reference design's code, as written
        return True
    return False


def seed_relevance(pipeline: Pipeline, query: ErrorQuery) -> float:
    """The top raw cosine of the dense search (the reference design's `context_results[0].score`;
    its search keeps nothing under 0.6)."""
    matches = pipeline.knowledge.search(query.search_text(), language=query.language, collections=COLLECTIONS, limit=60)
    top = max((m.scores.get("dense", 0.0) for m in matches), default=0.0)
    return top if top >= 0.6 else 0.0


# -- shared helpers --------------------------------------------------------------------------------

def data_root() -> tuple[Path, str]:
    """A RAM-backed temporary directory when there is one: every outcome is fsynced by design, and
    on this class of machine an fsync costs ~50 ms on disk, which would measure the disk, not routing."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return Path(tempfile.mkdtemp(prefix="hybrid-lsp-replay-", dir=shm)), "tmpfs (/dev/shm)"
    return Path(tempfile.mkdtemp(prefix="hybrid-lsp-replay-")), "disk (system temporary directory)"


def settings_for(models: Models, layer: dict[str, Any] | None = None) -> Settings:
    """Defaults, with the local route on the local loopback server, plus an optional settings layer
    (as an editor would send it); the remote route reads its key and endpoint from the environment
    (set by `use_remote`)."""
    settings, errors = parse_settings({"local": {"baseUrl": models.local.url + "/v1", "model": LOCAL_MODEL}}, layer)
    if errors:
        raise ValueError("; ".join(errors))
    return settings


def use_remote(models: Models) -> None:
    os.environ["ANTHROPIC_API_KEY"] = "replay-loopback-key"
    os.environ["ANTHROPIC_BASE_URL"] = models.remote.url


def make_query(event: Event, settings: Settings) -> ErrorQuery:
    site = event.site_data
    broken = site.lines[LINE]
    start = len(broken) - len(broken.lstrip())
    span = Span(LINE, start if start < len(broken) else 0, LINE, len(broken))
    return ErrorQuery(message=site.message, source=event.source, code=event.code, language=event.language,
                      span=span, window=code_window(list(site.lines), span, settings.context_lines))


def judge(event: Event, edit: edits.LineEdit | None, route: str, served_entry: str) -> bool | None:
    """The simulated user: None for an answer without an edit (nothing to accept), else whether the
    edit gives the site's correct fixed document (a stored fix also counts as correct when its entry
    applies to the error, i.e. is the truth or equivalent to it)."""
    if edit is None:
        return None
    try:
        fixed = edits.apply(event.site_data.text, edit)
    except edits.EditError:
        return False
    if fixed == event.site_data.fixed_text:
        return True
    return route == "known" and bool(served_entry) and equivalent(served_entry, event.truth)


def truth_rank(plan: Plan, event: Event) -> int | None:
    """1-based rank of the first match that applies to the error, among the plan's matches."""
    for rank, match in enumerate(plan.matches, start=1):
        if equivalent(match.entry.id, event.truth):
            return rank
    return None


def stream_digest(stream: Stream) -> str:
    digest = hashlib.sha256()
    for event in stream.events:
        digest.update(f"{event.index}|{event.truth}|{event.site}|{event.message}|{event.site_data.text}\n".encode())
    return digest.hexdigest()[:16]


def _calls(oracle: Oracle, mark: int) -> list:
    return oracle.calls[mark:]


def _base_record(event: Event, answer, route: Route, plan: Plan, calls: list, correct: bool | None,
                 served: str) -> dict[str, Any]:
    local = [c for c in calls if c.route == "local"]
    return {
        "index": event.index, "truth": event.truth, "known": event.known, "site": event.site,
        "route": answer.route, "planned": route.target, "relevance": round(route.relevance, 4),
        "complexity": route.complexity, "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens, "calls": [c.route for c in calls],
        "with_context": local[0].with_context if local else None,
        "prompt_contexts": calls[0].contexts if calls else None,
        "prompt_learned_contexts": calls[0].learned_contexts if calls else None,
        "has_edit": answer.edit is not None, "correct": correct, "served_entry": served,
        "truth_rank": truth_rank(plan, event), "top_match": plan.matches[0].entry.id if plan.matches else "",
        "notes": list(answer.notes),
    }


# -- hybrid-lsp ----------------------------------------------------------------------------------

async def run_hybrid(stream: Stream, root: Path, progress: bool = False,
                     layer: dict[str, Any] | None = None) -> dict[str, Any]:
    oracle = Oracle(stream, stream.seed)
    models = Models(oracle)
    use_remote(models)
    settings = settings_for(models, layer)
    started = time.perf_counter()
    pipeline = Pipeline(root / "hybrid", settings, starter=True)
    pipeline.embedder.warm()  # steady state: no event is planned while the model is still loading
    startup = time.perf_counter() - started
    records: list[dict[str, Any]] = []
    learned_at_site: dict[tuple[str, int], str] = {}
    offsets: list[float] = []
    trajectory: list[dict[str, Any]] = []
    try:
        for event in stream.events:
            text = event.site_data.text
            query = make_query(event, settings)
            oracle.begin(event)
            mark = len(oracle.calls)
            t0 = time.perf_counter()
            plan = pipeline.plan(query, text)
            t1 = time.perf_counter()
            answer = await pipeline.solve(plan, text, event.site_data.path)
            t2 = time.perf_counter()
            served = plan.known_match.entry.id if (answer.route == "known" and answer.edit is not None
                                                   and plan.known_match is not None) else ""
            correct = judge(event, answer.edit, answer.route, served)
            record = _base_record(event, answer, plan.route, plan, _calls(oracle, mark), correct, served)
            record["interaction"] = answer.interaction_id
            if served:
                record["served_via"] = plan.known_match.via
            learned = learned_at_site.get(event.key)
            record["learned_fix_available"] = learned is not None
            if learned is not None and answer.route != "known":
                record["learned_fix_missed"] = _why_missed(pipeline, plan, query, learned)
            if correct is True:
                pipeline.learning.record(answer.interaction_id, "accepted")
                pipeline.learning.record(answer.interaction_id, "validated")
            elif correct is False:
                pipeline.learning.record(answer.interaction_id, "rejected", "the simulated user rejected a wrong fix")
            t3 = time.perf_counter()
            if correct and answer.route in ("local", "remote"):
                interaction = pipeline.history.get(answer.interaction_id)
                if interaction is not None and interaction.learned_entry:
                    learned_at_site.setdefault(event.key, interaction.learned_entry)
            record.update(plan_ms=round((t1 - t0) * 1000, 2), solve_ms=round((t2 - t1) * 1000, 2),
                          record_ms=round((t3 - t2) * 1000, 2), offset=pipeline.routing_offset)
            if pipeline.routing_offset != (offsets[-1] if offsets else 0.0):
                by_route = pipeline.history.stats(7)["accept_rate_by_route"]
                trajectory.append({"event": event.index, "offset": pipeline.routing_offset,
                                   "local_accept": by_route["local"], "remote_accept": by_route["remote"]})
            offsets.append(pipeline.routing_offset)
            records.append(record)
            if progress and (event.index + 1) % 250 == 0:
                print(f"  hybrid-lsp: {event.index + 1}/{len(stream.events)} events, "
                      f"{time.perf_counter() - started:.0f} s", flush=True)
        entries = list(pipeline.knowledge.export())
        stats = pipeline.stats()
        # What hybrid-lsp itself counted as saved for each answer (its counterfactual estimate).
        saved = {i.id: (i.saved_prompt_tokens, i.saved_completion_tokens) for i in pipeline.history.list()}
        for record in records:
            prompt_part, completion_part = saved.get(record["interaction"], (0, 0))
            record.update(self_reported_saved=prompt_part + completion_part, self_reported_saved_prompt=prompt_part,
                          self_reported_saved_completion=completion_part)
        learning = {
            "entries_promoted": sum(e.id.startswith("learned:") for e in entries),
            "patterns_extracted": sum(e.id.startswith("pattern:") for e in entries),
            "routing_offset": pipeline.routing_offset,
            "routing_offset_min": min(offsets, default=0.0),
            "routing_offset_max": max(offsets, default=0.0),
            "routing_offset_changes": sum(1 for a, b in itertools.pairwise(offsets) if a != b),
            # (event index, offset after it) at every change, with hybrid-lsp's own accept rates then.
            "routing_offset_trajectory": trajectory,
            "self_reported": {k: stats.get(k) for k in ("share_without_remote", "token_reduction", "accept_rate",
                                                        "accept_rate_by_route", "tokens", "cost_usd", "routes")},
        }
    finally:
        await pipeline.aclose()
        pipeline.close()
        models.stop()
    return {"records": records, "learning": learning, "seconds": time.perf_counter() - started,
            "startup_seconds": startup, "digest": stream_digest(stream),
            "server_requests": {"local": len(models.local.of("openai")), "remote": len(models.remote.of("anthropic"))}}


def _why_missed(pipeline: Pipeline, plan: Plan, query: ErrorQuery, learned: str) -> str:
    """Why a fix learned at this very site was not served as a known fix."""
    siblings = len(pipeline.store.shards["error-solutions"].find("fingerprint", query.fingerprint, limit=10_000))
    share = f"{siblings} entries share the fingerprint"
    match = next((m for m in plan.matches if m.entry.id == learned), None)
    if match is None:
        if pipeline.knowledge.get(learned) is None:
            return "learned entry no longer stored"
        wide = pipeline.knowledge.search(query.search_text(), key=query.key, fingerprint_=query.fingerprint,
                                         language=query.language, limit=200)
        rank = next((i for i, m in enumerate(wide, start=1) if m.entry.id == learned), None)
        where = f"rank {rank} of a wider search" if rank else "not found by the exact lookups or the search"
        return f"not among the plan's {len(plan.matches)} matches ({where}; {share})"
    if match.relevance < pipeline.settings.routing.known_threshold:
        return (f"found by {match.via} with relevance under the known threshold ({match.relevance:.2f}, "
                f"margin {match.features.margin:.3f}; {share})")
    if demoted(match.counts):
        return f"demoted by its outcomes ({share})"
    return f"its stored edit did not apply ({share})"


# -- always-remote and the seed tree -------------------------------------------------------------------

async def run_baselines(stream: Stream, root: Path, progress: bool = False) -> dict[str, Any]:
    oracle = Oracle(stream, stream.seed)
    models = Models(oracle)
    use_remote(models)
    settings = settings_for(models)
    started = time.perf_counter()
    pipeline = Pipeline(root / "baselines", settings, starter=True)
    pipeline.embedder.warm()
    remote_records: list[dict[str, Any]] = []
    seed_records: list[dict[str, Any]] = []
    try:
        for event in stream.events:
            text, path = event.site_data.text, event.site_data.path
            query = make_query(event, settings)
            plan = pipeline.plan(query, text)
            # Always remote.
            route = Route("remote", plan.route.relevance, plan.route.complexity, "always remote")
            remote_plan = replace(plan, route=route, known_edit=None, known_match=None)
            oracle.begin(event)
            mark = len(oracle.calls)
            answer = await pipeline.solve(remote_plan, text, path)
            correct = judge(event, answer.edit, answer.route, "")
            remote_records.append(_base_record(event, answer, route, remote_plan, _calls(oracle, mark), correct, ""))
            # The seed tree.
            relevance, complexity = seed_relevance(pipeline, query), seed_complexity(event.message)
            target = "local" if seed_should_use_local(relevance, complexity) else "remote"
            route = Route(target, relevance, complexity, f"seed tree: cosine {relevance:.2f}, complexity {complexity}")
            seed_plan = replace(plan, route=route, known_edit=None, known_match=None)
            oracle.begin(event)
            mark = len(oracle.calls)
            answer = await pipeline.solve(seed_plan, text, path)
            correct = judge(event, answer.edit, answer.route, "")
            seed_records.append(_base_record(event, answer, route, seed_plan, _calls(oracle, mark), correct, ""))
            if progress and (event.index + 1) % 250 == 0:
                print(f"  seed tree + always-remote: {event.index + 1}/{len(stream.events)} events, "
                      f"{time.perf_counter() - started:.0f} s", flush=True)
    finally:
        await pipeline.aclose()
        pipeline.close()
        models.stop()
    return {"always-remote": remote_records, "seed-tree": seed_records, "seconds": time.perf_counter() - started,
            "digest": stream_digest(stream)}


def baselines_process(events: int, seed: int, unknown_share: float, root: str, progress: bool) -> dict[str, Any]:
    """Entry point of the worker process: rebuilds the (deterministic) stream and runs the baselines."""
    stream = build(events, seed, unknown_share)
    return asyncio.run(run_baselines(stream, Path(root), progress))
