"""The path every diagnostic takes, shared by the language server and `hybrid-lsp check`.

plan():  fingerprint -> knowledge lookup -> calibrated relevance -> route. Milliseconds, no model.
solve(): the stored fix, or a model call with the code window and the closest solutions, turned
         into a validated edit; falls back local -> remote -> stored explanation on failure;
         every answer is written to interaction-history.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from . import edits, prompts
from .backends import Anthropic, Backend, BackendError, Breaker, Completion, Ollama, OpenAICompatible, Request
from .config import COLLECTIONS, HISTORY, Settings, local_api_key, qdrant_api_key, remote_api_key, remote_url
from .embedding import OLLAMA, Embedder, OllamaEmbedder
from .history import History, Interaction
from .knowledge import KnowledgeBase, Match, read_jsonl_file
from .normalise import version as normalise_version
from .learning import Learning, demoted
from .query import ErrorQuery
from .redact import redact
from .relevance import Calibration
from .accounting import RemoteUsage
from .routing import SETTLED, Availability, OutcomeWindow, Route, adapt_offset, ask_complexity, complexity, decide
from .journal import EntryJournal
from .sharing import Link, Owner, Proxy
from .store import Store, StoreBusy

if TYPE_CHECKING:
    from .team import TeamSync

log = logging.getLogger(__name__)
# Below this calibrated relevance a stored solution is more likely wrong than right: not shown.
SHOW_STORED_FROM = 0.5
STARTER_DIR = Path(__file__).parent / "starter"


@dataclass(slots=True)
class Plan:
    query: ErrorQuery
    matches: list[Match]
    route: Route
    known_edit: edits.LineEdit | None = None
    known_match: Match | None = None

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None


@dataclass(slots=True)
class Answer:
    route: str
    explanation: str
    edit: edits.LineEdit | None = None
    interaction_id: str = ""
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    relevance: float = 0.0
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    title: str = ""

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def starter_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(STARTER_DIR.glob("*.jsonl")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class Pipeline:
    def __init__(self, data_dir: Path, settings: Settings, *, starter: bool = True) -> None:
        self.settings = settings
        self.embedder = Embedder()
        # The model loads while the store opens: start-up costs the longer of the two, not the sum.
        self.embedder.warm_in_background()
        try:
            self._start(data_dir, settings, starter)
        except BaseException:
            self.embedder.settle()
            raise

    def _start(self, data_dir: Path, settings: Settings, starter: bool) -> None:
        self.data_dir = data_dir
        self._owner: Owner | None = None
        self._link: Link | None = None
        self.team: TeamSync | None = None  # the knowledge base on a Qdrant server (in the owner process)
        # One process owns the store; the others reach it through the owner (sharing.py).
        owned = self._open_store()
        if owned is None:
            self._link = Link(data_dir, self._open_store)
            owned = self._link.local
        if owned is None:
            self.store, self.knowledge, self.history = (Proxy(self._link, name) for name in ("store", "knowledge", "history"))
            starter = False  # the owner keeps the starter entries current
        else:
            self.store, self.knowledge, self.history = owned["store"], owned["knowledge"], owned["history"]
        self.learning = Learning(self.knowledge, self.history)
        self._backends: dict[str, Backend] = {}
        self._answers: OrderedDict[str, Answer] = OrderedDict()
        # A dead backend costs no latency: it is skipped while its breaker is open.
        self.breakers = {"local": Breaker(), "remote": Breaker()}
        # Identical requests in flight share one model call: key -> [task, waiters].
        self._inflight: dict[tuple[str, str, str], list] = {}
        if starter:
            self.load_starter()
        if owned is not None:
            self.refresh_normalised()
        recent = self.history.list(30)
        self.remote_usage = RemoteUsage.measure([
            (i.prompt_chars, i.prompt_tokens, i.completion_tokens) for i in recent if i.route == "remote"])
        self.routing_offset = float(self.store.read_meta().get("routing_offset", 0.0))
        # The week adaptation looks at, read once here and then kept up to date as answers and
        # outcomes happen (this process's; other windows on the same data join at their start).
        self.window = OutcomeWindow(days=7)
        for item in recent:
            self.window.answered(item.ts, item.route)
            self.window.settled(item.ts, item.route, "", item.outcome)
        self._outcomes_seen = 0
        self.learning.on_outcome = self._adapt
        if repaired := self.learning.reconcile():
            log.info("applied the effects of %d outcome(s) recorded before an interruption", repaired)

    # -- set-up ------------------------------------------------------------------------------

    def _open_store(self) -> dict | None:
        """Open the store and serve it to other processes; None when another process owns it."""
        try:
            store = Store(self.data_dir, (*COLLECTIONS, HISTORY), self.embedder.model_id, self.embedder.dimensions)
        except StoreBusy:
            return None
        self.store = store
        if self.settings.qdrant.url:
            from .team import join_team

            shared = (*COLLECTIONS, HISTORY) if self.settings.qdrant.history else COLLECTIONS
            self.team = join_team(store, self.settings.qdrant, self.embedder.model_id, self.embedder.dimensions,
                                  shared, qdrant_api_key())
        knowledge = KnowledgeBase(store.shards, self.embedder, Calibration.load(),
                                  self.settings.routing.exact_key_relevance, self._ollama_vectors(self.settings),
                                  EntryJournal(self.data_dir / "entries.jsonl"))
        if replayed := knowledge.replay_journal():
            log.info("applied %d knowledge-base change(s) journaled before an interruption", replayed)
        if self.team is not None:  # answers cached from the server are dropped when it changes
            self.team.on_change.append(knowledge._changed)
        history = History(store.shards[HISTORY], self.embedder)
        targets = {"store": store, "knowledge": knowledge, "history": history}
        try:
            self._owner = Owner(self.data_dir, targets)
        except OSError as exc:  # sharing is a convenience: this window still works on its own
            log.warning("cannot serve the store to other windows: %s", exc)
        return targets

    def _ollama_vectors(self, settings: Settings) -> OllamaEmbedder | None:
        """Ollama embeddings in their own named vector, when configured and reachable."""
        model = settings.embeddings.ollama_model
        if not model:
            return None
        extra = OllamaEmbedder(model, settings.embeddings.ollama_url, settings.embeddings.timeout)
        probe = extra.embed(["dimension probe"])
        if probe is None:
            log.warning("Ollama embeddings (%s at %s) are not available; searching without them",
                        model, settings.embeddings.ollama_url)
            return None
        wanted = {"model": model, "dims": int(probe.shape[1])}
        stored = self.store.read_meta().get("ollama")
        if stored != wanted:
            for name in COLLECTIONS:
                self.store.shards[name].add_dense_vector(OLLAMA, wanted["dims"], replace=stored is not None)
            self.store.update_meta(ollama=wanted)
            if stored is not None:
                log.warning("Ollama embedding model changed; run `hybrid-lsp kb rebuild` to re-embed entries")
        return extra

    def load_starter(self) -> int:
        """Import the shipped starter entries once per starter version; user entries are kept."""
        digest = starter_digest()
        if self.store.read_meta().get("starter") == digest:
            return 0
        entries = [entry for path in sorted(STARTER_DIR.glob("*.jsonl")) for entry in read_jsonl_file(path)]
        self.knowledge.add(entries)
        self.store.update_meta(starter=digest)
        return len(entries)

    def refresh_normalised(self) -> int:
        """Once per version of normalise.py: entries stored by another one are derived again."""
        version = normalise_version()
        if self.store.read_meta().get("normalisation") == version:
            return 0
        started = time.monotonic()
        count = self.knowledge.renormalise()
        self.store.update_meta(normalisation=version)
        if count:
            log.info("normalisation changed: %d stored entr%s derived again in %.1f s", count,
                     "y" if count == 1 else "ies", time.monotonic() - started)
        return count

    def configure(self, settings: Settings) -> None:
        self.settings = settings
        self.knowledge.exact_key_relevance = settings.routing.exact_key_relevance
        old, self._backends = self._backends, {}
        for backend in old.values():
            asyncio.ensure_future(backend.aclose()) if _loop_running() else None

    def availability(self) -> Availability:
        local, remote = self.settings.local, self.settings.remote
        local_reason = "" if local.enabled else "hybridLsp.local.enabled is false"
        if not remote.enabled:
            remote_reason = "hybridLsp.remote.enabled is false"
        elif self.settings.routing.policy == "local-only":
            remote_reason = "policy is local-only"
        elif remote.kind == "openai" and not (remote_url() and remote_api_key("openai")):
            remote_reason = "HYBRID_LSP_REMOTE_URL and HYBRID_LSP_REMOTE_API_KEY are not both set"
        elif remote.kind == "anthropic" and not remote_api_key():
            remote_reason = "ANTHROPIC_API_KEY is not set"
        else:
            remote_reason = ""
        for route, breaker in self.breakers.items():
            if not breaker.allow():
                why = f"{breaker.reason} (retrying in {breaker.retry_in():.0f} s)"
                if route == "local" and not local_reason:
                    local_reason = why
                elif route == "remote" and not remote_reason:
                    remote_reason = why
        return Availability(not local_reason, not remote_reason, local_reason, remote_reason)

    def backend(self, route: str) -> Backend:
        if route not in self._backends:
            self._backends[route] = make_backend(route, self.settings)
        return self._backends[route]

    async def aclose(self) -> None:
        for backend in self._backends.values():
            await backend.aclose()
        self._backends.clear()

    def close(self) -> None:
        self.embedder.settle()
        if self._owner is not None:
            self._owner.close()
        if self._link is not None:
            self._link.close()
        if self._owner is not None or (self._link is not None and self._link.local is not None):
            self.store.close()

    # -- planning: fast, no model ------------------------------------------------------------

    def plan(self, query: ErrorQuery, text: str, diagnostics_in_document: int = 1) -> Plan:
        matches = self.knowledge.lookup(query, self.settings.collections, max(5, self.settings.max_contexts))
        return self._plan(query, text, diagnostics_in_document, matches)

    def cached_plan(self, query: ErrorQuery, text: str, diagnostics_in_document: int = 1) -> Plan | None:
        """The same plan as `plan`, when every lookup it needs is in the knowledge base's cache; else None.

        It reads no store (tens of microseconds of Python), so the language server makes it on the
        event loop rather than paying a hop to a worker thread for it."""
        knowledge = self.knowledge
        if not isinstance(knowledge, KnowledgeBase):
            return None  # a proxy: its lookups go to the process that owns the store
        matches = knowledge.cached_lookup(query, self.settings.collections, max(5, self.settings.max_contexts))
        if matches is None:
            return None
        learned = knowledge.cached_learned_for(query.fingerprint) if query.span is not None else []
        if learned is None:
            return None
        return self._plan(query, text, diagnostics_in_document, matches, learned)

    def _plan(self, query: ErrorQuery, text: str, diagnostics_in_document: int, matches: list[Match],
              learned: list[Match] | None = None) -> Plan:
        known_edit, known_match = self._known_edit(query, text, matches, learned)
        best = matches[0].relevance if matches else 0.0
        relevance = known_match.relevance if known_match else best
        route = decide(
            relevance,
            complexity(query, diagnostics_in_document),
            self.settings.routing,
            self.availability(),
            known_edit=known_edit is not None,
            has_match=bool(matches),
            language=query.language,
            offset=self.routing_offset if self.settings.routing.adapt else 0.0,
        )
        return Plan(query, matches, route, known_edit, known_match)

    def _adapt(self, interaction: Interaction, previous: str) -> None:
        """After outcomes: move the local rules' bars towards the target share (routing.adapt_offset)."""
        self.window.settled(interaction.ts, interaction.route, previous, interaction.outcome)
        routing = self.settings.routing
        if not routing.adapt or interaction.outcome not in SETTLED:
            return  # an offer left aside ("ignored") says nothing about the route's quality
        self._outcomes_seen += 1
        if self._outcomes_seen % 10:
            return  # one step per ten outcomes: each step moves the bars by routing's fixed step
        stats = self.window.figures(time.time())
        decided = stats["decided_by_route"]
        offset = adapt_offset(
            self.routing_offset, local_share=stats["share_without_remote"] or 0.0,
            local_accept=stats["accept_rate_by_route"]["local"], remote_accept=stats["accept_rate_by_route"]["remote"],
            local_decided=decided["local"], remote_decided=decided["remote"],
            target=routing.local_share_target, margin=routing.accept_margin)
        if offset != self.routing_offset:
            log.info("routing offset %.2f -> %.2f from outcomes", self.routing_offset, offset)
            self.routing_offset = offset
            self.store.update_meta(routing_offset=offset)

    def _known_edit(self, query: ErrorQuery, text: str, matches: list[Match],
                    learned: list[Match] | None = None) -> tuple[edits.LineEdit | None, Match | None]:
        if query.span is None:
            return None, None
        first = query.span.start_line
        last = query.span.end_line
        if last > first and query.span.end_char == 0:
            last -= 1
        # Learned fixes (one per place they were made) share the message's fingerprint: look at
        # all of them, not only the few that made the ranked matches.
        if learned is None:
            learned = self.knowledge.learned_for(query.fingerprint)
        candidates = list(matches) + learned
        seen: set[str] = set()
        for match in candidates:
            stored = match.entry.edit
            if match.entry.id in seen or stored is None:
                continue
            seen.add(match.entry.id)
            if match.relevance < self.settings.routing.known_threshold or demoted(match.counts):
                continue
            if "learned" in match.entry.tags and match.via != "fingerprint":
                continue  # a learned fix answers only its own message, never a relative sharing a rule code
            try:
                return edits.from_pattern(text, first, last, stored.pattern, stored.replacement,
                                          query.normalised.identifiers), match
            except edits.EditError:
                continue
        return None, None

    # -- solving: may call a model -------------------------------------------------------------

    async def solve(self, plan: Plan, text: str, path: str, on_text: Callable[[str], None] | None = None) -> Answer:
        started = time.perf_counter()
        query, route = plan.query, plan.route
        if route.target == "known" and plan.known_edit is not None and plan.known_match is not None:
            entry = plan.known_match.entry
            answer = Answer("known", entry.solution, plan.known_edit, relevance=route.relevance,
                            reason=route.reason, title=entry.title)
        elif not route.can_fix:
            answer = self._stored_explanation(plan, [])
        else:
            answer = await self._shared(plan, text, path, on_text)
        lines = edits.split_lines(text)
        edit = answer.edit
        span = query.span
        # What the remote route sends for this question (or would have sent): the counterfactual.
        remote_prompt = prompts.fix_prompt(query, self._contexts(plan, "remote"), path, self.settings.remote.context_tokens)
        # Only an answer that stood in for a remote one counts: a fix, or a local model's answer.
        stood_in = answer.route != "remote" and (edit is not None or answer.route == "local" and bool(answer.model))
        saved = self.remote_usage.estimate(len(prompts.SYSTEM) + len(remote_prompt)) if stood_in else (0, 0)
        if answer.route == "remote" and answer.prompt_tokens:
            self._measured_remote(len(prompts.SYSTEM) + len(remote_prompt), answer)
        answer.interaction_id = await asyncio.to_thread(self.history.record, Interaction(
            kind="fix", query=query.message, fingerprint=query.fingerprint, route=answer.route,
            relevance=route.relevance, complexity=route.complexity, reason=answer.reason or route.reason,
            model=answer.model, prompt_tokens=answer.prompt_tokens, completion_tokens=answer.completion_tokens,
            latency_ms=round((time.perf_counter() - started) * 1000, 2), source=query.source, code=query.code,
            language=query.language, entry_ids=[m.entry.id for m in plan.matches[:3]],
            explanation=answer.explanation, has_edit=edit is not None, error="; ".join(answer.notes),
            served_entry=plan.known_match.entry.id if answer.route == "known" and plan.known_match and edit else "",
            span_start=span.start_line if span else -1,
            span_end=(span.end_line - 1 if span and span.end_line > span.start_line and span.end_char == 0 else span.end_line) if span else -1,
            edit_start=edit.start if edit else -1,
            old_lines=lines[edit.start : edit.end] if edit else [],
            new_lines=list(edit.new_lines) if edit else [],
            prompt_chars=len(prompts.SYSTEM) + len(remote_prompt),
            saved_prompt_tokens=saved[0], saved_completion_tokens=saved[1],
        ))
        self.window.answered(time.time(), answer.route)
        self._remember(query.fingerprint, answer)
        return answer

    def _measured_remote(self, prompt_chars: int, answer: Answer) -> None:
        """Each remote call refines the characters-per-token ratio used for the counterfactual."""
        usage = self.remote_usage
        calls = usage.samples
        chars = usage.chars_per_token * calls + prompt_chars / max(1, answer.prompt_tokens)
        completion = (usage.completion_tokens * calls + answer.completion_tokens) / (calls + 1)
        self.remote_usage = RemoteUsage(chars / (calls + 1), int(completion), calls + 1)

    def _stored_explanation(self, plan: Plan, notes: list[str]) -> Answer:
        best = plan.best
        if best is None or best.relevance < SHOW_STORED_FROM:
            if best is not None:
                notes = [*notes, f"closest stored solution {best.entry.id!r} has relevance {best.relevance:.2f}, too low to show"]
            return Answer(plan.route.target, "No stored solution matches this diagnostic and no model could be asked.",
                          relevance=plan.route.relevance, reason=plan.route.reason, notes=notes)
        text = best.entry.solution
        if best.entry.fix:
            text += "\n\nExample:\n" + best.entry.fix
        if best.relevance < self.settings.routing.known_threshold:
            text = f"(closest stored solution, relevance {best.relevance:.2f}: it may not apply)\n{text}"
        return Answer("known", text, relevance=best.relevance, reason=plan.route.reason, notes=notes,
                      title=best.entry.title)

    def _contexts(self, plan: Plan, route: str) -> list[prompts.Context]:
        # The remote route only gets context that is likely to help (reference design: > 0.7).
        floor = 0.7 if route == "remote" else 0.3
        return [
            prompts.Context(m.entry.title, m.entry.error, m.entry.solution, m.entry.fix, m.relevance)
            for m in plan.matches[: self.settings.max_contexts] if m.relevance >= floor
        ]

    async def _shared(self, plan: Plan, text: str, path: str, on_text: Callable[[str], None] | None) -> Answer:
        """Identical requests in flight (same error, same code window) share one model call.

        The call is cancelled only when every request waiting on it has been cancelled.
        """
        window = plan.query.window
        key = (plan.route.target, plan.query.fingerprint,
               hashlib.sha256("\n".join(window.lines if window else ()).encode()).hexdigest())
        entry = self._inflight.get(key)
        first = entry is None
        if first:
            task = asyncio.ensure_future(self._ask_models(plan, text, path, on_text))
            entry = self._inflight[key] = [task, 0]
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        entry[1] += 1
        try:
            answer = await asyncio.shield(entry[0])
        except asyncio.CancelledError:
            entry[1] -= 1
            if entry[1] == 0:
                entry[0].cancel()
            raise
        if first:
            return answer
        # The tokens were paid once, by the first request.
        return replace(answer, prompt_tokens=0, completion_tokens=0,
                       notes=[*answer.notes, "shared the answer of an identical request in flight"])

    async def _ask_models(self, plan: Plan, text: str, path: str, on_text: Callable[[str], None] | None = None) -> Answer:
        availability = self.availability()
        order = [plan.route.target]
        other = "remote" if plan.route.target == "local" else "local"
        if (other == "remote" and availability.remote) or (other == "local" and availability.local):
            order.append(other)
        notes: list[str] = []
        for target in order:
            try:
                answer = await self._ask_one(plan, text, path, target, notes, on_text)
            except BackendError as exc:
                notes.append(str(exc))
                self._backend_failed(target, exc)
                continue
            self.breakers[target].success()
            return answer
        return self._stored_explanation(plan, notes)

    def _backend_failed(self, route: str, exc: BackendError) -> None:
        log.info("%s route failed: %s", route, exc)
        self.breakers[route].failure(exc)

    async def _ask_one(self, plan: Plan, text: str, path: str, target: str, notes: list[str],
                       on_text: Callable[[str], None] | None = None) -> Answer:
        query = plan.query
        backend = self.backend(target)
        budget = (self.settings.local if target == "local" else self.settings.remote).context_tokens
        prompt = prompts.fix_prompt(query, self._contexts(plan, target), path, budget)
        redactions = 0
        if target == "remote":
            cleaned = redact(prompt)
            prompt, redactions = cleaned.text, cleaned.total
            if cleaned.total:
                log.info("redacted %s before the remote call", cleaned.counts)
        completion = await backend.complete(Request(prompts.SYSTEM, prompt, prompts.FIX_SCHEMA, on_text))
        usage = [completion]
        window = query.window
        first, size = (window.first_line, len(window.lines)) if window else (0, 0)
        try:
            fix = prompts.parse_fix(completion.text, first, size)
        except prompts.FixFormatError as exc:
            retry = f"{prompt}\n\nYour previous answer could not be used: {exc}. Reply with the JSON object only."
            completion = await backend.complete(Request(prompts.SYSTEM, retry, prompts.FIX_SCHEMA, on_text))
            usage.append(completion)
            try:
                fix = prompts.parse_fix(completion.text, first, size)
            except prompts.FixFormatError as again:
                notes.append(f"the {target} model's answer was not a usable fix ({again})")
                fix = prompts.ProposedFix(completion.text.strip()[:2000], None)
        edit = fix.edit
        if edit is not None:
            try:
                edit.check(len(edits.split_lines(text)))
            except edits.EditError as exc:
                notes.append(str(exc))
                edit = None
        reason = plan.route.reason if target == plan.route.target else f"fell back to the {target} model"
        if redactions:
            notes.append(f"{redactions} secret(s) redacted before sending")
        return Answer(target, fix.explanation, edit, model=completion.model,
                      prompt_tokens=sum(c.prompt_tokens for c in usage),
                      completion_tokens=sum(c.completion_tokens for c in usage),
                      relevance=plan.route.relevance, reason=reason, notes=notes)

    async def ask(self, question: str, code: str | None, on_text: Callable[[str], None] | None = None) -> Answer:
        """A free-form question, routed by how close the knowledge base gets to it."""
        started = time.perf_counter()
        query = ErrorQuery(message=question)
        plan = self.plan(query, "")
        route = plan.route
        plan.route = decide(route.relevance, ask_complexity(question, code), self.settings.routing, self.availability(),
                            known_edit=False, has_match=bool(plan.matches),
                            offset=self.routing_offset if self.settings.routing.adapt else 0.0)
        contexts = [
            prompts.Context(m.entry.title, m.entry.error, m.entry.solution, m.entry.fix, m.relevance)
            for m in plan.matches[: self.settings.max_contexts] if m.relevance >= 0.3
        ]
        prompt = prompts.ask_prompt(question, code, contexts)
        notes: list[str] = []
        answer: Answer | None = None
        availability = self.availability()
        order = [plan.route.target] if plan.route.target in ("local", "remote") else []
        for extra in ("local", "remote"):
            if extra not in order and getattr(availability, extra):
                order.append(extra)
        for target in order:
            if not getattr(availability, target):
                continue
            sent = redact(prompt).text if target == "remote" else prompt
            try:
                completion: Completion = await self.backend(target).complete(Request(prompts.ASK_SYSTEM, sent, None, on_text))
            except BackendError as exc:
                notes.append(str(exc))
                self._backend_failed(target, exc)
                continue
            self.breakers[target].success()
            answer = Answer(target, completion.text.strip(), model=completion.model,
                            prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens,
                            relevance=plan.route.relevance, reason=plan.route.reason, notes=notes)
            break
        if answer is None:
            answer = self._stored_explanation(plan, notes or [plan.route.reason])
        saved = self.remote_usage.estimate(len(prompts.ASK_SYSTEM) + len(prompt)) if answer.route == "local" else (0, 0)
        answer.interaction_id = await asyncio.to_thread(self.history.record, Interaction(
            kind="ask", query=question, fingerprint=query.fingerprint, route=answer.route,
            prompt_chars=len(prompts.ASK_SYSTEM) + len(prompt), saved_prompt_tokens=saved[0], saved_completion_tokens=saved[1],
            relevance=plan.route.relevance, complexity=plan.route.complexity, reason=answer.reason,
            model=answer.model, prompt_tokens=answer.prompt_tokens, completion_tokens=answer.completion_tokens,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            entry_ids=[m.entry.id for m in plan.matches[:3]], explanation=answer.explanation,
            error="; ".join(answer.notes),
        ))
        self.window.answered(time.time(), answer.route)
        return answer

    # -- answers remembered for hover ----------------------------------------------------------

    def _remember(self, fingerprint: str, answer: Answer) -> None:
        self._answers[fingerprint] = answer
        self._answers.move_to_end(fingerprint)
        while len(self._answers) > 512:
            self._answers.popitem(last=False)

    def prefetch(self, limit: int = 50) -> int:
        """Warm the search cache with the diagnostics users hit most (the reference design's
        prefetch of common queries), so their first code action of the day is as quick as the rest."""
        counts: dict[tuple[str, str, str, str], int] = {}
        for item in self.history.list(30):
            if item.kind == "fix":
                key = (item.query, item.source, item.code, item.language)
                counts[key] = counts.get(key, 0) + 1
        common = sorted(counts, key=counts.get, reverse=True)[:limit]
        for message, source, code, language in common:
            query = ErrorQuery(message=message, source=source, code=code, language=language)
            self.knowledge.lookup(query, self.settings.collections, max(5, self.settings.max_contexts))
        return len(common)

    def stats(self, days: float | None = None) -> dict:
        data = self.history.stats(days, self.settings.prices, self.settings.remote.model)
        data["routing_offset"] = self.routing_offset
        return data

    def last_answer(self, fingerprint: str) -> Answer | None:
        return self._answers.get(fingerprint)


def make_backend(route: str, settings: Settings) -> Backend:
    if route == "local":
        local = settings.local
        return Ollama(local) if local.kind == "ollama" else OpenAICompatible.local(local, local_api_key())
    remote = settings.remote
    if remote.kind == "openai":
        return OpenAICompatible("remote", remote_url() or "", remote.model, api_key=remote_api_key("openai"),
                                timeout=remote.timeout, max_tokens=remote.max_tokens, temperature=None)
    return Anthropic(remote, remote_api_key() or "")


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False
