"""The language server: thin LSP handlers around the pipeline.

codeAction answers from the knowledge base in milliseconds and never calls a model; the model
call happens in codeAction/resolve (or in the hybridLsp.applyFix command for clients that cannot
resolve edits), with work-done progress and cancellation. Diagnostics arrive in code action
contexts and through the `hybridLsp/diagnostics` notification, kept per document for hover.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
import cattrs
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.uris import to_fs_path

from . import __version__
from .config import Settings, load_settings
import time

from .edits import LineEdit, lsp_range, unified_diff
from .outcomes import OutcomeTracker, PendingFix
from .pipeline import Answer, Pipeline, Plan
from .query import ErrorQuery, Span, code_window, language_for
from .store import StoreError

if TYPE_CHECKING:
    from .team import TeamSync

log = logging.getLogger(__name__)

DIAGNOSTICS_NOTIFICATION = "hybridLsp/diagnostics"
CMD_ASK = "hybridLsp.ask"
CMD_ACCEPT = "hybridLsp.accept"
CMD_REJECT = "hybridLsp.reject"
CMD_STATS = "hybridLsp.stats"
CMD_APPLY = "hybridLsp.applyFix"
CMD_EXPLAIN = "hybridLsp.explain"
MAX_ACTIONS = 8
QUERY_MEMO = 512  # ErrorQuery objects kept for reuse (see HybridServer.error_query)


class Protocol(LanguageServerProtocol):
    """Answers a request whose params cannot be read with an error naming what is wrong.

    pygls drops such a request without a response, leaving the editor waiting forever.
    """

    def structure_message(self, data):
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data, dict) and "id" in data and isinstance(data.get("method"), str):
                cause = exc.__cause__
                detail = "; ".join(cattrs.transform_error(cause))[:500] if isinstance(cause, cattrs.BaseValidationError) else str(cause)
                error = JsonRpcInvalidParams(f"invalid params for {data['method']}: {detail}")
                self._send_response(data["id"], error=error.to_response_error())
            raise


class HybridServer(LanguageServer):
    def __init__(self, data_dir: Path, starter: bool) -> None:
        super().__init__("hybrid-lsp", __version__, protocol_cls=Protocol)
        self.data_dir = data_dir
        self.starter = starter
        self.pipeline: Pipeline | None = None
        self.unavailable = ""  # why the knowledge base could not be opened
        self.diagnostics: dict[str, list[types.Diagnostic]] = {}
        self.editor_settings: dict[str, Any] | None = None
        self.resolves_edit = False
        self.tracker = OutcomeTracker(Settings().undo_window)
        # Stored fixes computed inside codeAction for clients that cannot resolve: one interaction
        # per diagnostic and document version, however often the editor asks.
        self.eager: dict[tuple, Answer] = {}
        self._warned: dict[str, float] = {}
        self._queries: dict[tuple, ErrorQuery] = {}

    def warn_once(self, message: str, every: float = 300.0) -> None:
        """A failing backend is reported once in a while, not on every request."""
        now = time.monotonic()
        if now - self._warned.get(message, -every) >= every:
            self._warned[message] = now
            self.window_show_message(types.ShowMessageParams(types.MessageType.Warning, f"hybrid-lsp: {message}"))

    # -- helpers used by the handlers ------------------------------------------------------------

    def require_pipeline(self) -> Pipeline:
        if self.pipeline is None:
            raise JsonRpcInvalidParams(f"hybrid-lsp has no knowledge base: {self.unavailable}")
        return self.pipeline

    def apply_settings(self, editor: dict[str, Any] | None) -> None:
        settings, errors = load_settings(editor)
        self.tracker.undo_window = settings.undo_window
        if self.pipeline is not None:
            self.pipeline.configure(settings)
        for error in errors:
            self.window_show_message(types.ShowMessageParams(types.MessageType.Warning, f"hybrid-lsp: {error}"))
            log.warning("settings: %s", error)

    def remember_diagnostics(self, uri: str, diagnostics: list[types.Diagnostic], replace: bool) -> None:
        """Keep one diagnostic per (range, code, message): clients echo them with fields missing."""
        known = {} if replace else {_identity(d): d for d in self.diagnostics.get(uri, [])}
        for diagnostic in diagnostics:
            key = _identity(diagnostic)
            if key not in known or (diagnostic.source and not known[key].source):
                known[key] = diagnostic
        self.diagnostics[uri] = list(known.values())[-200:]

    def error_query(self, *fields: Any) -> ErrorQuery:
        """ErrorQuery(*fields), reused while the same fields come again: editors ask about the same
        diagnostics on every cursor move, and normalising a message is most of a query's cost.
        Queries are immutable and made from these fields alone, so a reused one is the same query."""
        query = self._queries.get(fields)
        if query is None:
            query = ErrorQuery(*fields)
            if len(self._queries) >= QUERY_MEMO:
                del self._queries[next(iter(self._queries))]  # the oldest
            self._queries[fields] = query
        return query

    def query_for(self, uri: str, diagnostic: types.Diagnostic, text: str, language_id: str | None,
                  others: list[types.Diagnostic], lines: list[str] | None = None) -> ErrorQuery:
        lines = text.split("\n") if lines is None else lines
        r = diagnostic.range
        span = Span(r.start.line, r.start.character, r.end.line, r.end.character)
        settings = self.pipeline.settings if self.pipeline else Settings()
        source = diagnostic.source or ""
        return self.error_query(
            diagnostic.message,  # message, source, code, severity, language, span, window, related
            source,
            diagnostic.code if diagnostic.code is not None else "",
            int(diagnostic.severity or 1),
            language_for(uri, language_id, source),
            span,
            code_window(lines, span, settings.context_lines),
            tuple(d.message for d in others if d is not diagnostic)[:5],
        )

    def workspace_edit(self, uri: str, version: int | None, text: str, edit: LineEdit, codec) -> types.WorkspaceEdit:
        (sl, sc), (el, ec), new_text = lsp_range(text, edit)
        lines = text.split("\n")
        # Characters count in the client's position encoding (UTF-16 unless negotiated otherwise).
        sc = codec.client_num_units(lines[sl][:sc]) if sc else 0
        ec = codec.client_num_units(lines[el][:ec]) if ec else 0
        text_edit = types.TextEdit(types.Range(types.Position(sl, sc), types.Position(el, ec)), new_text)
        if _supports(self, "workspace.workspace_edit.document_changes"):
            return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
                types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version), [text_edit])])
        return types.WorkspaceEdit(changes={uri: [text_edit]})

    async def record(self, transitions: list[tuple[str, str]]) -> None:
        """Write outcome transitions (durable before this returns) and what they teach."""
        if self.pipeline is None:
            return
        for interaction_id, outcome in transitions:
            try:
                await asyncio.to_thread(self.pipeline.learning.record, interaction_id, outcome)
            except (KeyError, ValueError) as exc:
                log.warning("cannot record %s for %s: %s", outcome, interaction_id, exc)

    def offer(self, uri: str, query: ErrorQuery, answer: Answer, text: str) -> None:
        """Follow an offered edit through the document's later life (see outcomes.py)."""
        if answer.edit is None or not answer.interaction_id:
            return
        lines = text.split("\n")
        edit = answer.edit
        transitions = self.tracker.offered(PendingFix(
            answer.interaction_id, uri, query.fingerprint, query.message, edit.start,
            tuple(lines[edit.start : edit.end]), tuple(edit.new_lines), time.time()))
        if transitions:
            asyncio.ensure_future(self.record(transitions))

    def seen_diagnostics(self, uri: str, diagnostics: list[types.Diagnostic], version: int | None, complete: bool) -> None:
        present = {(q.fingerprint, q.message) for q in
                   (self.error_query(d.message, d.source or "", d.code if d.code is not None else "") for d in diagnostics)}
        transitions = self.tracker.diagnostics(uri, present, version, complete)
        if transitions:
            asyncio.ensure_future(self.record(transitions))

    @asynccontextmanager
    async def progress(self, title: str):
        """Work-done progress when the client supports it; its cancel button cancels the work."""
        if not _supports(self, "window.work_done_progress"):
            yield lambda message: None
            return
        token = str(uuid.uuid4())
        task = asyncio.current_task()
        try:
            await self.work_done_progress.create_async(token)
        except Exception:  # a client may refuse; the work goes on without a progress bar
            yield lambda message: None
            return
        cancel = self.work_done_progress.tokens.get(token)
        if cancel is not None and task is not None:
            cancel.add_done_callback(lambda f: task.cancel() if f.cancelled() else None)
        self.work_done_progress.begin(token, types.WorkDoneProgressBegin(title=title, cancellable=True))
        try:
            yield lambda message: self.work_done_progress.report(token, types.WorkDoneProgressReport(message=message))
        finally:
            self.work_done_progress.end(token, types.WorkDoneProgressEnd())
            self.work_done_progress.tokens.pop(token, None)


