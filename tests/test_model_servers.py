"""The loopback model server itself, checked through the real clients: httpx for OpenAI-compatible
servers, the ollama client, and the anthropic SDK. If these pass, the wire formats are ones the
real libraries parse, streaming included, and each failure knob fails the way a real server does."""

from __future__ import annotations

import asyncio
import json
import math
import time

import anthropic
import httpx
import httpx2
import ollama
import pytest
from model_servers import ModelServer, embedding, replace_line_reply

TEXT = "The quick brown fox jumps over the lazy dog."
EDIT_TOOL = {"name": "apply_fix", "description": "Apply a fix.",
             "input_schema": {"type": "object", "properties": {"explanation": {"type": "string"}}}}
CHAT = {"model": "loopback-model", "messages": [{"role": "user", "content": "fix this line please"}]}


@pytest.fixture
def server(model_server: ModelServer) -> ModelServer:
    model_server.reply = lambda seen: TEXT
    return model_server


def claude(server: ModelServer, **kwargs) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.url, api_key=kwargs.pop("api_key", "test-key"),
                               max_retries=kwargs.pop("max_retries", 0), **kwargs)


def ask(client: anthropic.Anthropic, **kwargs):
    return client.messages.create(model="claude-test", max_tokens=100, system="Be brief.",
                                  messages=[{"role": "user", "content": "fix this line please"}], **kwargs)


def sse_data(response: httpx.Response) -> list[str]:
    return [line[len("data: "):] for line in response.iter_lines() if line.startswith("data: ")]


# -- text, plain and streamed -----------------------------------------------------------------

def test_openai_plain_completion(server: ModelServer):
    response = httpx.post(server.url + "/v1/chat/completions", json=CHAT)
    data = response.json()
    assert response.status_code == 200 and data["object"] == "chat.completion"
    assert data["choices"][0]["message"] == {"role": "assistant", "content": TEXT}
    assert data["usage"] == {"prompt_tokens": 4, "completion_tokens": 9, "total_tokens": 13}
    [seen] = server.of("openai")
    assert (seen.method, seen.status, seen.prompt) == ("POST", 200, "fix this line please")


def test_openai_stream_sends_pieces_then_stop_then_usage_then_done(server: ModelServer):
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", server.url + "/v1/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["transfer-encoding"] == "chunked"
        events = sse_data(response)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert [p for p in pieces if p] == [TEXT[0:11], TEXT[11:22], TEXT[22:33], TEXT[33:]]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 9


