"""Bad input never crashes anything: property-based fuzzing of settings, import lines, messages,
and of LSP params sent to a running server."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types

from conftest import TEST_KB, base_env, run_cli, start_client
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


URI = "file:///work/project/app.py"
# Text with lone UTF-16 surrogates (JSON can carry them as escapes), astral characters and controls.
nasty_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40) | st.sampled_from(
    ["\ud800 broken surrogate \udfff", "😀" * 20, "\x00\x1b[31m", "x" * 200_000])
numbers = st.integers(-10, 10) | st.sampled_from([-(2**31), 2**31 - 1, 2**31, 10**18]) | st.floats(allow_nan=True)
positions = st.fixed_dictionaries({"line": numbers, "character": numbers}) | json_values
ranges = st.fixed_dictionaries({"start": positions, "end": positions}) | json_values
diagnostics = st.fixed_dictionaries(
    {"range": ranges, "message": nasty_text | json_values},
    optional={"code": json_values | st.sampled_from(["F401", "F821"]), "source": json_values | st.just("Ruff"),
              "severity": numbers, "data": json_values, "unknownField": json_values})
identifiers = st.fixed_dictionaries({"uri": st.sampled_from([URI, "not-a-uri", "", "file:///nowhere.py"]) | json_values})
requests = st.one_of(
    st.tuples(st.just("textDocument/codeAction"), st.fixed_dictionaries(
        {"textDocument": identifiers, "range": ranges,
         "context": st.fixed_dictionaries({"diagnostics": st.lists(diagnostics, max_size=3)}) | json_values})),
    st.tuples(st.just("textDocument/hover"), st.fixed_dictionaries({"textDocument": identifiers, "position": positions})),
    st.tuples(st.just("codeAction/resolve"), st.fixed_dictionaries(
        {"title": nasty_text, "data": json_values | st.fixed_dictionaries({"uri": st.just(URI), "diagnostic": diagnostics})})),
    st.tuples(st.just("workspace/executeCommand"), st.fixed_dictionaries(
        {"command": st.sampled_from(["hybridLsp.ask", "hybridLsp.accept", "hybridLsp.reject", "hybridLsp.stats",
                                     "hybridLsp.applyFix", "nope"]) | nasty_text,
         "arguments": st.lists(json_values | nasty_text, max_size=3)})),
    st.tuples(st.sampled_from(["textDocument/codeAction", "textDocument/hover", "codeAction/resolve"]), json_values),
)
notifications = st.one_of(
    st.tuples(st.just("hybridLsp/diagnostics"), st.fixed_dictionaries(
        {"uri": st.just(URI) | json_values, "diagnostics": st.lists(diagnostics, max_size=3) | json_values},
        optional={"version": numbers | json_values})),
    st.tuples(st.just("textDocument/didChange"), st.fixed_dictionaries(
        {"textDocument": st.fixed_dictionaries({"uri": st.just(URI), "version": numbers}),
         "contentChanges": st.lists(st.fixed_dictionaries({"text": nasty_text}, optional={"range": ranges}), max_size=2)})),
    st.tuples(st.just("textDocument/didOpen"), st.fixed_dictionaries({"textDocument": st.fixed_dictionaries(
        {"uri": st.just(URI) | json_values, "languageId": st.just("python") | json_values, "version": numbers,
         "text": nasty_text})})),
)


async def raw_request(client, method: str, params: object, msg_id: int = 10**9):
    """Send params as they are: the client library would refuse to serialise malformed ones."""
    future = asyncio.get_running_loop().create_future()
    client.protocol._request_futures[msg_id] = future
    client.protocol._send_data({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    return await future


class ServerSession:
    """One real server, driven from hypothesis's synchronous examples through a loop in a thread."""

    def __init__(self, env: dict[str, str]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = self.run(start_client(env))
        self.ids = iter(range(10**6, 10**9))
        self.sent: list[str] = []  # the last messages sent, to explain a request left unanswered

    def run(self, coroutine, timeout: float = 30):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def notify(self, method: str, params: object) -> None:
        self.sent = [*self.sent[-5:], f"{method} {params!r:.300}"]
        self.loop.call_soon_threadsafe(self.client.protocol._send_data,
                                       {"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params: object) -> tuple[bool, object]:
        """(True, result) or (False, the error's text); an unanswered request fails the test."""
        self.sent = [*self.sent[-5:], f"{method} {params!r:.300}"]
        sent = "\n".join(self.sent)
        async def send():
            try:
                return True, await asyncio.wait_for(raw_request(self.client, method, params, next(self.ids)), 10)
            except TimeoutError:
                raise AssertionError(f"{method} did not answer in 10 s (server exit status "
                                     f"{self.client._server.returncode}); the last messages sent:\n{sent}"[:3000]) from None
            except Exception as exc:  # the server's JSON-RPC error, as the client raises it
                return False, str(exc)
        return self.run(send())

    def close(self) -> None:
        try:
            self.run(self.client.shutdown_session())
            self.run(self.client.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> ServerSession:
    env = base_env(tmp_path_factory.mktemp("fuzz"))
    env["HYBRID_LSP_NO_STARTER"] = "1"
    assert run_cli(env, "kb", "import", str(TEST_KB)).returncode == 0
    running = ServerSession(env)
    running.client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(
        uri=URI, language_id="python", version=1, text="import os\n" * 50)))
    yield running
    running.close()


TRIED = {"requests": 0, "errors": 0, "notifications": 0}


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow, HealthCheck.data_too_large])
@given(request=requests, before=st.lists(notifications, max_size=2))
def test_any_lsp_params_get_an_answer_or_an_error_that_says_what_is_wrong(session: ServerSession, request, before):
    for method, params in before:
        session.notify(method, params)
        TRIED["notifications"] += 1
    method, params = request
    ok, value = session.request(method, params)
    TRIED["requests"] += 1
    if not ok:
        TRIED["errors"] += 1
        assert value and "Traceback" not in value, f"{method}: unhelpful error {value!r:.300}"


