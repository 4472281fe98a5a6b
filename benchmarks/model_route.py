"""Model-route overhead: the time hybrid-lsp spends around a model call that itself costs ~nothing.

`Pipeline.solve` on the local route is timed as a whole. The HTTP request it sends is captured with
an httpx event hook on the backend's own client, and replayed on that same client (same connection
pool, same transport) right before or after each solve, read to its end: that is the HTTP round
trip. Overhead = solve − round trip, per pair: prompt building, stream parsing, fix validation and
recording the interaction. The model is the tests' loopback server in its own process, answering
at once.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx

from hybrid_lsp.config import Settings
from hybrid_lsp.pipeline import Pipeline
from hybrid_lsp.query import ErrorQuery, Span, code_window

from . import document, profiling
from .harness import Figure, Samples, Target, ms_since, now_ns

PATH = "/work/project/orders/service.py"


def undefined_name_query(settings: Settings) -> ErrorQuery:
    d = document.UNDEFINED_NAME
    span = Span(d.line, d.start, d.end_line, d.end)
    lines = document.TEXT.split("\n")
    return ErrorQuery(message=d.message, source=d.source, code=d.code, language="python", span=span,
                      window=code_window(lines, span, settings.context_lines),
                      related=tuple(x.message for x in document.DIAGNOSTICS if x is not d))


def _http_client(pipeline: Pipeline) -> httpx.AsyncClient:
    client = getattr(pipeline.backend("local"), "_client", None)
    if not isinstance(client, httpx.AsyncClient):
        raise TypeError("the local backend no longer keeps an httpx.AsyncClient in `_client`; "
                           "update benchmarks/model_route.py to find the client it sends with")
    return client


async def _measure(pipeline: Pipeline, rounds: int, warmup: int, profiles: dict[str, Any] | None) -> dict[str, Samples]:
    query = undefined_name_query(pipeline.settings)
    plan = await asyncio.to_thread(pipeline.plan, query, document.TEXT, len(document.DIAGNOSTICS))
    if plan.route.target != "local":
        raise RuntimeError(f"the undefined-name diagnostic should take the local route, took {plan.route}")
    client = _http_client(pipeline)
    sent: list[httpx.Request] = []

    async def capture(request: httpx.Request) -> None:
        sent.append(request)

    client.event_hooks["request"].append(capture)

    async def solve() -> float:
        sent.clear()
        start = now_ns()
        answer = await pipeline.solve(plan, document.TEXT, PATH)
        took = ms_since(start)
        if answer.route != "local" or answer.edit is None or len(sent) != 1:
            raise RuntimeError(f"expected one local model call giving an edit; got route {answer.route!r}, "
                               f"{len(sent)} HTTP request(s), notes {answer.notes}")
        return took

    await solve()
    request = sent[0]

    async def round_trip() -> float:
        replay = client.build_request(request.method, request.url, headers=request.headers, content=request.content)
        start = now_ns()
        response = await client.send(replay, stream=True)
        await response.aread()
        await response.aclose()
        took = ms_since(start)
        if response.status_code != 200:
            raise RuntimeError(f"replaying the model request answered HTTP {response.status_code}")
        return took

    solves, trips, overhead = [], [], []
    for index in range(warmup + rounds):
        if index % 2:
            trip, took = await round_trip(), await solve()
        else:
            took, trip = await solve(), await round_trip()
        if index >= warmup:
            solves.append(took)
            trips.append(trip)
            overhead.append(took - trip)
    if profiles is not None:
        with profiling.Sampler(os.getpid()) as sampler:
            for _ in range(rounds):
                await solve()
        profiles["model_overhead"] = {"what": f"py-spy on the benchmark process during {rounds} Pipeline.solve calls "
                                              "on the local route; share of busy samples", **sampler.result}
    return {"solve": Samples.of(solves), "http": Samples.of(trips), "overhead": Samples.of(overhead)}


def measure(rounds: int, warmup: int, work: Path, model_url: str, profiles: dict[str, Any] | None) -> list[Figure]:
    settings = Settings()
    settings.local.base_url = model_url + "/v1"
    pipeline = Pipeline(work / "model-data", settings, starter=True)

    async def run() -> dict[str, Samples]:
        try:
            return await _measure(pipeline, rounds, warmup, profiles)
        finally:
            await pipeline.aclose()

    try:
        samples = asyncio.run(run())
    finally:
        pipeline.close()
    return [Figure("model_overhead", "Model-route overhead p50: Pipeline.solve minus the HTTP round trip of "
                   "its request (local route, model answers at once)", "ms", samples["overhead"].p50,
                   samples["http"].p50, "the same request replayed on the same httpx client",
                   Target("value", "<=", 5.0, "ms"), {name: s.summary() for name, s in samples.items()})]
