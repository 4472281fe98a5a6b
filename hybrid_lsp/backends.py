"""Model backends: the local model (OpenAI-compatible over httpx, or Ollama) and the remote API (Anthropic).

Each turns a prompt into text plus the token usage the server reported. Failures become one
BackendError whose message says what failed and what to do; no stack trace reaches the user.
Cancelling the calling task closes the HTTP connection, so the model stops generating.
The anthropic and ollama SDKs are imported on first use: they take a second to import, and the
editor should not wait for that when it starts the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

from .config import LocalModel, RemoteModel


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    model: str


class BackendError(RuntimeError):
    """A model call failed; the message is meant for the user.

    `unreachable` marks failures that will repeat for a while (nothing listening, timeouts), so
    the caller can stop trying that backend for a moment instead of paying the latency each time.
    """

    def __init__(self, message: str, *, unreachable: bool = False) -> None:
        super().__init__(message)
        self.unreachable = unreachable


class Backend(Protocol):
    route: str
    model: str

    async def complete(self, system: str, prompt: str) -> Completion: ...

    async def aclose(self) -> None: ...


class OpenAICompatible:
    """Chat completions as served by Lemonade, llama.cpp's server, vLLM or LM Studio."""

    route = "local"

    def __init__(self, settings: LocalModel, api_key: str | None = None) -> None:
        self.model = settings.model
        self._settings = settings
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/") + "/",
            headers=headers,
            timeout=httpx.Timeout(settings.timeout, connect=min(5.0, settings.timeout)),
            transport=httpx.AsyncHTTPTransport(retries=1),
        )

    async def complete(self, system: str, prompt: str) -> Completion:
        body = {
            "model": self.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": prompt}],
            "max_tokens": self._settings.max_tokens,
            "temperature": self._settings.temperature,
            "stream": False,
        }
        where = self._settings.base_url
        try:
            response = await self._client.post("chat/completions", json=body)
        except httpx.ConnectError:
            raise BackendError(
                f"the local model server at {where} is not reachable; start it (Lemonade, llama.cpp "
                "`llama-server`, ...) or set hybridLsp.local.baseUrl",
                unreachable=True,
            ) from None
        except httpx.TimeoutException:
            raise BackendError(
                f"the local model at {where} did not answer within {self._settings.timeout:g} s; "
                "raise hybridLsp.local.timeout or use a smaller model",
                unreachable=True,
            ) from None
        except httpx.HTTPError as exc:
            raise BackendError(f"the local model at {where} failed: {exc}") from None
        if response.status_code >= 400:
            detail = response.text[:200].strip()
            hint = " (is hybridLsp.local.model a model the server has loaded?)" if response.status_code == 404 else ""
            raise BackendError(f"the local model at {where} answered HTTP {response.status_code}{hint}: {detail}")
        try:
            data = response.json()
            text = data["choices"][0]["message"]["content"]
            usage = data.get("usage") or {}
            if not isinstance(text, str):
                raise TypeError("content is not text")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise BackendError(f"the local model at {where} returned a malformed chat completion ({exc})") from None
        return Completion(text, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0),
                          str(data.get("model") or self.model))

    async def aclose(self) -> None:
        await self._client.aclose()


class Ollama:
    """Ollama's native chat API through the official client."""

    route = "local"

    def __init__(self, settings: LocalModel) -> None:
        import ollama

        self._sdk = ollama
        self.model = settings.model
        self._settings = settings
        self._client = ollama.AsyncClient(host=settings.base_url, timeout=settings.timeout)

    async def complete(self, system: str, prompt: str) -> Completion:
        try:
            response = await self._client.chat(
                model=self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": prompt}],
                options={"temperature": self._settings.temperature, "num_predict": self._settings.max_tokens},
            )
        except ConnectionError:
            raise BackendError(f"Ollama at {self._settings.base_url} is not reachable; run `ollama serve`",
                               unreachable=True) from None
        except self._sdk.ResponseError as exc:
            hint = f"; run `ollama pull {self.model}`" if exc.status_code == 404 else ""
            raise BackendError(f"Ollama answered HTTP {exc.status_code}: {exc.error}{hint}") from None
        except httpx.TimeoutException:
            raise BackendError(f"Ollama did not answer within {self._settings.timeout:g} s", unreachable=True) from None
        return Completion(response.message.content or "", int(response.prompt_eval_count or 0),
                          int(response.eval_count or 0), self.model)

    async def aclose(self) -> None:
        await self._client._client.aclose()


class Anthropic:
    """Claude through the official SDK; ANTHROPIC_BASE_URL is honoured by the SDK itself."""

    route = "remote"

    def __init__(self, settings: RemoteModel, api_key: str) -> None:
        import anthropic

        self._sdk = anthropic
        self.model = settings.model
        self._settings = settings
        self._client = anthropic.AsyncAnthropic(api_key=api_key, timeout=settings.timeout, max_retries=2)

    async def complete(self, system: str, prompt: str) -> Completion:
        try:
            message = await self._client.messages.create(
                model=self.model,
                max_tokens=self._settings.max_tokens,
                system=system,
                messages=[{"role": "user", "content": prompt}],
            )
        except self._sdk.AuthenticationError:
            raise BackendError("the Anthropic API rejected the key; check ANTHROPIC_API_KEY") from None
        except self._sdk.RateLimitError:
            raise BackendError("the Anthropic API is rate-limiting this key; try again shortly") from None
        except self._sdk.APIConnectionError:
            raise BackendError("the Anthropic API is not reachable (network or ANTHROPIC_BASE_URL)",
                               unreachable=True) from None
        except self._sdk.APIStatusError as exc:
            raise BackendError(f"the Anthropic API answered HTTP {exc.status_code}: {exc.message}") from None
        text = "".join(block.text for block in message.content if getattr(block, "type", "") == "text")
        return Completion(text, message.usage.input_tokens, message.usage.output_tokens, message.model)

    async def aclose(self) -> None:
        await self._client.close()