def _supports(ls: LanguageServer, path: str) -> bool:
    value: Any = ls.client_capabilities
    for part in path.split("."):
        value = getattr(value, part, None)
        if value is None:
            return False
    return bool(value)


def _plain(value: Any) -> Any:
    """Custom notifications arrive as namedtuples; turn them back into JSON-like values."""
    if hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _identity(d: types.Diagnostic) -> tuple:
    r = d.range
    return (r.start.line, r.start.character, r.end.line, r.end.character, str(d.code or ""), d.message)


def _overlaps(a: types.Range, b: types.Range) -> bool:
    return (a.start.line, a.start.character) <= (b.end.line, b.end.character) and \
           (b.start.line, b.start.character) <= (a.end.line, a.end.character)


def _title(plan: Plan, pipeline: Pipeline) -> str:
    route = plan.route
    if route.target == "known" and plan.known_match is not None and plan.known_edit is not None:
        return f"Hybrid: {plan.known_match.entry.title or 'Apply known fix'} (known fix, 0 tokens)"
    if not route.can_fix:
        best = plan.best
        return f"Hybrid: Explain: {best.entry.title if best else 'no model available'} (stored solution)"
    if route.target == "local":
        return f"Hybrid: Fix with local model ({pipeline.settings.local.model})"
    return f"Hybrid: Fix with Claude ({pipeline.settings.remote.model})"


