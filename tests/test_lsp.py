"""End to end through the language server protocol, with a real client and real model protocols."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from conftest import start_client
from model_servers import ModelServer, replace_line_reply

URI = "file:///work/project/app.py"
SOURCE = "import os\nimport sys\n\n\ndef main():\n    print(sys.argv, nmae)\n"


def diagnostic(line: int, start: int, end: int, message: str, code: str, source: str = "Ruff") -> types.Diagnostic:
    return types.Diagnostic(
        range=types.Range(types.Position(line, start), types.Position(line, end)),
        message=message, severity=types.DiagnosticSeverity.Error, code=code, source=source,
    )


UNUSED_OS = diagnostic(0, 7, 9, "`os` imported but unused", "F401")
UNDEFINED = diagnostic(5, 20, 24, "Undefined name `nmae`", "F821")


def open_document(client: LanguageClient, text: str = SOURCE, uri: str = URI, language: str = "python") -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)))


def publish(client: LanguageClient, *diagnostics: types.Diagnostic, uri: str = URI, version: int = 1) -> None:
    """What the editor plugins send: every diagnostic of the document, from any source."""
    client.protocol.notify("hybridLsp/diagnostics", {
        "uri": uri, "version": version,
        "diagnostics": [client.protocol._converter.unstructure(d) for d in diagnostics],
    })


async def code_actions(client: LanguageClient, diag: types.Diagnostic, uri: str = URI, context: bool = True):
    return await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri),
        range=diag.range,
        context=types.CodeActionContext(diagnostics=[diag] if context else []),
    ))


def apply_edit(text: str, edit: types.WorkspaceEdit) -> str:
    """Apply a WorkspaceEdit the way an editor does (ASCII test documents: UTF-16 == code points)."""
    changes = edit.document_changes[0].edits if edit.document_changes else next(iter(edit.changes.values()))
    lines = text.split("\n")
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line) + 1)
    for change in sorted(changes, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        start = offsets[change.range.start.line] + change.range.start.character
        end = offsets[change.range.end.line] + change.range.end.character
        text = text[:start] + change.new_text + text[end:]
    return text


def raw(value):
    """Responses read without a result type arrive as namedtuples."""
    if hasattr(value, "_asdict"):
        return {k: raw(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [raw(v) for v in value]
    return value


async def until(condition, timeout: float = 10.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def execute(client: LanguageClient, command: str, *arguments):
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command=command, arguments=list(arguments)))


@pytest.mark.asyncio
async def test_known_fix_is_offered_instantly_resolved_without_a_model_and_accepted(lsp: LanguageClient):
    open_document(lsp)
    publish(lsp, UNUSED_OS, UNDEFINED)
    actions = await code_actions(lsp, UNUSED_OS)
    assert len(actions) == 1
    action = actions[0]
    assert "known fix, 0 tokens" in action.title
    assert action.edit is None, "codeAction must stay cheap: the edit comes in resolve"

    resolved = await lsp.code_action_resolve_async(action)
    assert apply_edit(SOURCE, resolved.edit) == SOURCE.replace("import os\n", "")
    assert resolved.command.command == "hybridLsp.accept"

    result = await execute(lsp, resolved.command.command, *resolved.command.arguments)
    assert result["outcome"] == "accepted"
    again = await execute(lsp, resolved.command.command, *resolved.command.arguments)
    assert again["outcome"] == "accepted"

    stats = await execute(lsp, "hybridLsp.stats")
    assert stats["routes"] == {"known": 1, "local": 0, "remote": 0}
    assert stats["tokens"]["remote"] == 0 and stats["tokens"]["local"] == 0
    assert stats["tokens"]["saved"] > 0, "a stored fix stands in for a remote call"
    assert stats["accept_rate"] == 1.0


@pytest.mark.asyncio
async def test_local_route_asks_the_local_model_with_the_known_solution_as_context(kb_env, model_server: ModelServer):
    model_server.reply = replace_line_reply(6, "    print(sys.argv, name)", "Typo: `nmae` should be `name`.")
    kb_env["HYBRID_LSP_LOCAL_URL"] = model_server.url + "/v1"
    client = await start_client(kb_env)
    try:
        open_document(client)
        actions = await code_actions(client, UNDEFINED)
        assert actions[0].title.startswith("Hybrid: Fix with local model")
        assert model_server.requests == [], "codeAction must never call a model"

        resolved = await client.code_action_resolve_async(actions[0])
        assert apply_edit(SOURCE, resolved.edit).split("\n")[5] == "    print(sys.argv, name)"
        [seen] = model_server.of("openai")
        assert "Undefined name `nmae`" in seen.prompt
        assert "    6 |     print(sys.argv, nmae)" in seen.prompt, "the prompt carries the numbered code window"
        assert "Define or import the name" in seen.prompt, "the closest stored solution is given as context"
        kinds = [v.kind for values in client.progress_reports.values() for v in values]
        assert kinds[0] == "begin" and kinds[-1] == "end"

        hover = await client.text_document_hover_async(types.HoverParams(
            types.TextDocumentIdentifier(URI), types.Position(5, 21)))
        assert "Typo: `nmae` should be `name`." in hover.contents.value
        assert "route: local" in hover.contents.value

        history = await execute(client, "hybridLsp.stats")
        assert history["routes"]["local"] == 1
        assert history["tokens"]["local"] > 0, "tokens come from the usage the server reported"
    finally:
        await client.shutdown_session()
        await client.stop()


@pytest.mark.asyncio
async def test_remote_route_sends_a_redacted_prompt_to_claude(kb_env, model_server: ModelServer):
    secret = "sk-ant-api03-" + "Q" * 40
    text = f'API_KEY = "{secret}"\n\ndef total(xs: list[int]) -> str:\n    return sum(xs)\n'
    model_server.reply = replace_line_reply(4, "    return str(sum(xs))", "The function must return a str.")
    kb_env.update(ANTHROPIC_API_KEY="test-key", ANTHROPIC_BASE_URL=model_server.url)
    client = await start_client(kb_env)
    try:
        open_document(client, text)
        diag = diagnostic(3, 11, 18, 'Incompatible return value type (got "int", expected "str")', "return-value", "mypy")
        actions = await code_actions(client, diag)
        assert actions[0].title.startswith("Hybrid: Fix with Claude")
        resolved = await client.code_action_resolve_async(actions[0])
        assert apply_edit(text, resolved.edit).split("\n")[3] == "    return str(sum(xs))"
        [seen] = model_server.of("anthropic")
        assert "test-key" in (seen.headers.get("x-api-key"), seen.headers.get("authorization", "").removeprefix("Bearer "))
        assert secret not in json.dumps(seen.body)
        assert "[REDACTED:anthropic-key]" in seen.prompt
        stats = await execute(client, "hybridLsp.stats")
        assert stats["routes"]["remote"] == 1 and stats["tokens"]["remote"] > 0
    finally:
        await client.shutdown_session()
        await client.stop()


@pytest.mark.asyncio
async def test_hover_explains_a_forwarded_diagnostic_from_the_knowledge_base(lsp: LanguageClient):
    open_document(lsp)
    publish(lsp, UNUSED_OS)
    hover = await lsp.text_document_hover_async(types.HoverParams(types.TextDocumentIdentifier(URI), types.Position(0, 8)))
    assert "delete the import" in hover.contents.value
    assert "relevance 0.99" in hover.contents.value, "the entry for this very message (its fingerprint)"
    nothing = await lsp.text_document_hover_async(types.HoverParams(types.TextDocumentIdentifier(URI), types.Position(3, 0)))
    assert nothing is None


@pytest.mark.asyncio
async def test_forwarded_diagnostics_serve_clients_that_send_empty_contexts(lsp: LanguageClient):
    """Vim's ALE sends no diagnostics in the code action context; the forwarded ones are used."""
    open_document(lsp)
    publish(lsp, UNUSED_OS)
    actions = await code_actions(lsp, UNUSED_OS, context=False)
    assert [a.diagnostics[0].code for a in actions] == ["F401"]


