"""Model backends: the local model (OpenAI-compatible or Ollama) and the remote API (Anthropic, or an
OpenAI-compatible service).

Each turns a request into text plus the token usage the server reported, streaming partial text to
a callback as it arrives. A structured fix is asked for in the backend's own way: tool use for
Anthropic, a JSON schema `response_format` for OpenAI-compatible servers, `format` for Ollama.
Transient failures (429, 5xx, overloaded) are retried with backoff honouring `retry-after` by the
HTTP layer (httpx-retries, or the anthropic SDK's own retries). Whatever still fails becomes one
BackendError whose message says what failed and what to do. Cancelling the calling task closes
the HTTP stream, so the model stops generating.

The anthropic and ollama SDKs are imported on first use: they take a second to import, and the
editor should not wait for that when it starts the server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from httpx_retries import Retry, RetryTransport
from httpx_sse import SSEError, aconnect_sse

from .config import LocalModel, RemoteModel

RETRY_STATUSES = (429, 500, 502, 503, 504, 529)


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str


@dataclass(slots=True)
class Request:
    system: str
    prompt: str
    # JSON schema of the answer when a structured fix is wanted; None for free text.
    schema: dict[str, Any] | None = None
    on_text: Callable[[str], None] | None = None


class BackendError(RuntimeError):
    """A model call failed; the message is meant for the user.

    `unreachable` marks failures that will repeat for a while (nothing listening, timeouts, the
    service down), so the caller can stop trying that backend for a moment.
    """

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class Backend(Protocol):
    route: str
    model: str
    label: str

    async def complete(self, request: Request) -> Completion: ...

    async def check(self) -> list[str]: ...

    async def aclose(self) -> None: ...


@dataclass
class Breaker:
    """A circuit breaker: after repeated failures a backend is skipped for a while, then tried once.

    One failure that says "nothing is there" (connection refused, timeout) opens it at once;
    server errors open it after `threshold` in a row. Pure state, no I/O.
    """

    threshold: int = 3
    cooldown: float = 30.0
    failures: int = 0
    opened_at: float | None = None
    reason: str = ""
    clock: Callable[[], float] = field(default=time.monotonic)

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        return self.clock() - self.opened_at >= self.cooldown  # half-open: one trial

    def retry_in(self) -> float:
        return 0.0 if self.opened_at is None else max(0.0, self.cooldown - (self.clock() - self.opened_at))

    def success(self) -> None:
        self.failures, self.opened_at, self.reason = 0, None, ""

    def failure(self, error: BackendError) -> None:
        self.failures += 1
        self.reason = str(error)
        if error.unreachable or self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = self.clock()


def _retrying_client(base_url: str, timeout: float, headers: dict[str, str]) -> httpx.AsyncClient:
    # Statuses are retried; timeouts are not (a slow model stays slow, and the breaker takes over).
    retry = Retry(total=2, backoff_factor=0.5, status_forcelist=RETRY_STATUSES, allowed_methods=["GET", "POST"],
                  retry_on_exceptions=[], respect_retry_after_header=True, max_backoff_wait=20.0)
    return httpx.AsyncClient(
        base_url=base_url.rstrip("/") + "/",
        headers=headers,
        timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
        transport=RetryTransport(transport=httpx.AsyncHTTPTransport(retries=1), retry=retry),
    )


def _http_failure(where: str, exc: Exception, timeout: float, hint: str) -> BackendError:
    if isinstance(exc, httpx.RemoteProtocolError):
        return BackendError(f"{where} stopped in the middle of its answer (the connection dropped)")
    if isinstance(exc, httpx.ConnectError):
        return BackendError(f"{where} is not reachable; {hint}", unreachable=True)
    if isinstance(exc, httpx.TimeoutException):
        return BackendError(f"{where} did not answer within {timeout:g} s; raise the timeout or use a smaller model",
                            unreachable=True)
    return BackendError(f"{where} failed: {exc}")


def _status_failure(where: str, status: int, detail: str, model: str) -> BackendError:
    detail = detail.strip()[:200]
    if status in (401, 403):
        return BackendError(f"{where} refused the API key (HTTP {status}): {detail}")
    if status == 404:
        return BackendError(f"{where} does not know model {model!r} (HTTP 404): {detail}")
    if status == 429:
        return BackendError(f"{where} is rate-limiting requests (HTTP 429) even after retries; try again shortly")
    if status >= 500:
        return BackendError(f"{where} had a server error (HTTP {status}) even after retries: {detail}",
                            unreachable=status in (502, 503, 504, 529))
    return BackendError(f"{where} answered HTTP {status}: {detail}")


class OpenAICompatible:
    """Chat completions as served by Lemonade, llama.cpp's server, vLLM, LM Studio, or a remote service."""

    def __init__(self, route: str, base_url: str, model: str, *, api_key: str | None, timeout: float,
                 max_tokens: int, temperature: float | None, structured: bool = True, stream: bool = True) -> None:
        self.route, self.model, self.base_url = route, model, base_url
        self.label = f"{'local' if route == 'local' else 'remote'} model {model} at {base_url}"
        self._timeout, self._max_tokens, self._temperature = timeout, max_tokens, temperature
        self._structured = structured
        self._stream_answers = stream
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = _retrying_client(base_url, timeout, headers)

    @classmethod
    def local(cls, settings: LocalModel, api_key: str | None) -> OpenAICompatible:
        return cls("local", settings.base_url, settings.model, api_key=api_key, timeout=settings.timeout,
                   max_tokens=settings.max_tokens, temperature=settings.temperature, structured=settings.structured,
                   stream=settings.stream)

    def _body(self, request: Request, structured: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "system", "content": request.system}, {"role": "user", "content": request.prompt}],
            "max_tokens": self._max_tokens,
            "stream": self._stream_answers,
        }
        if self._stream_answers:
            body["stream_options"] = {"include_usage": True}
        if self._temperature is not None:
            body["temperature"] = self._temperature
        if request.schema is not None and structured:
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "fix", "schema": request.schema}}
        return body

    async def complete(self, request: Request) -> Completion:
        try:
            return await self._stream(request, structured=self._structured)
        except _SchemaRefused:
            # Servers without JSON-schema support refuse response_format: ask again in prose form.
            self._structured = False
            return await self._stream(request, structured=False)

    async def _stream(self, request: Request, structured: bool) -> Completion:
        where = f"the {self.label}"
        pieces: list[str] = []
        usage: dict[str, Any] = {}
        finished = False
        model = self.model
        try:
            async with aconnect_sse(self._client, "POST", "chat/completions", json=self._body(request, structured)) as source:
                response = source.response
                if response.status_code >= 400:
                    detail = (await response.aread()).decode("utf-8", "replace")
                    if response.status_code == 400 and structured and "response_format" in detail:
                        raise _SchemaRefused()
                    raise _status_failure(where, response.status_code, detail, self.model)
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    # Some servers ignore "stream": read the whole completion instead.
                    return self._whole(json.loads(await response.aread()), where)
                async for event in source.aiter_sse():
                    if event.data == "[DONE]":
                        finished = True
                        break
                    chunk = json.loads(event.data)
                    model = chunk.get("model") or model
                    if chunk.get("usage"):
                        usage = chunk["usage"]
                    for choice in chunk.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content") or ""
                        if piece:
                            pieces.append(piece)
                            if request.on_text:
                                request.on_text(piece)
                        if choice.get("finish_reason"):
                            finished = True
        except BackendError:
            raise
        except _SchemaRefused:
            raise
        except (json.JSONDecodeError, SSEError, KeyError, TypeError, AttributeError) as exc:
            raise BackendError(f"{where} sent a malformed response ({type(exc).__name__}: {exc})") from None
        except httpx.HTTPError as exc:
            raise _http_failure(where, exc, self._timeout, "start it (Lemonade, llama.cpp `llama-server`, ...) or set hybridLsp.local.baseUrl"
                                if self.route == "local" else "check HYBRID_LSP_REMOTE_URL and the network") from None
        if not finished:
            raise BackendError(f"{where} stopped in the middle of its answer (the stream was cut off)")
        return Completion("".join(pieces), int(usage.get("prompt_tokens") or 0),
                          int(usage.get("completion_tokens") or 0), str(model))

    def _whole(self, data: dict[str, Any], where: str) -> Completion:
        try:
            text = data["choices"][0]["message"]["content"]
            if not isinstance(text, str):
                raise TypeError("content is not text")
        except (KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"{where} returned a malformed chat completion ({exc})") from None
        usage = data.get("usage") or {}
        return Completion(text, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0),
                          str(data.get("model") or self.model))

    async def check(self) -> list[str]:
        where = f"the {self.label}"
        try:
            response = await self._client.get("models")
        except httpx.HTTPError as exc:
            return [str(_http_failure(where, exc, self._timeout, "start the server or fix the base URL"))]
        if response.status_code >= 400:
            return [str(_status_failure(where, response.status_code, response.text, self.model))]
        try:
            names = [item.get("id") for item in response.json().get("data", [])]
        except (ValueError, AttributeError):
            return [f"{where} answered /models with something that is not a model list"]
        if self.model not in names:
            return [f"{where}: model {self.model!r} is not loaded (the server has {names[:8]}); load it or set the model setting"]
        return []

    async def aclose(self) -> None:
        await self._client.aclose()