def _hover_text(query: ErrorQuery, plan: Plan, answer: Answer | None) -> str:
    tool = f"{query.source} {query.code}".strip()
    head = f"**hybrid-lsp**" + (f" · `{tool}`" if tool else "")
    if answer is not None:
        body = answer.explanation
        footer = (f"route: {answer.route} · relevance {answer.relevance:.2f} · "
                  f"{answer.tokens} tokens" + (f" · {answer.model}" if answer.model else ""))
    elif plan.best is not None:
        best = plan.best
        body = (f"**{best.entry.title}**\n\n" if best.entry.title else "") + best.entry.solution
        if best.entry.fix:
            body += f"\n\n```{best.entry.language}\n{best.entry.fix}\n```"
        footer = f"stored solution `{best.entry.id}` · relevance {best.relevance:.2f} · 0 tokens"
    else:
        body = "No stored solution matches; use the quick fix to ask a model."
        footer = ""
    footer += f"\n\nroute: {plan.route.target} — {plan.route.reason}"
    return f"{head}\n\n{body}\n\n---\n{footer}"


def build(data_dir: Path, starter: bool) -> HybridServer:
    server = HybridServer(data_dir, starter)

    @server.feature(types.INITIALIZE)
    async def initialize(ls: HybridServer, params: types.InitializeParams) -> None:
        caps = params.capabilities
        resolve = getattr(getattr(getattr(caps.text_document, "code_action", None), "resolve_support", None), "properties", None)
        ls.resolves_edit = bool(resolve and "edit" in resolve)
        options = params.initialization_options
        if isinstance(options, dict) and isinstance(options.get("hybridLsp"), dict):
            options = options["hybridLsp"]
        ls.editor_settings = options if isinstance(options, dict) else None
        settings, errors = load_settings(ls.editor_settings)
        try:
            ls.pipeline = await asyncio.to_thread(Pipeline, ls.data_dir, settings, starter=ls.starter)
        except StoreError as exc:
            ls.unavailable = str(exc)
        ls._pending_messages = errors

    @server.feature(types.INITIALIZED)
    async def initialized(ls: HybridServer, params: types.InitializedParams) -> None:
        if ls.unavailable:
            ls.window_show_message(types.ShowMessageParams(types.MessageType.Error, f"hybrid-lsp: {ls.unavailable}"))
        for error in getattr(ls, "_pending_messages", []):
            ls.window_show_message(types.ShowMessageParams(types.MessageType.Warning, f"hybrid-lsp: {error}"))
        if _supports(ls, "workspace.configuration"):
            await _pull_configuration(ls)
        if ls.pipeline is not None and ls.pipeline.team is not None:
            _watch_team(ls, ls.pipeline.team)
        if ls.pipeline is not None:
            # Warm the cache for common diagnostics while the editor is still loading.
            asyncio.ensure_future(asyncio.to_thread(ls.pipeline.prefetch))

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: HybridServer, params: types.DidChangeConfigurationParams) -> None:
        if _supports(ls, "workspace.configuration"):
            await _pull_configuration(ls)
            return
        settings = params.settings
        if isinstance(settings, dict) and isinstance(settings.get("hybridLsp"), dict):
            ls.apply_settings(settings["hybridLsp"])

    @server.feature(DIAGNOSTICS_NOTIFICATION)
    async def diagnostics(ls: HybridServer, params: Any) -> None:
        raw = _plain(params)
        if not isinstance(raw, dict) or not isinstance(raw.get("uri"), str) or not isinstance(raw.get("diagnostics"), list):
            log.warning("%s: expected {uri, version?, diagnostics: Diagnostic[]}; ignored", DIAGNOSTICS_NOTIFICATION)
            return
        kept, dropped = [], 0
        for item in raw["diagnostics"]:
            try:
                kept.append(ls.protocol._converter.structure(item, types.Diagnostic))
            except Exception:
                dropped += 1
        if dropped:
            log.warning("%s: %d malformed diagnostic(s) for %s ignored", DIAGNOSTICS_NOTIFICATION, dropped, raw["uri"])
        ls.remember_diagnostics(raw["uri"], kept, replace=True)
        version = raw.get("version") if isinstance(raw.get("version"), int) else None
        ls.seen_diagnostics(raw["uri"], kept, version, complete=True)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: HybridServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.diagnostics.pop(params.text_document.uri, None)
        await ls.record(ls.tracker.closed(params.text_document.uri))

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: HybridServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        document = ls.workspace.get_text_document(uri)
        transitions = ls.tracker.document_changed(uri, document.source.split("\n"), document.version, time.time())
        if transitions:
            await ls.record(transitions)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix], resolve_provider=True),
    )
    async def code_action(ls: HybridServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
        if ls.pipeline is None:
            return None
        uri = params.text_document.uri
        document = ls.workspace.get_text_document(uri)
        text, version = document.source, document.version
        ls.remember_diagnostics(uri, list(params.context.diagnostics), replace=False)
        ls.seen_diagnostics(uri, list(params.context.diagnostics), version, complete=False)
        wanted = [d for d in ls.diagnostics.get(uri, []) if _overlaps(d.range, params.range)]
        if not wanted:
            return None
        everything = ls.diagnostics.get(uri, [])
        lines = text.split("\n")
        queries = [ls.query_for(uri, d, text, document.language_id, everything, lines) for d in wanted[:MAX_ACTIONS]]
        pipeline = ls.pipeline
        plans = await _plans(pipeline, queries, text, len(everything))
        actions = []
        for diagnostic, plan in zip(wanted, plans):
            # A resolving client sends the action back whole, its diagnostic included: the data
            # need not carry a second copy (half of each action's bytes, on every cursor move).
            data = {"uri": uri, "version": version}
            action = types.CodeAction(title=_title(plan, pipeline), kind=types.CodeActionKind.QuickFix,
                                      diagnostics=[diagnostic], data=data)
            if not ls.resolves_edit:
                if plan.route.target == "known" and plan.known_edit is not None:
                    # A stored fix is instant: give it eagerly, no model is involved.
                    answer = await _eager(ls, pipeline, uri, version, diagnostic, plan, text)
                    action.edit = ls.workspace_edit(uri, version, text, answer.edit, document.position_codec)
                    if _supports(ls, "workspace.apply_edit"):
                        # Clients that can take commands run this after the edit; the rest
                        # (e.g. ALE, which runs only the command) are seen accepting in didChange.
                        action.command = types.Command(title="Record that the fix was applied", command=CMD_ACCEPT,
                                                       arguments=[answer.interaction_id])
                else:  # the command's argument is all the client will send back
                    argument = {**data, "diagnostic": ls.protocol._converter.unstructure(diagnostic)}
                    action.command = types.Command(title=action.title, command=CMD_APPLY, arguments=[argument])
            actions.append(action)
            offered = pipeline.last_answer(plan.query.fingerprint)
            pending = ls.tracker.get(offered.interaction_id) if offered else None
            if pending is not None and pending.message == diagnostic.message and pending.state in ("offered", "accepted"):
                title = f"Hybrid: Reject the {offered.route} suggestion for this error"
                actions.append(types.CodeAction(
                    title=title, kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                    command=types.Command(title=title, command=CMD_REJECT, arguments=[offered.interaction_id, ""])))
        return actions

    @server.feature(types.CODE_ACTION_RESOLVE)
    async def resolve(ls: HybridServer, action: types.CodeAction) -> types.CodeAction:
        pipeline = ls.require_pipeline()
        uri, diagnostic = _action_data(ls, action.data, action.diagnostics)
        answer, document = await _solve(ls, pipeline, uri, diagnostic)
        if answer.edit is not None:
            action.edit = ls.workspace_edit(uri, document.version, document.source, answer.edit, document.position_codec)
            ls.offer(uri, ls.query_for(uri, diagnostic, document.source, document.language_id, []), answer, document.source)
            action.command = types.Command(title="Record that the fix was applied", command=CMD_ACCEPT, arguments=[answer.interaction_id])
        else:
            action.command = types.Command(title="Show the explanation", command=CMD_EXPLAIN, arguments=[answer.interaction_id])
        return action

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: HybridServer, params: types.HoverParams) -> types.Hover | None:
        if ls.pipeline is None:
            return None
        uri = params.text_document.uri
        position = types.Range(params.position, params.position)
        here = [d for d in ls.diagnostics.get(uri, []) if _overlaps(d.range, position)]
        if not here:
            return None
        document = ls.workspace.get_text_document(uri)
        text = document.source
        everything = ls.diagnostics.get(uri, [])
        pipeline = ls.pipeline
        queries = [ls.query_for(uri, d, text, document.language_id, everything) for d in here[:3]]
        plans = await _plans(pipeline, queries, text, len(everything))
        parts = [_hover_text(q, p, pipeline.last_answer(q.fingerprint)) for q, p in zip(queries, plans)]
        formats = getattr(getattr(getattr(ls.client_capabilities, "text_document", None), "hover", None), "content_format", None)
        if formats and types.MarkupKind.Markdown not in formats:
            plain = "\n\n".join(parts).replace("**", "").replace("`", "")
            return types.Hover(types.MarkupContent(types.MarkupKind.PlainText, plain), range=here[0].range)
        return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, "\n\n".join(parts)), range=here[0].range)

    @server.command(CMD_APPLY)
    async def apply_fix(ls: HybridServer, *args: Any) -> dict[str, Any]:
        """For clients that cannot resolve edits: compute the fix, then ask the editor to apply it."""
        pipeline = ls.require_pipeline()
        if len(args) != 1:
            raise JsonRpcInvalidParams(f"{CMD_APPLY} takes one argument (the code action's data), got {len(args)}")
        uri, diagnostic = _action_data(ls, _plain(args[0]))
        answer, document = await _solve(ls, pipeline, uri, diagnostic)
        applied = False
        if answer.edit is not None and _supports(ls, "workspace.apply_edit"):
            ls.offer(uri, ls.query_for(uri, diagnostic, document.source, document.language_id, []), answer, document.source)
            edit = ls.workspace_edit(uri, document.version, document.source, answer.edit, document.position_codec)
            try:
                result = await asyncio.wait_for(ls.workspace_apply_edit_async(
                    types.ApplyWorkspaceEditParams(edit=edit, label="hybrid-lsp fix")), timeout=30)
                applied = bool(result.applied)
            except asyncio.TimeoutError:
                log.warning("the client did not answer workspace/applyEdit within 30 s")
            if applied:
                version = ls.workspace.get_text_document(uri).version
                await ls.record(ls.tracker.accepted(answer.interaction_id, time.time(), version))
        if not applied:
            text = answer.explanation[:2000]
            if answer.edit is not None:
                text += "\n\n" + unified_diff(document.source, answer.edit, to_fs_path(uri) or uri)[:2000]
            ls.window_show_message(types.ShowMessageParams(types.MessageType.Info, text))
        return _answer_json(answer) | {"applied": applied}

    @server.command(CMD_ASK)
    async def ask(ls: HybridServer, *args: Any) -> dict[str, Any]:
        """Arguments: question (string), then optionally uri (string) and range (LSP Range) for context;
        or a single object {question, uri?, range?}."""
        pipeline = ls.require_pipeline()
        question, uri, rng = _ask_arguments([_plain(a) for a in args])
        code = None
        if uri:
            document = ls.workspace.get_text_document(uri)
            lines = document.source.split("\n")
            if rng is not None:
                start, end = max(0, rng["start"]["line"]), min(len(lines) - 1, rng["end"]["line"])
                code = "\n".join(lines[start : end + 1]) if lines and start <= end else None
            else:
                code = document.source[:20000] or None
        async with ls.progress("hybrid-lsp: thinking") as report:
            answer = await pipeline.ask(question, code, on_text=_streamed(report))
        return _answer_json(answer)

    @server.command(CMD_ACCEPT)
    async def accept(ls: HybridServer, *args: Any) -> dict[str, Any]:
        """Argument: the interaction id. Safe to run twice."""
        return await _set_outcome(ls, args, "accepted")

    @server.command(CMD_REJECT)
    async def reject(ls: HybridServer, *args: Any) -> dict[str, Any]:
        """Arguments: the interaction id, then optionally a reason."""
        return await _set_outcome(ls, args, "rejected")

    @server.command(CMD_STATS)
    async def stats(ls: HybridServer, *args: Any) -> dict[str, Any]:
        """Optional argument: days to look back."""
        pipeline = ls.require_pipeline()
        days = args[0] if args else None
        if days is not None and (not isinstance(days, (int, float)) or isinstance(days, bool) or days <= 0):
            raise JsonRpcInvalidParams(f"{CMD_STATS}: days must be a positive number, got {days!r}")
        return await asyncio.to_thread(pipeline.stats, days)

    @server.command(CMD_EXPLAIN)
    async def explain(ls: HybridServer, *args: Any) -> dict[str, Any]:
        pipeline = ls.require_pipeline()
        interaction = await asyncio.to_thread(pipeline.history.get, str(args[0]) if args else "")
        if interaction is None:
            raise JsonRpcInvalidParams(f"{CMD_EXPLAIN}: unknown interaction id {args[0] if args else None!r}")
        ls.window_show_message(types.ShowMessageParams(types.MessageType.Info, interaction.explanation[:2000]))
        return {"explanation": interaction.explanation}

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: HybridServer, params: Any) -> None:
        await ls.record(ls.tracker.closed())
        if ls.pipeline is not None:
            await ls.pipeline.aclose()
            await asyncio.to_thread(ls.pipeline.close)
            ls.pipeline = None

    return server