async def raw_code_actions(client: LanguageClient, diag: types.Diagnostic) -> list[dict]:
    """The client library would turn an action carrying a command into a bare Command: read it raw."""
    client.protocol.get_result_type = lambda method: None
    try:
        response = await client.protocol.send_request_async(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(URI), range=diag.range,
            context=types.CodeActionContext(diagnostics=[diag])))
    finally:
        del client.protocol.get_result_type
    return raw(response)


@pytest.mark.asyncio
async def test_clients_that_cannot_resolve_get_stored_fixes_at_once_with_the_accept_command(kb_env):
    client = await start_client(kb_env, capabilities="emacs")
    try:
        open_document(client)
        first = (await raw_code_actions(client, UNUSED_OS))[0]
        again = (await raw_code_actions(client, UNUSED_OS))[0]
        assert first["command"]["command"] == "hybridLsp.accept"
        assert again["command"]["arguments"] == first["command"]["arguments"], "asking twice records one interaction"
        edit = client.protocol._converter.structure(first["edit"], types.WorkspaceEdit)
        assert apply_edit(SOURCE, edit) == SOURCE.replace("import os\n", "")
        await execute(client, "hybridLsp.accept", *first["command"]["arguments"])
        stats = await execute(client, "hybridLsp.stats")
        assert stats["interactions"] == 1 and stats["outcomes"] == {"accepted": 1}
    finally:
        await client.shutdown_session()
        await client.stop()