class _SchemaRefused(Exception):
    pass


class Ollama:
    """Ollama's native chat API through the official client."""

    route = "local"

    def __init__(self, settings: LocalModel) -> None:
        import ollama

        self._sdk = ollama
        self.model = settings.model
        self.label = f"Ollama model {settings.model} at {settings.base_url}"
        self._settings = settings
        self._client = ollama.AsyncClient(host=settings.base_url, timeout=settings.timeout)

    async def complete(self, request: Request) -> Completion:
        pieces: list[str] = []
        final = None
        try:
            stream = await self._client.chat(
                model=self.model,
                messages=[{"role": "system", "content": request.system}, {"role": "user", "content": request.prompt}],
                stream=True,
                format=request.schema if (request.schema and self._settings.structured) else None,
                options={"temperature": self._settings.temperature, "num_predict": self._settings.max_tokens},
            )
            async for chunk in stream:
                piece = chunk.message.content or ""
                if piece:
                    pieces.append(piece)
                    if request.on_text:
                        request.on_text(piece)
                if chunk.done:
                    final = chunk
        except ConnectionError:
            raise BackendError(f"Ollama at {self._settings.base_url} is not reachable; run `ollama serve`",
                               unreachable=True) from None
        except self._sdk.ResponseError as exc:
            hint = f"; run `ollama pull {self.model}`" if exc.status_code == 404 else ""
            raise BackendError(f"Ollama answered HTTP {exc.status_code}: {exc.error}{hint}") from None
        except httpx.TimeoutException:
            raise BackendError(f"Ollama did not answer within {self._settings.timeout:g} s", unreachable=True) from None
        except (httpx.HTTPError, ValueError) as exc:
            raise BackendError(f"Ollama sent a malformed response ({type(exc).__name__}: {exc})") from None
        if final is None:
            raise BackendError("Ollama stopped in the middle of its answer (the stream was cut off)")
        return Completion("".join(pieces), int(final.prompt_eval_count or 0), int(final.eval_count or 0), self.model)

    async def check(self) -> list[str]:
        try:
            await self._client.show(self.model)
        except ConnectionError:
            return [f"Ollama at {self._settings.base_url} is not reachable; run `ollama serve` or fix hybridLsp.local.baseUrl"]
        except self._sdk.ResponseError as exc:
            if exc.status_code == 404:
                return [f"Ollama does not have model {self.model!r}; run `ollama pull {self.model}`"]
            return [f"Ollama answered HTTP {exc.status_code}: {exc.error}"]
        return []

    async def aclose(self) -> None:
        await self._client._client.aclose()