def _watch_team(ls: HybridServer, team: TeamSync) -> None:
    """Tell the user when the team server goes away or comes back (the sender thread reports it)."""
    from .team import notice

    loop = asyncio.get_running_loop()
    severities = {"error": types.MessageType.Error, "warning": types.MessageType.Warning, "info": types.MessageType.Info}
    seen = {"state": "connecting"}

    def changed() -> None:
        state = team.state
        previous, seen["state"] = seen["state"], state
        said = notice(previous, state, team.status())
        if said is not None:
            params = types.ShowMessageParams(severities[said[0]], f"hybrid-lsp: {said[1]}")
            loop.call_soon_threadsafe(ls.window_show_message, params)

    team.on_change.append(changed)
    changed()  # already away when the editor connected


async def _pull_configuration(ls: HybridServer) -> None:
    try:
        result = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section="hybridLsp")]))
    except Exception as exc:
        log.warning("workspace/configuration failed: %s", exc)
        return
    section = result[0] if result else None
    # The client's live answer replaces the initialization options (a removed setting falls back
    # to the default); clients that have no answer keep what they sent at start.
    ls.apply_settings(section if isinstance(section, dict) else ls.editor_settings)


def _action_data(ls: HybridServer, data: Any, diagnostics: list[types.Diagnostic] | None = None) -> tuple[str, types.Diagnostic]:
    """The document and diagnostic a code action (its data, or the action itself) is about."""
    if not isinstance(data, dict) or not isinstance(data.get("uri"), str):
        raise JsonRpcInvalidParams("this code action was not made by hybrid-lsp (its data lacks the document's uri)")
    if not isinstance(data.get("diagnostic"), dict):
        if diagnostics:
            return data["uri"], diagnostics[0]
        raise JsonRpcInvalidParams("the code action came back without its diagnostic (in `diagnostics` or its data)")
    try:
        diagnostic = ls.protocol._converter.structure(data["diagnostic"], types.Diagnostic)
    except Exception as exc:
        raise JsonRpcInvalidParams(f"the code action's diagnostic is malformed: {exc}") from None
    return data["uri"], diagnostic