@pytest.mark.asyncio
async def test_clients_that_cannot_resolve_get_a_command_that_asks_the_model_and_applies_the_fix(kb_env, model_server: ModelServer):
    model_server.reply = replace_line_reply(6, "    print(sys.argv, name)")
    kb_env["HYBRID_LSP_LOCAL_URL"] = model_server.url + "/v1"
    client = await start_client(kb_env, capabilities="emacs")
    try:
        open_document(client)
        action = (await raw_code_actions(client, UNDEFINED))[0]
        assert "edit" not in action, "no model work in codeAction, even for clients that cannot resolve"
        assert model_server.requests == []
        command = action["command"]
        assert command["command"] == "hybridLsp.applyFix"
        result = await execute(client, command["command"], *command["arguments"])
        assert result["applied"] is True and result["route"] == "local"
        assert apply_edit(SOURCE, client.applied_edits[0]).split("\n")[5] == "    print(sys.argv, name)"
        stats = await execute(client, "hybridLsp.stats")
        assert stats["outcomes"] == {"accepted": 1}
    finally:
        await client.shutdown_session()
        await client.stop()


@pytest.mark.asyncio
async def test_ask_answers_with_the_local_model_and_records_the_interaction(kb_env, model_server: ModelServer):
    model_server.reply = lambda seen: "Use `collections.Counter`."
    kb_env["HYBRID_LSP_LOCAL_URL"] = model_server.url + "/v1"
    client = await start_client(kb_env)
    try:
        open_document(client)
        rng = {"start": {"line": 0, "character": 0}, "end": {"line": 1, "character": 0}}
        result = await execute(client, "hybridLsp.ask", "How do I count words?", URI, rng)
        assert result["answer"] == "Use `collections.Counter`."
        assert result["route"] == "local"
        assert "import os\nimport sys" in model_server.of("openai")[0].prompt
        rejected = await execute(client, "hybridLsp.reject", result["interaction"], "not what I asked")
        assert rejected["outcome"] == "rejected"
    finally:
        await client.shutdown_session()
        await client.stop()