FIX_TOOL = "apply_fix"


class Anthropic:
    """Claude through the official SDK; ANTHROPIC_BASE_URL is honoured by the SDK itself."""

    route = "remote"

    def __init__(self, settings: RemoteModel, api_key: str) -> None:
        import anthropic

        self._sdk = anthropic
        self.model = settings.model
        self.label = f"Anthropic model {settings.model}"
        self._settings = settings
        self._client = anthropic.AsyncAnthropic(api_key=api_key, timeout=settings.timeout, max_retries=2)
        try:
            import httpx2

            self._transport_errors: tuple[type[BaseException], ...] = (httpx2.HTTPError, httpx.HTTPError)
        except ImportError:  # older SDKs run on httpx
            self._transport_errors = (httpx.HTTPError,)

    async def complete(self, request: Request) -> Completion:
        sdk = self._sdk
        extra: dict[str, Any] = {}
        if request.schema is not None:
            extra["tools"] = [{"name": FIX_TOOL, "description": "Apply a fix to the file.", "input_schema": request.schema}]
            extra["tool_choice"] = {"type": "tool", "name": FIX_TOOL}
        try:
            async with self._client.messages.stream(
                model=self.model, max_tokens=self._settings.max_tokens, system=request.system,
                messages=[{"role": "user", "content": request.prompt}], **extra,
            ) as stream:
                async for event in stream:
                    if event.type == "content_block_delta" and request.on_text:
                        delta = event.delta
                        piece = getattr(delta, "text", None) or getattr(delta, "partial_json", None) or ""
                        if piece:
                            request.on_text(piece)
                message = await stream.get_final_message()
        except sdk.AuthenticationError:
            raise BackendError("the Anthropic API rejected the key; check ANTHROPIC_API_KEY") from None
        except sdk.RateLimitError:
            raise BackendError("the Anthropic API is rate-limiting this key even after retries; try again shortly") from None
        except sdk.APITimeoutError:
            raise BackendError(f"the Anthropic API did not answer within {self._settings.timeout:g} s", unreachable=True) from None
        except sdk.APIConnectionError:
            raise BackendError("the Anthropic API is not reachable (network or ANTHROPIC_BASE_URL)", unreachable=True) from None
        except sdk.APIStatusError as exc:
            if exc.status_code == 529:
                raise BackendError("the Anthropic API is overloaded even after retries; try again shortly",
                                   unreachable=True) from None
            raise _status_failure("the Anthropic API", exc.status_code, str(exc.message), self.model) from None
        except (sdk.APIResponseValidationError, ValueError, KeyError, AttributeError, AssertionError) as exc:
            # The SDK asserts when a stream ends before its first event.
            raise BackendError(f"the Anthropic API sent a malformed response ({type(exc).__name__}: {exc})") from None
        except self._transport_errors:
            # A stream cut off mid-way surfaces as the SDK's HTTP library's own error.
            raise BackendError("the Anthropic API stopped in the middle of its answer (the connection dropped)") from None
        if message.stop_reason is None:
            raise BackendError("the Anthropic API stopped in the middle of its answer (the stream was cut off)")
        try:
            text = ""
            for block in message.content:
                if block.type == "tool_use" and block.name == FIX_TOOL:
                    text = json.dumps(block.input)
                    break
                if block.type == "text":
                    text += block.text
            return Completion(text, int(message.usage.input_tokens), int(message.usage.output_tokens), str(message.model))
        except (AttributeError, TypeError, ValueError) as exc:
            raise BackendError(f"the Anthropic API sent a malformed message ({type(exc).__name__}: {exc})") from None

    async def check(self) -> list[str]:
        sdk = self._sdk
        try:
            await self._client.models.retrieve(self.model)
        except sdk.AuthenticationError:
            return ["the Anthropic API rejected ANTHROPIC_API_KEY; create a new key and set it"]
        except sdk.NotFoundError:
            return [f"the Anthropic API does not know model {self.model!r}; set hybridLsp.remote.model"]
        except sdk.APIConnectionError:
            return ["the Anthropic API is not reachable (network or ANTHROPIC_BASE_URL)"]
        except sdk.APIStatusError as exc:
            return [f"the Anthropic API answered HTTP {exc.status_code}: {exc.message}"]
        return []

    async def aclose(self) -> None:
        await self._client.close()