async def _plans(pipeline: Pipeline, queries: list[ErrorQuery], text: str, diagnostics: int) -> list[Plan]:
    """Plans whose lookups are all cached are made right here (tens of microseconds, no store read);
    the rest in a worker thread, so a search never holds up the event loop. The hop to a thread and
    back costs more than a cached plan: editors ask again about the same diagnostics on every move."""
    plans = []
    for query in queries:
        plan = pipeline.cached_plan(query, text, diagnostics)
        if plan is None:
            rest = queries[len(plans):]
            return plans + await asyncio.to_thread(_plan_each, pipeline, rest, text, diagnostics)
        plans.append(plan)
    return plans


def _plan_each(pipeline: Pipeline, queries: list[ErrorQuery], text: str, diagnostics: int) -> list[Plan]:
    return [pipeline.plan(query, text, diagnostics) for query in queries]


async def _solve(ls: HybridServer, pipeline: Pipeline, uri: str, diagnostic: types.Diagnostic):
    document = ls.workspace.get_text_document(uri)
    text = document.source
    everything = ls.diagnostics.get(uri, [diagnostic])
    query = ls.query_for(uri, diagnostic, text, document.language_id, everything)
    plan, = await _plans(pipeline, [query], text, len(everything))
    path = to_fs_path(uri) or uri
    if plan.route.target == "known" or not plan.route.can_fix:
        return await pipeline.solve(plan, text, path), document
    where = "local model" if plan.route.target == "local" else "Claude"
    async with ls.progress(f"hybrid-lsp: asking the {where}") as report:
        report(plan.route.reason)
        answer = await pipeline.solve(plan, text, path, on_text=_streamed(report))
    if answer.notes and answer.edit is None:
        ls.warn_once("; ".join(answer.notes))
    return answer, document