@pytest.mark.asyncio
async def test_command_arguments_that_are_wrong_get_a_clear_error(lsp: LanguageClient):
    with pytest.raises(Exception, match="needs a question"):
        await execute(lsp, "hybridLsp.ask")
    with pytest.raises(Exception, match="no interaction with id"):
        await execute(lsp, "hybridLsp.accept", "00000000-0000-0000-0000-000000000000")
    with pytest.raises(Exception, match="not made by hybrid-lsp"):
        await lsp.code_action_resolve_async(types.CodeAction(title="x", data={"foo": 1}))
    with pytest.raises(Exception, match="came back without its diagnostic"):
        await lsp.code_action_resolve_async(types.CodeAction(title="x", data={"uri": URI, "version": 1}))


@pytest.mark.asyncio
async def test_invalid_settings_are_reported_and_defaults_used(kb_env):
    client = await start_client(kb_env, init_options={"hybridLsp": {"routing": {"knownThreshold": "high"}, "bogus": 1}})
    try:
        await asyncio.sleep(0.5)
        texts = " ".join(m.message for m in client.messages)
        assert "hybridLsp.routing.knownThreshold" in texts and "hybridLsp.bogus" in texts
        open_document(client)
        actions = await code_actions(client, UNUSED_OS)
        assert "known fix" in actions[0].title, "the server keeps working on defaults"
    finally:
        await client.shutdown_session()
        await client.stop()


@pytest.mark.asyncio
async def test_several_editor_windows_share_one_data_directory_and_survive_the_owner_dying(kb_env):
    lsp = await start_client(kb_env)
    second = await start_client(kb_env)
    try:
        open_document(second)
        actions = await code_actions(second, UNUSED_OS)
        assert "known fix, 0 tokens" in actions[0].title, "the second window reads the knowledge base"
        resolved = await second.code_action_resolve_async(actions[0])
        await execute(second, "hybridLsp.accept", *resolved.command.arguments)
        seen_by_first = await execute(lsp, "hybridLsp.stats")
        assert seen_by_first["outcomes"] == {"accepted": 1}, "the owner sees the other window's outcome"

        os.kill(lsp._server.pid, signal.SIGKILL)  # the owner dies
        await lsp.stop()
        again = await code_actions(second, UNDEFINED)
        assert again, "the second window took over the store"
        stats = await execute(second, "hybridLsp.stats")
        assert stats["outcomes"] == {"accepted": 1} and stats["interactions"] == 1
        third = await start_client(kb_env)
        try:
            assert (await execute(third, "hybridLsp.stats"))["interactions"] == 1
        finally:
            await third.shutdown_session()
            await third.stop()
    finally:
        await second.shutdown_session()
        await second.stop()


@pytest.mark.asyncio
async def test_cancelling_a_resolve_stops_the_model_stream(kb_env, model_server: ModelServer):
    model_server.chunks, model_server.chunk_delay = 20, 0.3
    model_server.reply = replace_line_reply(6, "    print(sys.argv, name)")
    kb_env["HYBRID_LSP_LOCAL_URL"] = model_server.url + "/v1"
    client = await start_client(kb_env)
    try:
        open_document(client)
        actions = await code_actions(client, UNDEFINED)
        request = asyncio.ensure_future(
            client.protocol.send_request_async(types.CODE_ACTION_RESOLVE, actions[0], "resolve-1"))
        assert await until(lambda: model_server.in_flight == 1)
        await asyncio.sleep(0.8)
        client.protocol.notify("$/cancelRequest", types.CancelParams(id="resolve-1"))
        assert await until(lambda: model_server.closed_early == 1), "the HTTP stream was closed"
        with pytest.raises(Exception, match="cancel"):
            await request
        reports = [v for values in client.progress_reports.values() for v in values]
        assert any(getattr(v, "message", "") and "receiving" in v.message for v in reports), "partial output shown as progress"
    finally:
        await client.shutdown_session()
        await client.stop()