def test_openai_stream_has_no_usage_chunk_unless_asked(server: ModelServer):
    with httpx.stream("POST", server.url + "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        chunks = [json.loads(event) for event in sse_data(response)[:-1]]
    assert all("usage" not in chunk and chunk["choices"] for chunk in chunks)


def test_ollama_plain_chat(server: ModelServer):
    response = ollama.Client(host=server.url).chat(model="llama3", messages=CHAT["messages"])
    assert response.message.content == TEXT and response.done and response.done_reason == "stop"
    assert (response.prompt_eval_count, response.eval_count) == (4, 9)


def test_ollama_streamed_chat(server: ModelServer):
    server.chunks = 3
    parts = list(ollama.Client(host=server.url).chat(model="llama3", messages=CHAT["messages"], stream=True))
    assert [p.message.content for p in parts[:-1]] == [TEXT[0:15], TEXT[15:30], TEXT[30:]]
    assert [p.done for p in parts] == [False, False, False, True]
    assert (parts[-1].done_reason, parts[-1].prompt_eval_count, parts[-1].eval_count) == ("stop", 4, 9)


def test_anthropic_plain_message(server: ModelServer):
    message = ask(claude(server))
    assert [block.type for block in message.content] == ["text"] and message.content[0].text == TEXT
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (6, 9)  # system words count too
    # anthropic 2.x sends the API key as a bearer token, not as x-api-key
    assert server.of("anthropic")[0].headers["authorization"] == "Bearer test-key"


async def test_anthropic_streamed_message(server: ModelServer):
    client = anthropic.AsyncAnthropic(base_url=server.url, api_key="test-key", max_retries=0)
    async with client.messages.stream(model="claude-test", max_tokens=100,
                                      messages=[{"role": "user", "content": "fix this line please"}]) as stream:
        pieces = [piece async for piece in stream.text_stream]
        message = await stream.get_final_message()
    await client.close()
    assert pieces == [TEXT[0:11], TEXT[11:22], TEXT[22:33], TEXT[33:]]
    assert message.content[0].text == TEXT and message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (4, 9)


# -- structured output ------------------------------------------------------------------------

def test_anthropic_tool_use_takes_its_input_from_the_reply(model_server: ModelServer):
    model_server.reply = replace_line_reply(3, "x = 1", "Typo.")  # fenced JSON is accepted
    message = ask(claude(model_server), tools=[EDIT_TOOL], tool_choice={"type": "tool", "name": "apply_fix"})
    [block] = message.content
    assert (block.type, block.name, message.stop_reason) == ("tool_use", "apply_fix", "tool_use")
    assert block.id.startswith("toolu_")
    assert block.input == {"explanation": "Typo.", "edit": {"start_line": 3, "end_line": 3, "replacement": "x = 1"}}


def test_anthropic_tool_use_streamed(model_server: ModelServer):
    model_server.tool_input = lambda seen: {"explanation": "from the knob", "edit": None}
    client = claude(model_server)
    with client.messages.stream(model="claude-test", max_tokens=100, tools=[EDIT_TOOL],
                                messages=[{"role": "user", "content": "fix"}]) as stream:
        partial = [event.partial_json for event in stream if event.type == "input_json"]
        message = stream.get_final_message()
    assert len(partial) == 4 and json.loads("".join(partial)) == {"explanation": "from the knob", "edit": None}
    [block] = message.content
    assert (block.type, block.name, block.input["explanation"]) == ("tool_use", "apply_fix", "from the knob")
    assert message.stop_reason == "tool_use" and message.usage.output_tokens == 6


def test_anthropic_tool_use_falls_back_to_text_when_the_reply_is_not_json(server: ModelServer):
    message = ask(claude(server), tools=[EDIT_TOOL])
    assert message.content[0].type == "text" and message.stop_reason == "end_turn"


def test_openai_and_ollama_structured_output_is_bare_json(model_server: ModelServer):
    model_server.reply = replace_line_reply(2, "y = 2")
    schema = {"type": "object"}
    body = {**CHAT, "response_format": {"type": "json_schema", "json_schema": {"name": "fix", "schema": schema}}}
    content = httpx.post(model_server.url + "/v1/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    assert json.loads(content)["edit"]["replacement"] == "y = 2"
    answer = ollama.Client(host=model_server.url).chat(model="llama3", messages=CHAT["messages"], format=schema)
    assert json.loads(answer.message.content)["edit"]["start_line"] == 2


# -- failures ---------------------------------------------------------------------------------

def test_anthropic_sdk_retries_honouring_retry_after(server: ModelServer):
    server.fail_times, server.status, server.retry_after = 2, 429, "0.1"
    started = time.monotonic()
    message = ask(claude(server, max_retries=2))
    elapsed = time.monotonic() - started
    assert message.content[0].text == TEXT
    seen = server.of("anthropic")
    assert [s.status for s in seen] == [429, 429, 200] and server.failures == 2
    assert [s.headers["x-stainless-retry-count"] for s in seen] == ["0", "1", "2"]
    assert 0.2 <= elapsed < 1.0, "the SDK's own backoff would wait over a second"


def test_status_alone_always_fails_in_each_protocols_error_shape(server: ModelServer):
    server.status = 529
    with pytest.raises(anthropic.OverloadedError) as raised:
        ask(claude(server))
    assert raised.value.status_code == 529 and raised.value.body["error"]["type"] == "overloaded_error"
    server.status = 429
    error = httpx.post(server.url + "/v1/chat/completions", json=CHAT).json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == "rate_limit_exceeded"
    with pytest.raises(ollama.ResponseError) as raised_ollama:
        ollama.Client(host=server.url).chat(model="llama3", messages=CHAT["messages"])
    assert raised_ollama.value.status_code == 429 and "Rate limit" in raised_ollama.value.error
    assert [s.status for s in server.requests] == [529, 429, 429] and server.failures == 3


def test_wrong_key_is_refused_with_401(server: ModelServer):
    server.api_key = "right-key"
    with pytest.raises(anthropic.AuthenticationError) as raised:
        ask(claude(server, api_key="wrong-key"))
    assert raised.value.body["error"]["type"] == "authentication_error"
    assert ask(claude(server, api_key="right-key")).content[0].text == TEXT
    bearer = anthropic.Anthropic(base_url=server.url, auth_token="right-key", max_retries=0)
    assert ask(bearer).content[0].text == TEXT
    assert httpx.post(server.url + "/v1/chat/completions", json=CHAT).json()["error"]["code"] == "invalid_api_key"
    by_header = httpx.post(server.url + "/v1/messages", json={**CHAT, "max_tokens": 9}, headers={"x-api-key": "right-key"})
    assert by_header.json()["type"] == "message"
    ok = httpx.post(server.url + "/v1/chat/completions", json=CHAT, headers={"Authorization": "Bearer right-key"})
    assert ok.status_code == 200


def test_garbage_makes_every_client_fail_to_parse(server: ModelServer):
    server.garbage = True
    with pytest.raises(json.JSONDecodeError):  # not wrapped in an anthropic error
        ask(claude(server))
    with pytest.raises(json.JSONDecodeError):
        ollama.Client(host=server.url).chat(model="llama3", messages=CHAT["messages"])
    with pytest.raises(json.JSONDecodeError):
        list(ollama.Client(host=server.url).chat(model="llama3", messages=CHAT["messages"], stream=True))
    response = httpx.post(server.url + "/v1/chat/completions", json=CHAT)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_garbage_can_be_json_of_the_wrong_shape(server: ModelServer):
    server.garbage = '{"unexpected": true}'
    with pytest.raises(ValueError, match="message"):  # pydantic: ChatResponse.message is required
        ollama.Client(host=server.url).chat(model="llama3", messages=CHAT["messages"])
    assert httpx.post(server.url + "/v1/chat/completions", json=CHAT).json() == {"unexpected": True}


def test_truncated_streams_raise_in_every_client(server: ModelServer):
    server.truncate = True
    client = claude(server)
    # mid-stream, the SDK raises httpx2's own error or, when the cut lands inside its byte
    # iterator, wraps it as APIConnectionError (the backend handles both)
    with (pytest.raises((httpx2.RemoteProtocolError, anthropic.APIConnectionError)),
          client.messages.stream(model="claude-test", max_tokens=100, messages=CHAT["messages"]) as stream):
        stream.get_final_message()
    with pytest.raises(httpx.RemoteProtocolError):
        list(ollama.Client(host=server.url).chat(model="llama3", messages=CHAT["messages"], stream=True))
    seen: list[str] = []
    with (pytest.raises(httpx.RemoteProtocolError),
          httpx.stream("POST", server.url + "/v1/chat/completions", json={**CHAT, "stream": True}) as response):
        seen.extend(response.iter_lines())
    assert "data: [DONE]" not in seen
    with pytest.raises(anthropic.APIConnectionError):  # a cut plain body fails inside the request
        ask(client)


def test_cleanly_truncated_streams_just_stop(server: ModelServer):
    server.truncate = "clean"
    with claude(server).messages.stream(model="claude-test", max_tokens=100, messages=CHAT["messages"]) as stream:
        events = [event.type for event in stream]
        message = stream.get_final_message()
    assert "message_stop" not in events and message.stop_reason is None and message.content[0].text == TEXT[:22]
    parts = list(ollama.Client(host=server.url).chat(model="llama3", messages=CHAT["messages"], stream=True))
    assert parts and not any(part.done for part in parts)


# -- timing and cancellation ------------------------------------------------------------------

def test_delay_answers_late(server: ModelServer):
    server.delay = 0.2
    started = time.monotonic()
    assert httpx.post(server.url + "/v1/chat/completions", json=CHAT).status_code == 200
    assert time.monotonic() - started >= 0.2 and server.closed_early == 0


def test_hang_until_the_client_times_out(server: ModelServer):
    server.hang = True
    with pytest.raises(anthropic.APITimeoutError):
        ask(claude(server, timeout=0.3))
    assert server.wait_until(lambda: server.closed_early == 1)
    [seen] = server.of("anthropic")
    assert seen.closed_early and seen.status is None
    assert server.wait_until(lambda: server.in_flight == 0)


def test_abandoned_stream_is_counted(server: ModelServer):
    server.chunks, server.chunk_delay = 8, 0.05
    with httpx.stream("POST", server.url + "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
        for line in response.iter_lines():
            if line.startswith("data: ") and json.loads(line[6:])["choices"][0]["delta"].get("content"):
                break  # leave after the first piece
    assert server.wait_until(lambda: server.closed_early == 1)
    assert server.of("openai")[0].closed_early


async def test_in_flight_counts_concurrent_requests(server: ModelServer):
    server.delay = 0.2
    async with httpx.AsyncClient(base_url=server.url) as client:
        await asyncio.gather(*(client.post("/v1/chat/completions", json=CHAT) for _ in range(3)))
        # the server counts a request out after its last byte is sent, so the client can see
        # the answer a moment before the count drops
        assert server.peak_in_flight == 3 and server.wait_until(lambda: server.in_flight == 0)
        server.delay, server.peak_in_flight = 0.0, 0
        for _ in range(2):
            await client.post("/v1/chat/completions", json=CHAT)
            assert server.wait_until(lambda: server.in_flight == 0)
    assert server.peak_in_flight == 1


# -- metadata ---------------------------------------------------------------------------------

def test_openai_models(model_server: ModelServer):
    model_server.model = "qwen3-coder"
    data = httpx.get(model_server.url + "/v1/models").json()
    assert data["object"] == "list" and [m["id"] for m in data["data"]] == ["qwen3-coder", "loopback-model"]
    assert all(m["object"] == "model" for m in data["data"])
    model_server.models = ["only-this"]
    assert [m["id"] for m in httpx.get(model_server.url + "/v1/models").json()["data"]] == ["only-this"]
    assert [s.protocol for s in model_server.requests] == ["openai-models"] * 2
    assert model_server.requests[0].method == "GET" and model_server.of("openai") == []


def test_anthropic_models(model_server: ModelServer):
    model_server.models = ["claude-test"]
    client = claude(model_server)
    info = client.models.retrieve("claude-test")
    assert (info.type, info.id, info.display_name, info.created_at.year) == ("model", "claude-test", "Claude Test", 2026)
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-nope")
    assert [m.id for m in client.models.list()] == ["claude-test"]
    assert {s.protocol for s in model_server.requests} == {"anthropic-models"}


def test_ollama_tags_show_and_version(model_server: ModelServer):
    client = ollama.Client(host=model_server.url)
    listed = client.list()
    assert [m.model for m in listed.models] == ["loopback-model:latest"] and listed.models[0].details.family == "llama"
    assert client.show("loopback-model").details.format == "gguf"
    with pytest.raises(ollama.ResponseError) as raised:
        client.show("missing")
    assert raised.value.status_code == 404 and raised.value.error == "model 'missing' not found"
    assert httpx.get(model_server.url + "/api/version").json()["version"]
    assert [s.protocol for s in model_server.requests] == ["ollama-tags", "ollama-show", "ollama-show", "ollama-version"]


def test_ollama_refuses_unknown_models_when_asked(model_server: ModelServer):
    model_server.reject_unknown_models = True
    with pytest.raises(ollama.ResponseError) as raised:
        ollama.Client(host=model_server.url).chat(model="llama3", messages=CHAT["messages"])
    assert raised.value.status_code == 404


def test_ollama_embed(model_server: ModelServer):
    client = ollama.Client(host=model_server.url)
    vectors = client.embed(model="nomic-embed-text", input=["alpha", "beta"]).embeddings
    assert len(vectors) == 2 and all(len(v) == 768 for v in vectors)
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0) for v in vectors)
    assert list(vectors[0]) == embedding("alpha") and vectors[0] != vectors[1]
    assert list(client.embed(model="nomic-embed-text", input="alpha").embeddings[0]) == embedding("alpha")
    model_server.embed_dims = 8
    assert len(client.embed(model="nomic-embed-text", input="x").embeddings[0]) == 8
    assert {s.protocol for s in model_server.requests} == {"ollama-embed"}


async def test_cancelled_call_closes_the_connection(server: ModelServer):
    server.hang = True
    client = anthropic.AsyncAnthropic(base_url=server.url, api_key="test-key", max_retries=0)
    task = asyncio.create_task(client.messages.create(model="claude-test", max_tokens=10, messages=CHAT["messages"]))
    assert await asyncio.to_thread(server.wait_until, lambda: server.in_flight == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(server.wait_until, lambda: server.closed_early == 1)
    await client.close()