def _streamed(report):
    """Partial model output as progress messages, at most five a second."""
    received: list[str] = []
    last = [0.0]

    def on_text(piece: str) -> None:
        received.append(piece)
        now = time.monotonic()
        if now - last[0] >= 0.2:
            last[0] = now
            tail = "".join(received)[-60:].replace("\n", " ")
            report(f"receiving… {tail}")
    return on_text


async def _eager(ls: HybridServer, pipeline: Pipeline, uri: str, version: int | None,
                 diagnostic: types.Diagnostic, plan: Plan, text: str) -> Answer:
    key = (uri, version, _identity(diagnostic))
    answer = ls.eager.get(key)
    if answer is None:
        answer = await pipeline.solve(plan, text, to_fs_path(uri) or uri)
        ls.offer(uri, plan.query, answer, text)
        ls.eager = {k: v for k, v in ls.eager.items() if k[0] != uri or k[1] == version}
        ls.eager[key] = answer
    return answer


def _answer_json(answer: Answer) -> dict[str, Any]:
    return {"answer": answer.explanation, "route": answer.route, "model": answer.model,
            "tokens": {"prompt": answer.prompt_tokens, "completion": answer.completion_tokens},
            "relevance": round(answer.relevance, 4), "reason": answer.reason, "notes": answer.notes,
            "interaction": answer.interaction_id, "has_edit": answer.edit is not None}


