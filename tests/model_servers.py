"""Loopback HTTP servers that speak the real model protocols, for tests.

One server answers OpenAI chat completions (`POST /v1/chat/completions`), Ollama's chat
(`POST /api/chat`) and Anthropic Messages (`POST /v1/messages`), so the project's real clients
(httpx, the ollama client, the anthropic SDK) can be pointed at it. What the "model" says is set
by the test through `reply`; usage figures are computed from the request like a real server does.

Beyond the happy path it can misbehave the way real servers do, each through one knob: fail the
first N requests (`fail_times`, `status`, `retry_after`), answer late or never (`delay`, `hang`),
answer with something that is not the protocol (`garbage`), or cut a stream off (`truncate`). It
streams when asked (`"stream": true`) in each protocol's wire format, answers structured-output
requests (Anthropic `tools`, OpenAI `response_format`, Ollama `format`) with JSON, serves the
metadata endpoints health checks use, checks an API key when given one, and counts what a
cancellation or single-flight test needs to see (`closed_early`, `in_flight`, `peak_in_flight`).

The server speaks HTTP/1.1: plain answers carry a content-length, streams use chunked transfer
encoding (one chunk per event), so clients read them incrementally and can tell a clean end
from a cut connection.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

POLL = 0.02  # seconds between checks of a waiting connection for the client going away
GARBAGE = "<html><body><h1>Welcome!</h1><p>Please sign in to use this network.</p></body></html>"
CREATED = "2026-01-01T00:00:00Z"


def words(text: str) -> int:
    return len(text.split())


def text_of(content: Any) -> str:
    """The text of a message's content or of a system prompt: a string, or a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(block["text"] for block in content
                         if isinstance(block, dict) and isinstance(block.get("text"), str))
    return ""


_FENCE = re.compile(r"```[a-zA-Z]*\s*\n(.*?)\n?\s*```", re.DOTALL)


def json_text(text: str) -> str:
    """The JSON in `text` as a server with constrained (structured) output sends it: no code fences.

    Text that holds no JSON is returned unchanged."""
    candidate = text.strip()
    if match := _FENCE.search(candidate):
        candidate = match.group(1).strip()
    try:
        json.loads(candidate)
    except ValueError:
        return text
    return candidate


def json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(json_text(text))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def split(text: str, pieces: int) -> list[str]:
    """`text` in at most `pieces` consecutive, non-empty, nearly equal parts."""
    if not text:
        return []
    count = max(1, min(pieces, len(text)))
    size, extra = divmod(len(text), count)
    parts, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        parts.append(text[start:end])
        start = end
    return parts


def embedding(text: str, dims: int = 768) -> list[float]:
    """A deterministic unit vector for `text` (what `/api/embed` answers)."""
    rng = random.Random(int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big"))
    vector = [rng.gauss(0.0, 1.0) for _ in range(dims)]
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def ollama_name(name: str) -> str:
    """Ollama's full model name: a name without a tag means `:latest`."""
    return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# Error shapes by HTTP status, as each service sends them.
ANTHROPIC_ERRORS = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
                    403: "permission_error", 404: "not_found_error", 413: "request_too_large",
                    429: "rate_limit_error", 500: "api_error", 504: "timeout_error", 529: "overloaded_error"}
OPENAI_ERRORS = {400: ("invalid_request_error", None), 401: ("invalid_request_error", "invalid_api_key"),
                 403: ("invalid_request_error", "insufficient_permissions"),
                 404: ("invalid_request_error", "model_not_found"), 429: ("requests", "rate_limit_exceeded")}
MESSAGES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
            408: "Request timeout", 409: "Conflict", 429: "Rate limit exceeded", 500: "Internal server error",
            502: "Bad gateway", 503: "Service unavailable", 504: "Gateway timeout", 529: "Overloaded"}


def error_body(family: str, status: int, message: str) -> dict[str, Any]:
    if family == "anthropic":
        kind = ANTHROPIC_ERRORS.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message},
                "request_id": f"req_loopback{random.getrandbits(48):012x}"}
    if family == "openai":
        kind, code = OPENAI_ERRORS.get(status) or (("server_error", None) if status >= 500 else ("invalid_request_error", None))
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return {"error": message}


