"""Model backends under real conditions, through the project's real clients and loopback servers
speaking each protocol: success, streaming, structured fixes, every failure mode, cancellation,
single-flight and redaction."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from hybrid_lsp.backends import Anthropic, BackendError, Ollama, OpenAICompatible, Request
from hybrid_lsp.config import LocalModel, RemoteModel, parse_settings
from hybrid_lsp.pipeline import Pipeline
from hybrid_lsp.prompts import FIX_SCHEMA
from hybrid_lsp.query import ErrorQuery, Span, code_window
from model_servers import ModelServer

FIX = {"explanation": "Typo.", "edit": {"start_line": 2, "end_line": 2, "replacement": "    return name"}}
TEXT = "def f(name):\n    return nmae\n"


def openai(server: ModelServer, **overrides) -> OpenAICompatible:
    settings = LocalModel(base_url=server.url + "/v1", model="loopback-model", timeout=overrides.pop("timeout", 5.0), **overrides)
    return OpenAICompatible.local(settings, api_key=None)


def ollama_backend(server: ModelServer, model: str = "loopback-model") -> Ollama:
    return Ollama(LocalModel(kind="ollama", base_url=server.url, model=model, timeout=5.0))


def anthropic(server: ModelServer, monkeypatch, key: str = "test-key", timeout: float = 5.0) -> Anthropic:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
    return Anthropic(RemoteModel(model="claude-test", timeout=timeout), api_key=key)


async def complete(backend, request: Request):
    try:
        return await backend.complete(request)
    finally:
        await backend.aclose()


# -- success ------------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_openai_compatible_streams_pieces_and_reports_the_servers_usage(model_server: ModelServer):
    model_server.reply = lambda seen: "one two three four five six seven eight"
    pieces: list[str] = []
    completion = await complete(openai(model_server), Request("sys", "hello there", None, pieces.append))
    assert completion.text == "one two three four five six seven eight"
    assert len(pieces) == model_server.chunks and "".join(pieces) == completion.text
    assert completion.completion_tokens == 8 and completion.prompt_tokens == 3
    assert model_server.of("openai")[0].body["stream"] is True


@pytest.mark.asyncio
async def test_openai_compatible_without_streaming(model_server: ModelServer):
    model_server.reply = lambda seen: "whole answer"
    completion = await complete(openai(model_server, stream=False), Request("sys", "hi"))
    assert completion.text == "whole answer"
    assert model_server.of("openai")[0].body["stream"] is False


@pytest.mark.asyncio
async def test_openai_compatible_asks_for_the_fix_with_a_json_schema(model_server: ModelServer):
    model_server.reply = lambda seen: json.dumps(FIX)
    completion = await complete(openai(model_server), Request("sys", "fix it", FIX_SCHEMA))
    assert json.loads(completion.text) == FIX
    assert model_server.of("openai")[0].body["response_format"]["json_schema"]["schema"] == FIX_SCHEMA


@pytest.mark.asyncio
async def test_ollama_streams_through_the_official_client_with_a_format_schema(model_server: ModelServer):
    model_server.reply = lambda seen: json.dumps(FIX)
    pieces: list[str] = []
    completion = await complete(ollama_backend(model_server), Request("sys", "fix it", FIX_SCHEMA, pieces.append))
    assert json.loads(completion.text) == FIX and len(pieces) > 1
    assert completion.prompt_tokens > 0 and completion.completion_tokens > 0
    assert model_server.of("ollama")[0].body["format"] == FIX_SCHEMA


@pytest.mark.asyncio
async def test_anthropic_fix_comes_back_through_tool_use_streaming(model_server: ModelServer, monkeypatch):
    model_server.reply = lambda seen: json.dumps(FIX)
    pieces: list[str] = []
    completion = await complete(anthropic(model_server, monkeypatch), Request("sys", "fix it", FIX_SCHEMA, pieces.append))
    assert json.loads(completion.text) == FIX
    assert pieces, "partial tool input streams through on_text"
    body = model_server.of("anthropic")[0].body
    assert body["tool_choice"] == {"type": "tool", "name": "apply_fix"} and body["stream"] is True
    assert completion.prompt_tokens > 0 and completion.completion_tokens > 0


@pytest.mark.asyncio
async def test_anthropic_free_text_answer_streams(model_server: ModelServer, monkeypatch):
    model_server.reply = lambda seen: "Use a Counter."
    pieces: list[str] = []
    completion = await complete(anthropic(model_server, monkeypatch), Request("sys", "how?", None, pieces.append))
    assert completion.text == "Use a Counter." and "".join(pieces) == "Use a Counter."


# -- failures -----------------------------------------------------------------------------------

@pytest.mark.asyncio
async def test_rate_limits_are_retried_honouring_retry_after(model_server: ModelServer):
    # Retry-After is whole seconds (RFC 9110); the backoff would wait far less than this.
    model_server.status, model_server.fail_times, model_server.retry_after = 429, 2, "1"
    model_server.reply = lambda seen: "finally"
    started = time.perf_counter()
    completion = await complete(openai(model_server), Request("sys", "hi"))
    assert completion.text == "finally"
    assert model_server.failures == 2 and len(model_server.of("openai")) == 3
    assert time.perf_counter() - started >= 2.0, "each retry waited the retry-after"


@pytest.mark.asyncio
async def test_anthropic_overloaded_is_retried_by_the_sdk_then_reported_once(model_server: ModelServer, monkeypatch):
    model_server.status, model_server.retry_after = 529, "0.1"
    with pytest.raises(BackendError, match="overloaded") as error:
        await complete(anthropic(model_server, monkeypatch), Request("sys", "hi"))
    assert error.value.unreachable
    assert len(model_server.of("anthropic")) == 3, "one call and the SDK's two retries"


@pytest.mark.asyncio
async def test_a_wrong_key_is_reported_as_such(model_server: ModelServer, monkeypatch):
    model_server.api_key = "right-key"
    with pytest.raises(BackendError, match="rejected the key"):
        await complete(anthropic(model_server, monkeypatch, key="wrong-key"), Request("sys", "hi"))


@pytest.mark.asyncio
async def test_a_server_error_that_persists_becomes_one_clear_message(model_server: ModelServer):
    model_server.status = 500
    with pytest.raises(BackendError, match=r"server error \(HTTP 500\) even after retries"):
        await complete(openai(model_server), Request("sys", "hi"))


@pytest.mark.asyncio
async def test_a_slow_server_times_out_and_is_marked_unreachable(model_server: ModelServer):
    model_server.hang = True
    with pytest.raises(BackendError, match="did not answer within 0.5 s") as error:
        await complete(openai(model_server, timeout=0.5), Request("sys", "hi"))
    assert error.value.unreachable


@pytest.mark.asyncio
async def test_nothing_listening_is_unreachable_at_once():
    backend = OpenAICompatible.local(LocalModel(base_url="http://127.0.0.1:9/v1", timeout=5.0), None)
    started = time.perf_counter()
    with pytest.raises(BackendError, match="not reachable") as error:
        await complete(backend, Request("sys", "hi"))
    assert error.value.unreachable and time.perf_counter() - started < 2


@pytest.mark.asyncio
@pytest.mark.parametrize("protocol", ["openai", "ollama", "anthropic"])
@pytest.mark.parametrize("fault", ["garbage", "truncate", "clean-truncate"])
async def test_garbage_and_cut_off_answers_become_clear_errors(model_server: ModelServer, monkeypatch, protocol, fault):
    if fault == "garbage":
        model_server.garbage = True
    else:
        model_server.truncate = True if fault == "truncate" else "clean"
    backend = {"openai": lambda: openai(model_server), "ollama": lambda: ollama_backend(model_server),
               "anthropic": lambda: anthropic(model_server, monkeypatch)}[protocol]()
    with pytest.raises(BackendError) as error:
        await complete(backend, Request("sys", "hi"))
    assert any(word in str(error.value) for word in ("malformed", "middle", "cut off", "not reachable", "error")), str(error.value)


@pytest.mark.asyncio
async def test_an_unknown_ollama_model_says_how_to_pull_it(model_server: ModelServer):
    model_server.reject_unknown_models = True
    with pytest.raises(BackendError, match="ollama pull qwen-missing"):
        await complete(ollama_backend(model_server, "qwen-missing"), Request("sys", "hi"))


# -- cancellation -------------------------------------------------------------------------------

@pytest.mark.asyncio
@pytest.mark.parametrize("protocol", ["openai", "ollama", "anthropic"])
async def test_cancelling_mid_stream_closes_the_connection(model_server: ModelServer, monkeypatch, protocol):
    model_server.chunks, model_server.chunk_delay = 8, 0.3
    model_server.reply = lambda seen: "a b c d e f g h i j k l"
    backend = {"openai": lambda: openai(model_server), "ollama": lambda: ollama_backend(model_server),
               "anthropic": lambda: anthropic(model_server, monkeypatch)}[protocol]()
    first = asyncio.Event()
    task = asyncio.ensure_future(backend.complete(Request("sys", "hi", None, lambda piece: first.set())))
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await backend.aclose()
    assert model_server.wait_until(lambda: model_server.closed_early == 1, timeout=5), "the server saw the stream closed"


# -- the pipeline around the backends -------------------------------------------------------------

def pipeline_for(tmp_path: Path, **layer) -> Pipeline:
    settings, errors = parse_settings(layer)
    assert not errors
    return Pipeline(tmp_path / "data", settings, starter=False)


def undefined_query() -> ErrorQuery:
    span = Span(1, 11, 1, 15)
    return ErrorQuery("Undefined name `nmae`", "ruff", "F821", language="python", span=span,
                      window=code_window(TEXT.split("\n"), span, 5))


@pytest.mark.asyncio
async def test_identical_requests_in_flight_share_one_model_call(tmp_path, model_server: ModelServer, monkeypatch):
    model_server.reply = lambda seen: json.dumps(FIX)
    model_server.chunk_delay = 0.1
    pipeline = pipeline_for(tmp_path, local={"baseUrl": model_server.url + "/v1", "model": "loopback-model"},
                            routing={"policy": "local-only"})
    try:
        plan = pipeline.plan(undefined_query(), TEXT)
        first, second = await asyncio.gather(pipeline.solve(plan, TEXT, "a.py"), pipeline.solve(plan, TEXT, "a.py"))
        assert len(model_server.of("openai")) == 1
        assert first.edit == second.edit and first.edit.new_lines == ("    return name",)
        assert first.tokens > 0 and second.tokens == 0, "the tokens were paid once"
    finally:
        await pipeline.aclose()
        pipeline.close()


@pytest.mark.asyncio
async def test_a_dead_local_model_costs_no_latency_after_the_first_failure(tmp_path, model_server: ModelServer, monkeypatch):
    model_server.hang = True
    pipeline = pipeline_for(tmp_path, local={"baseUrl": model_server.url + "/v1", "timeout": 0.5},
                            routing={"policy": "local-only"})
    try:
        plan = pipeline.plan(undefined_query(), TEXT)
        answer = await pipeline.solve(plan, TEXT, "a.py")
        assert "did not answer" in answer.notes[0]
        started = time.perf_counter()
        again = pipeline.plan(undefined_query(), TEXT)
        assert not again.route.can_fix and "retrying in" in again.route.reason
        await pipeline.solve(again, TEXT, "a.py")
        assert time.perf_counter() - started < 0.5, "less than the timeout a model call would have cost"
        assert len(model_server.of("openai")) == 1
    finally:
        await pipeline.aclose()
        pipeline.close()


@pytest.mark.asyncio
async def test_local_down_falls_back_to_the_remote_api(tmp_path, model_server: ModelServer, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", model_server.url)
    model_server.reply = lambda seen: json.dumps(FIX)
    pipeline = pipeline_for(tmp_path, local={"baseUrl": "http://127.0.0.1:9/v1"})
    try:
        from hybrid_lsp.knowledge import parse_entry

        pipeline.knowledge.add([parse_entry({"id": "ruff:F821", "error": "Undefined name `x`", "solution": "Define it.",
                                             "source": "ruff", "code": "F821", "language": "python"})])
        plan = pipeline.plan(undefined_query(), TEXT)
        assert plan.route.target == "local"
        answer = await pipeline.solve(plan, TEXT, "a.py")
        assert answer.route == "remote" and answer.edit is not None
        assert "not reachable" in answer.notes[0]
    finally:
        await pipeline.aclose()
        pipeline.close()


@pytest.mark.asyncio
async def test_local_only_never_calls_the_remote_api_even_with_a_key(tmp_path, model_server: ModelServer, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", model_server.url)
    pipeline = pipeline_for(tmp_path, local={"baseUrl": "http://127.0.0.1:9/v1"}, routing={"policy": "local-only"})
    try:
        answer = await pipeline.solve(pipeline.plan(undefined_query(), TEXT), TEXT, "a.py")
        await pipeline.ask("How do I read a file?", None)
        assert answer.route != "remote"
        assert model_server.requests == [], "no request of any kind reached the remote API"
    finally:
        await pipeline.aclose()
        pipeline.close()


SECRETS = {
    "anthropic": "sk-ant-api03-" + "a1B2" * 10,
    "openai": "sk-proj-" + "Zy9x" * 8,
    "github": "ghp_" + "Ab3d" * 9,
    "aws": "AKIAIOSFODNN7EXAMPL3",
    "slack": "xoxb-1234567890-abcdefghij",
    "url-password": "hunter2-not-in-logs",
    "assignment": "s3cr3t-Passw0rd!",
    "private-key": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    "high-entropy": "Q2hhbmdlTWVQbGVhc2UxMjM0NTY3ODkwYWJj",
}


@pytest.mark.asyncio
async def test_planted_secrets_never_reach_the_remote_api(tmp_path, model_server: ModelServer, monkeypatch, caplog):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", model_server.url)
    model_server.reply = lambda seen: json.dumps({"explanation": "ok", "edit": None})
    text = "\n".join([
        f'ANTHROPIC = "{SECRETS["anthropic"]}"',
        f'OPENAI = "{SECRETS["openai"]}"',
        f"GH = '{SECRETS['github']}'",
        f"AWS_ID = {SECRETS['aws']}",
        f"SLACK = '{SECRETS['slack']}'",
        f'DB = "postgres://admin:{SECRETS["url-password"]}@db.internal/app"',
        f'password = "{SECRETS["assignment"]}"',
        f"KEY = '''-----BEGIN PRIVATE KEY-----\n{SECRETS['private-key']}\n-----END PRIVATE KEY-----'''",
        f"blob = '{SECRETS['high-entropy']}'",
        "def total(xs) -> str:",
        "    return sum(xs)",
    ])
    lines = text.split("\n")
    span = Span(len(lines) - 1, 11, len(lines) - 1, 18)
    query = ErrorQuery('Incompatible return value type (got "int", expected "str")', "mypy", "return-value",
                       language="python", span=span, window=code_window(lines, span, 20))
    pipeline = pipeline_for(tmp_path, local={"enabled": False})
    try:
        with caplog.at_level("INFO"):
            answer = await pipeline.solve(pipeline.plan(query, text), text, "settings.py")
            await pipeline.ask(f"why does {SECRETS['github']} fail?", text)
        assert answer.route == "remote"
        sent = json.dumps([seen.body for seen in model_server.of("anthropic")])
        for kind, secret in SECRETS.items():
            assert secret not in sent, f"{kind} secret reached the remote API"
        assert "[REDACTED:" in sent
        for kind, secret in SECRETS.items():
            assert secret not in caplog.text, f"{kind} secret reached the log"
        assert "redacted" in caplog.text
    finally:
        await pipeline.aclose()
        pipeline.close()


@pytest.mark.asyncio
async def test_ollama_embeddings_are_stored_in_their_own_vector_and_searched(tmp_path, model_server: ModelServer):
    pipeline = pipeline_for(tmp_path, embeddings={"ollamaModel": "nomic-embed-text", "ollamaUrl": model_server.url})
    try:
        from hybrid_lsp.knowledge import parse_entry

        pipeline.knowledge.add([parse_entry({"id": "x:1", "error": "borrow of moved value: `v`", "solution": "Clone it."})])
        embeds = model_server.of("ollama-embed")
        assert len(embeds) >= 2, "a probe for the dimensions, then the entry"
        matches = pipeline.knowledge.search("borrow of moved value: <ID>")
        assert matches[0].entry.id == "x:1"
        assert len(model_server.of("ollama-embed")) == len(embeds) + 1, "the query was embedded by Ollama too"
    finally:
        pipeline.close()


@pytest.mark.asyncio
async def test_an_openai_compatible_remote_is_the_second_remote_option(tmp_path, model_server: ModelServer, monkeypatch):
    monkeypatch.setenv("HYBRID_LSP_REMOTE_URL", model_server.url + "/v1")
    monkeypatch.setenv("HYBRID_LSP_REMOTE_API_KEY", "remote-key")
    model_server.api_key = "remote-key"
    model_server.reply = lambda seen: json.dumps(FIX)
    pipeline = pipeline_for(tmp_path, local={"enabled": False}, remote={"kind": "openai", "model": "loopback-model"})
    try:
        answer = await pipeline.solve(pipeline.plan(undefined_query(), TEXT), TEXT, "a.py")
        assert answer.route == "remote" and answer.edit.new_lines == ("    return name",)
        [seen] = model_server.of("openai")
        assert seen.headers["authorization"] == "Bearer remote-key"
    finally:
        await pipeline.aclose()
        pipeline.close()