def _ask_arguments(args: list[Any]) -> tuple[str, str | None, dict | None]:
    if len(args) == 1 and isinstance(args[0], dict):
        item = args[0]
        args = [item.get("question"), item.get("uri"), item.get("range")]
    if not args or not isinstance(args[0], str) or not args[0].strip():
        raise JsonRpcInvalidParams(f"{CMD_ASK} needs a question (a non-empty string) as its first argument")
    uri = args[1] if len(args) > 1 else None
    rng = args[2] if len(args) > 2 else None
    if uri is not None and not isinstance(uri, str):
        raise JsonRpcInvalidParams(f"{CMD_ASK}: the second argument must be a document uri (string)")
    if rng is not None:
        try:
            int(rng["start"]["line"]), int(rng["end"]["line"])
        except (TypeError, KeyError, ValueError):
            raise JsonRpcInvalidParams(f"{CMD_ASK}: the third argument must be an LSP Range") from None
    return args[0], uri, rng


async def _set_outcome(ls: HybridServer, args: tuple[Any, ...], outcome: str) -> dict[str, Any]:
    pipeline = ls.require_pipeline()
    if not args or not isinstance(args[0], str):
        raise JsonRpcInvalidParams(f"hybridLsp.{outcome[:-2] if outcome.endswith('ed') else outcome}: the first argument must be an interaction id")
    reason = str(args[1]) if len(args) > 1 and args[1] is not None else ""
    interaction_id = args[0]
    if outcome == "accepted":
        pending = ls.tracker.get(interaction_id)
        version = ls.workspace.get_text_document(pending.uri).version if pending else None
        if ls.tracker.accepted(interaction_id, time.time(), version) == [] and pending is not None:
            # Already accepted (the client applied the edit first): running the command again is harmless.
            current = await asyncio.to_thread(pipeline.history.get, interaction_id)
            return {"interaction": interaction_id, "outcome": current.outcome if current else outcome}
    else:
        ls.tracker.rejected(interaction_id)
    try:
        interaction = await asyncio.to_thread(pipeline.learning.record, interaction_id, outcome, reason)
    except KeyError as exc:
        raise JsonRpcInvalidParams(str(exc.args[0])) from None
    return {"interaction": interaction.id, "outcome": interaction.outcome}


def serve(args, data_dir: Path, starter: bool) -> int:
    server = build(data_dir, starter)
    if getattr(args, "tcp", False):
        server.start_tcp(args.host, args.port)
    elif getattr(args, "ws", False):
        server.start_ws(args.host, args.port)
    else:
        server.start_io()
    return 0