@dataclass
class Seen:
    """One request the server received."""

    protocol: str  # "openai", "ollama", "anthropic" (chat calls) or e.g. "openai-models", "ollama-embed"
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]  # the JSON body; {} for GET
    method: str = "POST"
    status: int | None = None  # the HTTP status answered; None while waiting, or when nothing was sent
    closed_early: bool = False  # the client went away before the answer was complete

    @property
    def prompt(self) -> str:
        return "\n".join(m["content"] if isinstance(m.get("content"), str) else text_of(m["content"])
                         for m in self.body.get("messages", [])
                         if isinstance(m.get("content"), str) or text_of(m.get("content")))


@dataclass
class ModelServer:
    """A model server on 127.0.0.1 for one test. Knobs can be changed while it runs."""

    # What the model says (text; for structured output, JSON text, with or without code fences).
    reply: Callable[[Seen], str] = lambda seen: '{"explanation": "nothing to do", "edit": null}'
    # An HTTP error status to answer with: always, or only the first `fail_times` requests.
    status: int | None = None
    requests: list[Seen] = field(default_factory=list)  # every routed request, in arrival order
    model: str = "loopback-model"  # the model named in answers when the request names none
    # Failures: the first `fail_times` requests fail with `status` (default 529 for Anthropic, 503
    # otherwise), later ones succeed; with fail_times 0, `status` makes every request fail.
    fail_times: int = 0
    retry_after: str | None = None  # `retry-after` header sent with forced failures
    delay: float = 0.0  # seconds to wait before answering anything
    hang: bool = False  # never answer; return only when the client goes away (or the server stops)
    # 200 answers whose body is not the protocol's JSON: True sends an HTML page; a string is sent
    # verbatim (e.g. '{"unexpected": true}'). Streams carry it as their only event / line.
    garbage: bool | str = False
    # Cut answers off halfway. True: the connection closes in the middle of the body (streams stop
    # after about half the pieces, before the final event, with no end of the chunked body), which
    # clients see as a transport error. "clean": the HTTP body ends properly but the content stops
    # there (no [DONE] / message_stop / done:true; a plain answer is half a JSON document).
    truncate: bool | Literal["clean"] = False
    chunks: int = 4  # pieces per streamed answer
    chunk_delay: float = 0.0  # seconds between streamed pieces
    # Anthropic tool_use input; when None, `reply` is parsed as JSON (fences allowed). A reply that
    # is not a JSON object is answered as a text block, like a model that ignored the tool.
    tool_input: Callable[[Seen], dict[str, Any]] | None = None
    models: list[str] | None = None  # models the metadata endpoints list; None: [model, "loopback-model"]
    reject_unknown_models: bool = False  # chat calls naming a model not in `models` get the protocol's 404
    embed_dims: int = 768  # size of /api/embed vectors
    # When set, every request must carry it or gets 401: `authorization: Bearer <key>`, or for
    # Anthropic also `x-api-key` (the anthropic SDK 2.x itself sends the Bearer form).
    api_key: str | None = None
    # Counters kept by the server.
    failures: int = 0  # forced failures answered so far
    closed_early: int = 0  # requests whose client went away before the answer was complete
    in_flight: int = 0  # requests being answered now
    peak_in_flight: int = 0  # the most requests answered at once
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)
    _stopping: threading.Event = field(default_factory=threading.Event, init=False, repr=False, compare=False)

    def start(self) -> ModelServer:
        owner = self
        self._stopping.clear()

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True  # small streamed chunks go out at once
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            # -- routing and the knobs every route shares ------------------------------------

            def _handle(self, method: str) -> None:
                path = self.path.split("?")[0]
                body: Any = {}
                if method == "POST":
                    length = int(self.headers.get("content-length") or 0)
                    try:
                        body = json.loads(self.rfile.read(length) or b"{}")
                    except json.JSONDecodeError:
                        return self._send(400, {"error": "bad json"})
                    if not isinstance(body, dict):
                        return self._send(400, {"error": "the body must be a JSON object"})
                headers = {k.lower(): v for k, v in self.headers.items()}
                protocol = owner._route(method, path, headers)
                if protocol is None:
                    return self._send(404, {"error": f"no route {self.path}"})
                seen = Seen(protocol, self.path, headers, body, method)
                owner._enter(seen)
                try:
                    self._answer(seen)
                except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                    owner._gone(seen)
                    self.close_connection = True
                finally:
                    owner._leave()

            def _answer(self, seen: Seen) -> None:
                family = seen.protocol.split("-")[0]
                if owner.hang:
                    self._wait(None, seen)
                    return
                if owner.delay > 0 and self._wait(owner.delay, seen):
                    return
                if not owner._authorised(family, seen.headers):
                    message = {"anthropic": "invalid x-api-key", "ollama": "unauthorized"}.get(
                        family, "Incorrect API key provided. You can find your API key in your account settings.")
                    return self._send(401, error_body(family, 401, message), seen)
                if failure := owner._take_failure(family):
                    headers = {"retry-after": owner.retry_after} if owner.retry_after is not None else {}
                    message = f"{MESSAGES.get(failure, f'HTTP {failure}')} (loopback forced failure {owner.failures})"
                    return self._send(failure, error_body(family, failure, message), seen, headers)
                try:
                    answer = getattr(self, "_" + seen.protocol.replace("-", "_"))(seen)
                except Exception as exc:  # noqa: BLE001 - a broken `reply` in a test: say so, don't drop the line
                    return self._send(500, error_body(family, 500, f"loopback reply failed: {exc!r}"), seen)
                if answer is not None:
                    status, payload = answer
                    self._send(status, payload, seen, success=True)

            # -- chat -------------------------------------------------------------------------

            def _known(self, name: str | None, ollama: bool = False) -> bool:
                if not owner.reject_unknown_models or name is None:
                    return True
                names = owner.model_names
                return ollama_name(name) in {ollama_name(n) for n in names} if ollama else name in names

            def _openai(self, seen: Seen) -> tuple[int, dict[str, Any]] | None:
                body = seen.body
                if not self._known(body.get("model")):
                    message = f"The model `{body.get('model')}` does not exist or you do not have access to it."
                    return 404, error_body("openai", 404, message)
                text = owner.reply(seen)
                if (body.get("response_format") or {}).get("type") in ("json_schema", "json_object"):
                    text = json_text(text)
                prompt_tokens, completion_tokens = words(seen.prompt), words(text)
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                         "total_tokens": prompt_tokens + completion_tokens}
                model, ident, created = body.get("model", owner.model), f"chatcmpl-{len(owner.requests)}", int(time.time())
                if not body.get("stream"):
                    return 200, {
                        "id": ident, "object": "chat.completion", "created": created, "model": model,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                     "logprobs": None, "finish_reason": "stop"}],
                        "usage": usage,
                    }
                include_usage = (body.get("stream_options") or {}).get("include_usage") is True

                def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
                    data = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                            "system_fingerprint": None,
                            "choices": [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None,
                                                                  "finish_reason": finish}]}
                    if include_usage:
                        data["usage"] = None
                    data.update(extra)
                    return b"data: " + json.dumps(data).encode() + b"\n\n"

                frames = [(chunk({"role": "assistant", "content": ""}), False)]
                frames += [(chunk({"content": piece}), True) for piece in split(text, owner.chunks)]
                frames.append((chunk({}, "stop"), False))
                if include_usage:
                    frames.append((chunk(None, usage=usage), False))
                frames.append((b"data: [DONE]\n\n", False))
                self._stream(seen, "text/event-stream; charset=utf-8", frames)
                return None

            def _ollama(self, seen: Seen) -> tuple[int, dict[str, Any]] | None:
                body = seen.body
                model = body.get("model", owner.model)
                if not self._known(body.get("model"), ollama=True):
                    return 404, error_body("ollama", 404, f"model '{model}' not found")
                text = owner.reply(seen)
                if body.get("format"):
                    text = json_text(text)
                prompt_tokens, completion_tokens = words(seen.prompt), words(text)
                final = {"done": True, "done_reason": "stop", "total_duration": 1_000_000,
                         "load_duration": 100_000, "prompt_eval_count": prompt_tokens,
                         "prompt_eval_duration": 200_000, "eval_count": completion_tokens,
                         "eval_duration": 700_000}
                if not body.get("stream", True):  # Ollama streams unless told not to
                    return 200, {"model": model, "created_at": now_iso(),
                                 "message": {"role": "assistant", "content": text}, **final}

                def line(content: str, **extra: Any) -> bytes:
                    data = {"model": model, "created_at": now_iso(),
                            "message": {"role": "assistant", "content": content}, "done": False, **extra}
                    return json.dumps(data).encode() + b"\n"

                frames = [(line(piece), True) for piece in split(text, owner.chunks)]
                frames.append((line("", **final), False))
                self._stream(seen, "application/x-ndjson", frames)
                return None

            def _anthropic(self, seen: Seen) -> tuple[int, dict[str, Any]] | None:
                body = seen.body
                model = body.get("model", owner.model)
                if not self._known(body.get("model")):
                    return 404, error_body("anthropic", 404, f"model: {model}")
                tools = [tool for tool in body.get("tools") or [] if isinstance(tool, dict) and tool.get("name")]
                choice = body.get("tool_choice") or {}
                block: dict[str, Any] | None = None
                if tools and choice.get("type") != "none":
                    name = choice["name"] if choice.get("type") == "tool" and choice.get("name") else tools[0]["name"]
                    tool_input = owner.tool_input(seen) if owner.tool_input else json_object(owner.reply(seen))
                    if tool_input is not None:
                        block = {"type": "tool_use", "id": f"toolu_loopback{len(owner.requests):04d}",
                                 "name": name, "input": tool_input}
                if block is None:
                    text = owner.reply(seen)
                    output = body.get("output_config") or {}
                    if (output.get("format") or {}).get("type") == "json_schema" or body.get("output_format"):
                        text = json_text(text)
                    block, generated = {"type": "text", "text": text}, text
                else:
                    generated = json.dumps(block["input"])
                prompt_tokens = words(seen.prompt) + words(text_of(body.get("system", "")))
                completion_tokens = words(generated)
                stop_reason = "tool_use" if block["type"] == "tool_use" else "end_turn"
                ident = f"msg_loopback{len(owner.requests):04d}"
                usage = {"input_tokens": prompt_tokens, "output_tokens": completion_tokens,
                         "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
                if not body.get("stream"):
                    return 200, {
                        "id": ident, "type": "message", "role": "assistant", "model": model,
                        "content": [block], "stop_reason": stop_reason, "stop_sequence": None, "usage": usage,
                    }

                def event(name: str, data: dict[str, Any]) -> bytes:
                    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

                start = {"id": ident, "type": "message", "role": "assistant", "model": model, "content": [],
                         "stop_reason": None, "stop_sequence": None, "usage": {**usage, "output_tokens": 1}}
                if block["type"] == "tool_use":
                    opening = {**block, "input": {}}
                    deltas = [{"type": "input_json_delta", "partial_json": piece}
                              for piece in split(generated, owner.chunks)]
                else:
                    opening = {"type": "text", "text": ""}
                    deltas = [{"type": "text_delta", "text": piece} for piece in split(block["text"], owner.chunks)]
                frames = [(event("message_start", {"type": "message_start", "message": start}), False),
                          (event("content_block_start", {"type": "content_block_start", "index": 0,
                                                         "content_block": opening}), False),
                          (event("ping", {"type": "ping"}), False)]
                frames += [(event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}), True)
                           for delta in deltas]
                frames += [(event("content_block_stop", {"type": "content_block_stop", "index": 0}), False),
                           (event("message_delta", {"type": "message_delta",
                                                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                                    "usage": {"output_tokens": completion_tokens}}), False),
                           (event("message_stop", {"type": "message_stop"}), False)]
                self._stream(seen, "text/event-stream; charset=utf-8", frames)
                return None

            # -- metadata -----------------------------------------------------------------------

            def _model_id(self, seen: Seen) -> str | None:
                rest = seen.path.split("?")[0][len("/v1/models"):].strip("/")
                return rest or None

            def _openai_models(self, seen: Seen) -> tuple[int, dict[str, Any]]:
                def card(name: str) -> dict[str, Any]:
                    return {"id": name, "object": "model", "created": 1_767_225_600, "owned_by": "loopback"}

                wanted = self._model_id(seen)
                if wanted is None:
                    return 200, {"object": "list", "data": [card(name) for name in owner.model_names]}
                if wanted in owner.model_names:
                    return 200, card(wanted)
                return 404, error_body("openai", 404, f"The model '{wanted}' does not exist")

            def _anthropic_models(self, seen: Seen) -> tuple[int, dict[str, Any]]:
                def card(name: str) -> dict[str, Any]:
                    return {"type": "model", "id": name, "display_name": name.replace("-", " ").title(),
                            "created_at": CREATED, "lifecycle": "active", "deprecated_at": None,
                            "retires_at": None, "max_input_tokens": 200_000, "max_tokens": 64_000}

                wanted = self._model_id(seen)
                names = owner.model_names
                if wanted is None:
                    return 200, {"data": [card(name) for name in names], "has_more": False,
                                 "first_id": names[0] if names else None, "last_id": names[-1] if names else None}
                if wanted in names:
                    return 200, card(wanted)
                return 404, error_body("anthropic", 404, f"model: {wanted}")

            def _details(self) -> dict[str, Any]:
                return {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                        "parameter_size": "8.0B", "quantization_level": "Q4_K_M"}

            def _ollama_tags(self, seen: Seen) -> tuple[int, dict[str, Any]]:
                return 200, {"models": [
                    {"name": ollama_name(name), "model": ollama_name(name), "modified_at": CREATED,
                     "size": 4_920_753_328, "digest": hashlib.sha256(name.encode()).hexdigest(),
                     "details": self._details()}
                    for name in owner.model_names]}

            def _ollama_show(self, seen: Seen) -> tuple[int, dict[str, Any]]:
                name = seen.body.get("model") or seen.body.get("name") or ""
                if ollama_name(name) not in {ollama_name(n) for n in owner.model_names}:
                    return 404, error_body("ollama", 404, f"model '{name}' not found")
                return 200, {
                    "modelfile": f"FROM {ollama_name(name)}\n", "parameters": "temperature 0.7",
                    "template": "{{ .Prompt }}", "details": self._details(),
                    "model_info": {"general.architecture": "llama", "general.parameter_count": 8_030_261_248,
                                   "llama.context_length": 131_072, "llama.embedding_length": owner.embed_dims},
                    "capabilities": ["completion", "tools"], "modified_at": CREATED,
                }

            def _ollama_embed(self, seen: Seen) -> tuple[int, dict[str, Any]]:
                body = seen.body
                model = body.get("model", owner.model)
                if not self._known(body.get("model"), ollama=True):
                    return 404, error_body("ollama", 404, f"model '{model}' not found")
                given = body.get("input", "")
                texts = [given] if isinstance(given, str) else list(given)
                dims = int(body.get("dimensions") or owner.embed_dims)
                return 200, {"model": model, "embeddings": [embedding(text, dims) for text in texts],
                             "total_duration": 1_000_000, "load_duration": 100_000,
                             "prompt_eval_count": sum(words(text) for text in texts)}

            def _ollama_version(self, seen: Seen) -> tuple[int, dict[str, Any]]:
                return 200, {"version": "0.13.0"}

            # -- writing ------------------------------------------------------------------------

            def _send(self, status: int, payload: dict[str, Any], seen: Seen | None = None,
                      headers: dict[str, str] | None = None, success: bool = False) -> None:
                data = json.dumps(payload).encode()
                if success and status == 200 and owner.garbage is not False:
                    data = owner._garbage().encode()
                declared = len(data)
                if success and status == 200 and owner.garbage is False and owner.truncate:
                    data = data[: len(data) // 2]
                    if owner.truncate == "clean":
                        declared = len(data)
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(declared))
                if seen is not None and seen.protocol.startswith("anthropic"):
                    self.send_header("request-id", f"req_loopback{len(owner.requests):04d}")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                if seen is not None:
                    seen.status = status
                self.wfile.write(data)
                if len(data) < declared:
                    self.close_connection = True  # the client is left waiting for the rest: cut it off

            def _stream(self, seen: Seen, content_type: str, frames: list[tuple[bytes, bool]]) -> None:
                """Send `frames` (data, is_piece) as a chunked body, one chunk per frame."""
                if owner.garbage is not False:
                    frames = [(owner._garbage_frame(seen.protocol), False)]
                cut = len(frames)
                if owner.truncate:
                    pieces = [i for i, (_, is_piece) in enumerate(frames) if is_piece]
                    cut = pieces[max(1, len(pieces) // 2) - 1] + 1 if pieces else min(1, len(frames))
                self.send_response(200)
                self.send_header("content-type", content_type)
                self.send_header("transfer-encoding", "chunked")
                self.send_header("cache-control", "no-cache")
                if seen.protocol == "anthropic":
                    self.send_header("request-id", f"req_loopback{len(owner.requests):04d}")
                self.end_headers()
                seen.status = 200
                pieces_sent = 0
                for i, (data, is_piece) in enumerate(frames[:cut]):
                    if is_piece and pieces_sent and owner.chunk_delay > 0:
                        if self._wait(owner.chunk_delay, seen):
                            return
                    elif i and self._client_gone(0):
                        owner._gone(seen)
                        self.close_connection = True
                        return
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    pieces_sent += is_piece
                if cut < len(frames) and owner.truncate is True:
                    self.close_connection = True  # no last chunk: the body ends in the middle
                    return
                self.wfile.write(b"0\r\n\r\n")

            # -- watching the connection --------------------------------------------------------

            def _client_gone(self, timeout: float) -> bool:
                """Wait up to `timeout` seconds for the client to close the connection; True if it did."""
                try:
                    readable, _, _ = select.select([self.connection], [], [], max(0.0, timeout))
                except (OSError, ValueError):
                    return True
                if not readable:
                    return False
                try:
                    data = self.connection.recv(1, socket.MSG_PEEK)
                except (BlockingIOError, InterruptedError):
                    return False
                except OSError:
                    return True
                if data:  # the client sent something else: not a close
                    time.sleep(timeout)
                    return False
                return True

            def _wait(self, seconds: float | None, seen: Seen) -> bool:
                """Wait `seconds` (None: until the client goes away) watching the connection.

                True when the answer must be abandoned: the client went away (recorded on `seen` and
                in `closed_early`) or the server is stopping."""
                deadline = None if seconds is None else time.monotonic() + seconds
                while True:
                    if owner._stopping.is_set():
                        self.close_connection = True
                        return True
                    step = POLL if deadline is None else min(POLL, deadline - time.monotonic())
                    if step <= 0:
                        return False
                    if self._client_gone(step):
                        owner._gone(seen)
                        self.close_connection = True
                        return True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def model_names(self) -> list[str]:
        if self.models is not None:
            return list(self.models)
        return [self.model] + (["loopback-model"] if self.model != "loopback-model" else [])

    def stop(self) -> None:
        self._stopping.set()  # releases handlers waiting in `hang` / `delay`
        self._httpd.shutdown()
        self._httpd.server_close()

    def of(self, protocol: str) -> list[Seen]:
        return [seen for seen in self.requests if seen.protocol == protocol]

    def wait_until(self, condition: Callable[[], bool], timeout: float = 2.0) -> bool:
        """Poll `condition` until it holds or `timeout` seconds pass (for counters set by the server thread)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    # -- used by the request handlers -----------------------------------------------------------

    @staticmethod
    def _route(method: str, path: str, headers: dict[str, str]) -> str | None:
        if method == "GET" and (path == "/v1/models" or path.startswith("/v1/models/")):
            return "anthropic-models" if "anthropic-version" in headers else "openai-models"
        return {
            ("POST", "/v1/chat/completions"): "openai",
            ("POST", "/api/chat"): "ollama",
            ("POST", "/v1/messages"): "anthropic",
            ("POST", "/api/show"): "ollama-show",
            ("POST", "/api/embed"): "ollama-embed",
            ("GET", "/api/tags"): "ollama-tags",
            ("GET", "/api/version"): "ollama-version",
        }.get((method, path))

    def _authorised(self, family: str, headers: dict[str, str]) -> bool:
        if self.api_key is None:
            return True
        bearer = headers.get("authorization") == f"Bearer {self.api_key}"
        return bearer or (family == "anthropic" and headers.get("x-api-key") == self.api_key)

    def _take_failure(self, family: str) -> int | None:
        with self._lock:
            if self.fail_times > 0:
                if self.failures >= self.fail_times:
                    return None
            elif self.status is None:
                return None
            self.failures += 1
            return self.status or (529 if family == "anthropic" else 503)

    def _garbage(self) -> str:
        return GARBAGE if self.garbage is True else str(self.garbage)

    def _garbage_frame(self, protocol: str) -> bytes:
        lines = self._garbage().splitlines() or [""]
        data = "".join(f"data: {line}\n" for line in lines)
        if protocol == "anthropic":
            return f"event: message_start\n{data}\n".encode()
        if protocol == "openai":
            return f"{data}\n".encode()
        return ("\n".join(lines) + "\n").encode()

    def _enter(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _gone(self, seen: Seen) -> None:
        with self._lock:
            if not seen.closed_early:
                seen.closed_early = True
                self.closed_early += 1


def replace_line_reply(line_number: int, replacement: str, explanation: str = "Fixed by the model.") -> Callable[[Seen], str]:
    """A model that answers with a one-line edit in the structured format the prompt asks for."""
    def reply(seen: Seen) -> str:
        return "```json\n" + json.dumps({
            "explanation": explanation,
            "edit": {"start_line": line_number, "end_line": line_number, "replacement": replacement},
        }) + "\n```"
    return reply
