"""What users do with a fix, end to end: accept, undo, reject, and whether the error went away."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from conftest import run_cli, start_client
from model_servers import ModelServer, replace_line_reply
from test_lsp import SOURCE, UNDEFINED, UNUSED_OS, URI, apply_edit, code_actions, execute, open_document, publish, raw

FIXED_LINE = "    print(sys.argv, name)"


def change(client: LanguageClient, text: str, version: int, uri: str = URI) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


async def outcomes(client: LanguageClient) -> dict[str, int]:
    return (await execute(client, "hybridLsp.stats"))["outcomes"]


async def wait_for(client: LanguageClient, expected: dict[str, int]) -> dict[str, int]:
    for _ in range(50):
        seen = await outcomes(client)
        if all(seen.get(k) == v for k, v in expected.items()):
            return seen
        await asyncio.sleep(0.1)
    return seen


@pytest.fixture
async def local_client(kb_env, model_server: ModelServer):
    model_server.reply = replace_line_reply(6, FIXED_LINE, "`nmae` is a typo for `name`.")
    kb_env["HYBRID_LSP_LOCAL_URL"] = model_server.url + "/v1"
    client = await start_client(kb_env)
    yield client
    await client.shutdown_session()
    await client.stop()


async def resolve_and_apply(client: LanguageClient, diag: types.Diagnostic, text: str = SOURCE, uri: str = URI):
    actions = await code_actions(client, diag, uri=uri)
    resolved = await client.code_action_resolve_async(actions[0])
    fixed = apply_edit(text, resolved.edit)
    change(client, fixed, 2, uri=uri)
    return actions[0], resolved, fixed


@pytest.mark.asyncio
async def test_a_model_fix_that_removes_the_error_is_validated_then_served_as_a_known_fix(local_client, model_server):
    client = local_client
    open_document(client)
    action, resolved, fixed = await resolve_and_apply(client, UNDEFINED)
    assert fixed.split("\n")[5] == FIXED_LINE
    await execute(client, resolved.command.command, *resolved.command.arguments)
    publish(client, UNUSED_OS, version=2)  # the round for the fixed document: F821 is gone
    assert (await wait_for(client, {"validated": 1}))["validated"] == 1
    calls = len(model_server.requests)

    other = "file:///work/project/other.py"
    open_document(client, SOURCE, uri=other)
    for _ in range(50):  # promotion follows the validated outcome by a few milliseconds
        again = await code_actions(client, UNDEFINED, uri=other)
        if "known fix" in again[0].title:
            break
        await asyncio.sleep(0.1)
    assert "known fix, 0 tokens" in again[0].title
    learned = await client.code_action_resolve_async(again[0])
    assert apply_edit(SOURCE, learned.edit).split("\n")[5] == FIXED_LINE
    assert len(model_server.requests) == calls, "the learned fix costs no model call"
    stats = await execute(client, "hybridLsp.stats")
    assert stats["routes"]["known"] == 1 and stats["routes"]["local"] == 1


@pytest.mark.asyncio
async def test_a_fix_whose_error_persists_is_failed_and_not_promoted(local_client, model_server):
    client = local_client
    open_document(client)
    _, resolved, _ = await resolve_and_apply(client, UNDEFINED)
    await execute(client, resolved.command.command, *resolved.command.arguments)
    publish(client, UNUSED_OS, version=1)  # a stale round, computed before the fix: no verdict
    publish(client, UNDEFINED, UNUSED_OS, version=2)  # the fixed document still reports the error
    assert (await wait_for(client, {"failed": 1}))["failed"] == 1
    other = "file:///work/project/other.py"
    open_document(client, SOURCE, uri=other)
    again = await code_actions(client, UNDEFINED, uri=other)
    assert again[0].title.startswith("Hybrid: Fix with local model")


@pytest.mark.asyncio
async def test_going_back_to_the_old_code_marks_the_fix_undone(lsp: LanguageClient):
    open_document(lsp)
    _, resolved, _ = await resolve_and_apply(lsp, UNUSED_OS)
    await execute(lsp, resolved.command.command, *resolved.command.arguments)
    assert (await wait_for(lsp, {"accepted": 1}))["accepted"] == 1
    change(lsp, SOURCE, 3)  # the user undoes the fix
    assert (await wait_for(lsp, {"undone": 1})) == {"undone": 1}


@pytest.mark.asyncio
async def test_a_rejected_fix_is_recorded_with_its_reason_and_never_learned(local_client, model_server):
    client = local_client
    open_document(client)
    actions = await code_actions(client, UNDEFINED)
    resolved = await client.code_action_resolve_async(actions[0])
    # The client library would turn an action carrying a command into a bare Command: read it raw.
    client.protocol.get_result_type = lambda method: None
    offered = raw(await code_actions(client, UNDEFINED))
    del client.protocol.get_result_type
    reject = [a for a in offered if a["title"].startswith("Hybrid: Reject")]
    assert reject, "a visible reject action once a suggestion was made"
    command = reject[0]["command"]
    assert command["command"] == "hybridLsp.reject"
    assert command["arguments"][0] == resolved.command.arguments[0]
    result = await execute(client, command["command"], command["arguments"][0], "wrong variable")
    assert result["outcome"] == "rejected"
    publish(client, UNUSED_OS, version=2)
    await asyncio.sleep(0.3)
    assert await outcomes(client) == {"rejected": 1}


@pytest.mark.asyncio
async def test_a_client_that_applies_only_the_edit_still_counts_as_accepted(lsp: LanguageClient):
    open_document(lsp)
    await resolve_and_apply(lsp, UNUSED_OS)  # the edit lands; the command never runs
    assert (await wait_for(lsp, {"accepted": 1})) == {"accepted": 1}


@pytest.mark.asyncio
async def test_an_offer_never_applied_is_ignored_when_the_document_closes(lsp: LanguageClient):
    open_document(lsp)
    actions = await code_actions(lsp, UNUSED_OS)
    await lsp.code_action_resolve_async(actions[0])
    lsp.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(URI)))
    assert (await wait_for(lsp, {"ignored": 1})) == {"ignored": 1}


@pytest.mark.asyncio
async def test_every_acknowledged_outcome_survives_the_server_being_killed(kb_env):
    client = await start_client(kb_env)
    open_document(client)
    ids = []
    for _ in range(40):
        actions = await code_actions(client, UNUSED_OS)
        resolved = await client.code_action_resolve_async(actions[0])
        ids.append(resolved.command.arguments[0])
    acknowledged: list[str] = []

    async def accept(interaction_id: str, outcome: str) -> None:
        command = "hybridLsp.accept" if outcome == "accepted" else "hybridLsp.reject"
        await execute(client, command, interaction_id)
        acknowledged.append(interaction_id)

    tasks = [asyncio.ensure_future(accept(i, "accepted" if n % 2 else "rejected")) for n, i in enumerate(ids)]
    while len(acknowledged) < 15:
        await asyncio.sleep(0.005)
    os.kill(client._server.pid, signal.SIGKILL)
    await asyncio.gather(*tasks, return_exceptions=True)
    await client.stop()

    history = {h["id"]: h for h in (json.loads(line) for line in run_cli(kb_env, "history", "--json").stdout.splitlines())}
    assert len(acknowledged) >= 15
    for n, interaction_id in enumerate(ids):
        if interaction_id in acknowledged:
            assert history[interaction_id]["outcome"] == ("accepted" if n % 2 else "rejected")
