"""Loopback model servers whose answers follow a simulated competence.

The servers are the tests' own (tests/model_servers.py, loaded unchanged): one answers the local route
over the OpenAI protocol, the other the remote route over Anthropic Messages (it turns the JSON reply
into a `tool_use` block, as Claude answers a forced tool). Usage is what that server computes from
the request (word counts), so every token figure comes from the protocol's usage fields.

What the "model" says: the JSON fix the prompt asks for, replacing the diagnostic's line with the
site's correct fix when it knows the answer, else with a wrong one (the diagnostic silenced).
It knows the answer with probability
  remote: 0.95;
  local:  0.90 when the prompt holds a correct stored solution (the solution text of the truth
          entry or of an entry equivalent to it, or a learned fix made for the same error), else 0.35.
The draw is a hash of (seed, event, route, call number): the same event gets the same draw whatever
the router, so routers are compared on the same luck.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .stream import LINE, Event, Stream, truth_class

ROOT = Path(__file__).resolve().parents[2]
REMOTE_SKILL, LOCAL_WITH_CONTEXT, LOCAL_WITHOUT_CONTEXT = 0.95, 0.90, 0.35


def model_servers():
    """tests/model_servers.py as a module (the tests import it from their own directory)."""
    if "model_servers" in sys.modules:
        return sys.modules["model_servers"]
    spec = importlib.util.spec_from_file_location("model_servers", ROOT / "tests" / "model_servers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["model_servers"] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _quiet(server) -> None:
    """No traceback on stderr when a client drops a kept-alive connection (the tests' server already
    sends streamed chunks at once, with TCP_NODELAY)."""
    server._httpd.handle_error = lambda request, address: None


def draw(seed: int, event: int, route: str, call: int) -> float:
    digest = hashlib.sha256(f"replay-skill:{seed}:{event}:{route}:{call}".encode()).digest()
    return int.from_bytes(digest[:7], "big") / float(1 << 56)


@dataclass
class Call:
    route: str
    event: int
    with_context: bool | None
    knows: bool
    prompt_words: int
    contexts: int = 0  # stored solutions in the prompt
    learned_contexts: int = 0  # of which promoted fixes or extracted patterns


@dataclass
class Oracle:
    """The simulated models' knowledge: which event is being answered and what fixes it."""

    stream: Stream
    seed: int
    event: Event | None = None
    calls: list[Call] = field(default_factory=list)
    _per_event: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(self, event: Event) -> None:
        with self._lock:
            self.event = event
            self._per_event = {}

    def context_holds_solution(self, event: Event, prompt: str) -> bool:
        for entry_id in truth_class(event.truth):
            solution = self.stream.solutions.get(entry_id)
            if solution and solution in prompt:
                return True
        # A fix learned from an earlier site of the same error, shown as an example.
        return f"fixed:{event.truth}" in prompt

    def reply(self, route: str, seen) -> str:
        with self._lock:
            event = self.event
            call = self._per_event.get(route, 0)
            self._per_event[route] = call + 1
        if event is None:
            raise RuntimeError("a model was asked outside an event")
        prompt = seen.prompt
        where = re.search(r"Diagnostic at line (\d+)", prompt)
        if where is None or int(where.group(1)) != LINE + 1:
            raise RuntimeError(f"event {event.index}: the prompt does not point at line {LINE + 1}")
        with_context = self.context_holds_solution(event, prompt) if route == "local" else None
        skill = REMOTE_SKILL if route == "remote" else (LOCAL_WITH_CONTEXT if with_context else LOCAL_WITHOUT_CONTEXT)
        knows = draw(self.seed, event.index, route, call) < skill
        with self._lock:
            self.calls.append(Call(route, event.index, with_context, knows, len(prompt.split()),
                                   prompt.count("\n  Solution: "),
                                   prompt.count("\n- Learned fix") + prompt.count("\n- Pattern: ")))
        site = event.site_data
        replacement = "\n".join(site.expected) if knows else site.wrong
        return json.dumps({"explanation": self._explanation(event, knows, prompt),
                           "edit": {"start_line": LINE + 1, "end_line": LINE + 1, "replacement": replacement}})

    def _explanation(self, event: Event, knows: bool, prompt: str) -> str:
        """Two or three sentences, as models write them: the right reason, or a guess from the context."""
        if knows:
            solution = self.stream.solutions.get(event.truth) or (
                f"The {event.source or 'tool'} check {event.code or ''} flags this line because the construct it "
                "reports is unsafe or unidiomatic here. The fix rewrites the line so the check passes without "
                "changing what the code does.")
            return " ".join(re.split(r"(?<=[.!?])\s+", solution)[:2])
        stored = re.search(r"Solution: (.+)", prompt)
        guess = stored.group(1) if stored else ("The tool is probably too strict for this line, so the simplest "
                                                "way forward is to silence the check where it fires.")
        return " ".join(re.split(r"(?<=[.!?])\s+", guess)[:2]) + " Silencing the check on this line."


class Models:
    """The two loopback servers, answering through one oracle."""

    def __init__(self, oracle: Oracle) -> None:
        servers = model_servers()
        self.oracle = oracle
        self.local = servers.ModelServer(reply=lambda seen: oracle.reply("local", seen), model="qwen2.5-coder-7b-instruct")
        self.remote = servers.ModelServer(reply=lambda seen: oracle.reply("remote", seen), model="claude-sonnet-5-5")
        for server in (self.local, self.remote):
            server.start()
            _quiet(server)

    def stop(self) -> None:
        for server in (self.local, self.remote):
            server.stop()