def test_the_fuzzed_server_is_still_alive_and_correct(session: ServerSession):
    # Runs after the property above (same module, same server).
    ok, result = session.request("workspace/executeCommand", {"command": "hybridLsp.stats", "arguments": []})
    assert ok and result.interactions >= 0, result
    ok, hover = session.request("textDocument/hover", {"textDocument": {"uri": URI}, "position": {"line": 0, "character": 1}})
    assert ok
    print(f"fuzzed: {TRIED}")
    assert TRIED["requests"] >= 100 and TRIED["errors"] > 0, TRIED


@pytest.mark.asyncio
async def test_a_request_with_unreadable_params_gets_an_error_that_says_what_is_wrong(lsp):
    with pytest.raises(Exception, match=r"invalid params for textDocument/codeAction.*context"):
        await asyncio.wait_for(raw_request(lsp, "textDocument/codeAction",
                                           {"textDocument": {"uri": "file:///a.py"}, "range": {
                                               "start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}}}), 10)


def test_a_huge_bad_message_is_logged_capped_with_its_cause_kept():
    import logging

    from hybrid_lsp.cli import LOG_RECORD_CHARS, CappedFormatter

    try:
        raise ValueError("bad command " + "x" * 200_000)
    except ValueError:
        record = logging.LogRecord("pygls", logging.ERROR, __file__, 1, "Failed to handle %s", ("y" * 50_000,),
                                   exc_info=__import__("sys").exc_info())
    text = CappedFormatter("%(levelname)s %(message)s").format(record)
    assert len(text) < LOG_RECORD_CHARS + 100
    assert text.startswith("ERROR Failed to handle yyy") and "characters not logged" in text
    assert text.rstrip().endswith("x" * 100), "the end of the traceback is kept"
