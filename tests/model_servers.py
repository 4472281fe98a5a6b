"""Loopback HTTP servers that speak the real model protocols, for tests.

One server answers OpenAI chat completions (`POST /v1/chat/completions`), Ollama's chat
(`POST /api/chat`) and Anthropic Messages (`POST /v1/messages`), so the project's real clients
(httpx, the ollama client, the anthropic SDK) can be pointed at it. What the "model" says is set
by the test through `reply`; usage figures are computed from the request like a real server does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def words(text: str) -> int:
    return len(text.split())


@dataclass
class Seen:
    protocol: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def prompt(self) -> str:
        return "\n".join(m["content"] for m in self.body.get("messages", []) if isinstance(m.get("content"), str))


@dataclass
class ModelServer:
    reply: Callable[[Seen], str] = lambda seen: '{"explanation": "nothing to do", "edit": null}'
    status: int | None = None  # force an HTTP error status
    requests: list[Seen] = field(default_factory=list)
    model: str = "loopback-model"

    def start(self) -> ModelServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except json.JSONDecodeError:
                    return self._send(400, {"error": "bad json"})
                protocol = {"/v1/chat/completions": "openai", "/api/chat": "ollama", "/v1/messages": "anthropic"}.get(
                    self.path.split("?")[0])
                if protocol is None:
                    return self._send(404, {"error": f"no route {self.path}"})
                seen = Seen(protocol, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                owner.requests.append(seen)
                if owner.status is not None:
                    return self._send(owner.status, {"error": {"type": "api_error", "message": "forced failure"}})
                text = owner.reply(seen)
                prompt_tokens, completion_tokens = words(seen.prompt) + words(body.get("system", "")), words(text)
                if protocol == "openai":
                    return self._send(200, {
                        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body.get("model", owner.model),
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                  "total_tokens": prompt_tokens + completion_tokens},
                    })
                if protocol == "ollama":
                    return self._send(200, {
                        "model": body.get("model", owner.model), "created_at": "2026-01-01T00:00:00Z",
                        "message": {"role": "assistant", "content": text}, "done": True, "done_reason": "stop",
                        "prompt_eval_count": prompt_tokens, "eval_count": completion_tokens,
                    })
                return self._send(200, {
                    "id": "msg_1", "type": "message", "role": "assistant", "model": body.get("model", owner.model),
                    "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
                    "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens},
                })

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def of(self, protocol: str) -> list[Seen]:
        return [seen for seen in self.requests if seen.protocol == protocol]


def replace_line_reply(line_number: int, replacement: str, explanation: str = "Fixed by the model.") -> Callable[[Seen], str]:
    """A model that answers with a one-line edit in the structured format the prompt asks for."""
    def reply(seen: Seen) -> str:
        return "```json\n" + json.dumps({
            "explanation": explanation,
            "edit": {"start_line": line_number, "end_line": line_number, "replacement": replacement},
        }) + "\n```"
    return reply
