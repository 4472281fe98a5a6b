"""Bad input never crashes anything: property-based fuzzing of settings, import lines, messages,
and of LSP params sent to a running server."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types

from conftest import start_client
from hybrid_lsp.config import parse_settings
from hybrid_lsp.knowledge import ImportFailed, read_jsonl
from hybrid_lsp.normalise import normalise
from hybrid_lsp.query import ErrorQuery

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
setting_keys = st.sampled_from(["local", "remote", "routing", "embeddings", "collections", "contextLines",
                                "maxContexts", "undoWindow", "prices", "policy", "baseUrl", "knownThreshold"])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(setting_keys, json_values, max_size=6) | json_values)
def test_any_settings_value_gives_settings_and_messages_never_an_exception(layer):
    result, errors = parse_settings(layer if isinstance(layer, dict) else {"local": layer})
    assert result.local.timeout > 0 and 0 <= result.routing.known_threshold <= 1
    assert all(isinstance(e, str) and e for e in errors)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.text(max_size=80),
    json_values.map(json.dumps),
    st.dictionaries(st.sampled_from(["id", "error", "solution", "tags", "edit", "collection", "code"]), json_values,
                    max_size=5).map(json.dumps),
), max_size=6))
def test_any_import_file_is_imported_whole_or_rejected_with_line_numbers(lines):
    try:
        entries = read_jsonl(lines, "fuzz.jsonl")
    except ImportFailed as failure:
        assert failure.problems and all(p.startswith("line ") for p in failure.problems)
        return
    assert len(entries) == sum(1 for line in lines if line.strip())


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=3000), st.one_of(st.none(), st.text(max_size=20)), json_values)
def test_any_message_normalises_and_fingerprints(message, source, code):
    result = normalise(message)
    assert len(result.text) <= len(message) + 200
    query = ErrorQuery(message=message, source=source or "", code=code if isinstance(code, (str, int)) else "")
    assert len(query.fingerprint) == 20


def _random_position(rng: random.Random) -> dict:
    return {"line": rng.choice([-5, 0, 1, 3, 10**9, 2**31 - 1]), "character": rng.choice([-1, 0, 4, 10**7])}


def _bad_params(rng: random.Random) -> tuple[str, object]:
    rng_range = {"start": _random_position(rng), "end": _random_position(rng)}
    diagnostic = rng.choice([
        {"range": rng_range, "message": "`os` imported but unused", "code": "F401", "source": "Ruff"},
        {"range": rng_range, "message": "\ud800 broken surrogate \udfff", "severity": 1},
        {"range": "not a range", "message": 3},
        {"message": "no range"},
        {"range": rng_range, "message": "x" * 200_000, "code": {"value": 1}, "unknownField": [1, 2]},
    ])
    choice = rng.randrange(5)
    if choice == 0:
        return "textDocument/codeAction", {"textDocument": {"uri": "file:///work/project/app.py"}, "range": rng_range,
                                           "context": {"diagnostics": [diagnostic]}}
    if choice == 1:
        return "textDocument/hover", {"textDocument": {"uri": rng.choice(["file:///work/project/app.py", "not-a-uri", ""])},
                                      "position": _random_position(rng)}
    if choice == 2:
        return "codeAction/resolve", {"title": "x", "data": rng.choice([None, {"uri": 5}, {"uri": "file:///nope.py",
                                                                                          "diagnostic": diagnostic}])}
    if choice == 3:
        return "workspace/executeCommand", {"command": rng.choice(["hybridLsp.ask", "hybridLsp.accept", "hybridLsp.reject",
                                                                     "hybridLsp.stats", "hybridLsp.applyFix", "nope"]),
                                            "arguments": rng.choice([[], [None], [1, 2, 3], [{"question": 5}], ["?" * 10]])}
    return "textDocument/codeAction", {"textDocument": "wrong type", "range": None}


_ids = iter(range(10**6, 10**7))


async def raw_request(client, method: str, params: object):
    """Send params as they are: the client library would refuse to serialise malformed ones."""
    msg_id = next(_ids)
    future = asyncio.get_running_loop().create_future()
    client.protocol._request_futures[msg_id] = future
    client.protocol._send_data({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    return await future


@pytest.mark.asyncio
async def test_the_server_survives_malformed_params_and_answers_with_errors(kb_env):
    client = await start_client(kb_env)
    rng = random.Random(20261124)
    errors = 0
    try:
        client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(
            uri="file:///work/project/app.py", language_id="python", version=1, text="import os\n" * 50)))
        for _ in range(150):
            method, params = _bad_params(rng)
            if rng.random() < 0.3:
                client.protocol._send_data({"jsonrpc": "2.0", "method": "hybridLsp/diagnostics", "params": rng.choice([
                    {"uri": "file:///work/project/app.py", "diagnostics": [params]},
                    {"uri": 5}, [1, 2], {"uri": "file:///x.py", "version": "v", "diagnostics": "none"}])})
            try:
                await asyncio.wait_for(raw_request(client, method, params), 10)
            except asyncio.TimeoutError:
                raise AssertionError(f"{method} did not answer: {params!r:.300}") from None
            except Exception:
                errors += 1
        # Still alive and correct afterwards.
        result = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="hybridLsp.stats"))
        assert "interactions" in result
        hover = await client.text_document_hover_async(types.HoverParams(
            types.TextDocumentIdentifier("file:///work/project/app.py"), types.Position(0, 1)))
        assert hover is None or hover.contents
    finally:
        await client.shutdown_session()
        await client.stop()
    assert errors > 0, "malformed requests were answered with errors"


@pytest.mark.asyncio
async def test_a_request_with_unreadable_params_gets_an_error_that_says_what_is_wrong(lsp):
    with pytest.raises(Exception, match=r"invalid params for textDocument/codeAction.*context"):
        await asyncio.wait_for(raw_request(lsp, "textDocument/codeAction",
                                           {"textDocument": {"uri": "file:///a.py"}, "range": {
                                               "start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}}}), 10)
