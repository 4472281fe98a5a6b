"""Load: codeAction and hover at a fixed rate while resolves stream from a slow model server.

    python -m benchmarks.load [--seconds 60] [--rate 200] [--resolves 3] [--out DIR]

An open-loop generator sends codeAction and hover requests to `hybrid-lsp serve` (over stdio,
with pygls's LanguageClient) on a wall-clock schedule, never waiting for answers, so a server
that falls behind shows up as growing latency and outstanding requests rather than as a lower
send rate. Meanwhile a steady number of codeAction/resolve requests on the local-model route
stream from the tests' loopback model server (its own process), which sends each answer in
small chunks with a delay between them, so every resolve takes about 1.5 s. Server RSS and the
outstanding requests are sampled every second. Results are reported per window and overall,
with verdicts: nothing dropped, no error answers, no queue growth, a flat p99 and flat memory.

Writes DIR/load.json and DIR/load.md (default DIR: benchmarks/results).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lsprotocol import types

from . import document
from .harness import _atomic_write, commit, machine
from .lsp import Session, _status_kb, hybrid_command, lsp_diagnostic, server_env
from .model_server import ModelServerProcess

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

# The undefined name of each document (all else is the same module): one model call per document,
# since identical requests in flight share one call.
NAMES = ("reponse", "pth", "source_path", "orders_path")
PATHS = ("orders/service.py", "orders/importer.py", "billing/service.py", "shipping/service.py")
FIXED_LINE = '    log.info("loaded %d orders from %s", len(orders), path)'

# Verdict bounds (see "How it is measured").
P99_RATIO = 1.5  # last window's p99 at most this times the first window's ...
P99_FLOOR_MS = 10.0  # ... or under this, whatever the ratio (the suite's codeAction p99 target)
OUTSTANDING_SECONDS = 0.25  # outstanding requests stay under this many seconds' worth of traffic
RSS_GROWTH_MB = 10.0
RATE_SHARE = 0.98  # the generator must send at least this share of the requested rate
GRACE_S = 10.0  # how long answers may still arrive after the last request before they count as dropped


# -- the documents and the requests on them --------------------------------------------------------


@dataclass(frozen=True)
class Doc:
    uri: str
    text: str
    diagnostics: tuple[types.Diagnostic, ...]  # F401, F841, F821


def documents(count: int) -> list[Doc]:
    d = document.UNDEFINED_NAME
    assert document.TEXT.split("\n")[d.line][d.start : d.end] == NAMES[0]
    docs = []
    for index in range(count):
        name = NAMES[index % len(NAMES)] + ("" if index < len(NAMES) else str(index))
        text = document.TEXT.replace(f"len(orders), {NAMES[0]})", f"len(orders), {name})")
        undefined = document.Diagnostic(d.line, d.start, d.end_line, d.start + len(name),
                                        f"Undefined name `{name}`", d.code)
        path = PATHS[index % len(PATHS)]
        uri = "file:///work/project/" + (path if index < len(PATHS) else path.replace(".py", f"_{index}.py"))
        diagnostics = tuple(lsp_diagnostic(x) for x in (document.UNUSED_IMPORT, document.UNUSED_LOCAL, undefined))
        docs.append(Doc(uri, text, diagnostics))
    return docs


def code_action_params(doc: Doc) -> list[types.CodeActionParams]:
    """A selection over all three diagnostics, then each diagnostic on its own (the cursor on it)."""
    ident = types.TextDocumentIdentifier(doc.uri)
    span = types.Range(doc.diagnostics[0].range.start, doc.diagnostics[-1].range.end)
    params = [types.CodeActionParams(ident, span, types.CodeActionContext(diagnostics=list(doc.diagnostics)))]
    params += [types.CodeActionParams(ident, d.range, types.CodeActionContext(diagnostics=[d])) for d in doc.diagnostics]
    return params


def hover_params(doc: Doc) -> list[types.HoverParams]:
    ident = types.TextDocumentIdentifier(doc.uri)
    return [types.HoverParams(ident, types.Position(d.range.start.line, d.range.start.character + 1))
            for d in doc.diagnostics]


# -- the slow model server ---------------------------------------------------------------------------


def seed_history(data_dir: Path, count: int) -> None:
    """A data directory as a week of use leaves it: `count` past interactions, spread over the last
    seven days, on all three routes, most of them offered or ignored and some decided (their
    effects taken as applied, so no fix is learned and F821 still goes to the local model)."""
    import random

    from hybrid_lsp.config import Settings
    from hybrid_lsp.history import Interaction
    from hybrid_lsp.pipeline import Pipeline

    rng = random.Random(7)
    pipeline = Pipeline(data_dir, Settings(), starter=True)
    try:
        now = time.time()
        for index in range(count):
            d = document.DIAGNOSTICS[index % len(document.DIAGNOSTICS)]
            route = rng.choices(("known", "local", "remote"), (6, 3, 1))[0]
            outcome = rng.choices(("offered", "ignored", "accepted", "validated", "rejected"), (3, 4, 1, 1, 1))[0]
            line = document.TEXT.split("\n")[d.line]
            pipeline.history.record(Interaction(
                kind="fix", query=d.message, fingerprint=f"seed{index % 40}", route=route, relevance=0.95,
                complexity=3, reason="seeded", model="" if route == "known" else "loopback-model",
                prompt_tokens=900 if route == "remote" else 0, completion_tokens=120 if route == "remote" else 0,
                source=d.source, code=d.code, language="python", explanation="A stored fix.", has_edit=True,
                # Their effects on the knowledge base count as applied: no fix is learned from them.
                outcome=outcome, effects_applied="" if outcome == "offered" else outcome,
                span_start=d.line, span_end=d.line, edit_start=d.line, old_lines=[line], new_lines=[line.strip()],
                ts=now - rng.uniform(0, 7 * 86400)))
    finally:
        pipeline.close()


# -- measuring ---------------------------------------------------------------------------------------


@dataclass
class Config:
    seconds: float = 60.0
    warmup: float = 5.0
    rate: float = 200.0
    resolves: int = 3
    window: float = 10.0
    chunks: int = 24
    chunk_delay: float = 0.06
    documents: int = 4
    history: int = 0  # past interactions in the data directory when the server starts
    grace: float = GRACE_S
    profile: bool = False


@dataclass
class Record:
    kind: str  # "codeAction", "hover" or "resolve"
    sent: float  # seconds since the measured phase began (negative during warm-up)
    lag_ms: float = 0.0  # how late the generator sent it against its schedule
    latency_ms: float | None = None  # None: never answered
    error: str = ""
    ok: bool = True  # for resolves: the answer carried an edit from the local model


@dataclass
class Sample:
    t: float  # seconds since the measured phase began
    rss_mb: float
    anon_mb: float  # RssAnon: the heap; the rest of VmRSS is mapped files (the store's included)
    outstanding: int  # codeAction and hover requests sent and not answered
    resolving: int  # resolves in flight
    server_cpu_s: float  # user + system CPU time of the server so far
    client_cpu_s: float  # the same for this process (the generator and its client)


@dataclass
class Run:
    config: Config
    records: list[Record] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    routes: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] | None = None
    server_pid: int = 0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Load:
    def __init__(self, session: Session, docs: list[Doc], config: Config) -> None:
        self.session, self.docs, self.config = session, docs, config
        self.protocol = session.client.protocol
        self.run = Run(config, server_pid=session.pid)
        self.outstanding: dict[int, tuple[Record, float]] = {}
        self.resolving = 0
        self.origin = 0.0  # perf_counter() at the start of the measured phase
        plan: list[tuple[str, Any]] = []
        for doc in docs:
            plan += [(types.TEXT_DOCUMENT_CODE_ACTION, p) for p in code_action_params(doc)]
        hovers = [(types.TEXT_DOCUMENT_HOVER, p) for doc in docs for p in hover_params(doc)]
        # Alternate codeAction and hover, cycling through the documents and positions.
        self.schedule = [x for pair in zip(plan, (hovers * math.ceil(len(plan) / len(hovers)))[: len(plan)]) for x in pair]

    def _send(self, index: int, planned: float) -> None:
        method, params = self.schedule[index % len(self.schedule)]
        now = time.perf_counter()
        record = Record("codeAction" if method == types.TEXT_DOCUMENT_CODE_ACTION else "hover", now - self.origin,
                        lag_ms=(now - planned) * 1000)
        self.run.records.append(record)
        future = self.protocol.send_request(method, params)
        self.outstanding[index] = (record, now)
        future.add_done_callback(lambda f, i=index: self._answered(i, f))

    def _answered(self, index: int, future: Future) -> None:
        took = time.perf_counter()
        entry = self.outstanding.pop(index, None)
        if entry is None:
            return  # answered after the grace period: it stays counted as dropped
        record, sent = entry
        record.latency_ms = (took - sent) * 1000
        if future.cancelled():
            record.error = "cancelled"
        elif (exc := future.exception()) is not None:
            record.error = f"{type(exc).__name__}: {exc}"[:300]

    async def generate(self, start: float, count: int) -> None:
        """Send `count` requests at the configured rate from `start` (perf_counter seconds) on, each at
        its own time whatever became of the ones before."""
        rate = self.config.rate
        sent = 0
        while sent < count:
            due = min(count, int((time.perf_counter() - start) * rate) + 1)
            while sent < due:
                self._send(sent, start + sent / rate)
                sent += 1
            await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))

    async def resolve_lane(self, doc: Doc, action: types.CodeAction, until: float) -> None:
        """One resolve after another on the local-model route, until `until`."""
        while time.perf_counter() < until:
            start = time.perf_counter()
            record = Record("resolve", start - self.origin)
            self.run.records.append(record)
            self.resolving += 1
            try:
                result = await asyncio.wrap_future(self.protocol.send_request(types.CODE_ACTION_RESOLVE, action))
                record.ok = isinstance(result, types.CodeAction) and result.edit is not None
            except Exception as exc:  # noqa: BLE001 - an error answer is a result to report
                record.error = f"{type(exc).__name__}: {exc}"[:300]
            finally:
                self.resolving -= 1
            record.latency_ms = (time.perf_counter() - start) * 1000
            if record.error:
                await asyncio.sleep(0.5)  # do not spin on a failing route

    async def sample(self, until: float) -> None:
        pid = self.session.pid
        next_at = self.origin
        while True:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            now = time.perf_counter()
            try:
                rss, anon = _status_kb(pid, "VmRSS") / 1024, _status_kb(pid, "RssAnon") / 1024
                server_cpu = _cpu_seconds(pid)
            except (OSError, RuntimeError):
                break
            times = os.times()
            self.run.samples.append(Sample(now - self.origin, rss, anon, len(self.outstanding), self.resolving,
                                           server_cpu, times.user + times.system))
            if now >= until:
                break
            next_at += 1.0


async def _prepare(session: Session, docs: list[Doc]) -> dict[str, types.CodeAction]:
    """Open the documents, forward their diagnostics, and find each one's local-model action."""
    await session.initialize()
    local: dict[str, types.CodeAction] = {}
    for doc in docs:
        session.client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(
            uri=doc.uri, language_id="python", version=1, text=doc.text)))
        session.client.protocol.notify("hybridLsp/diagnostics", {
            "uri": doc.uri, "version": 1,
            "diagnostics": [session.client.protocol._converter.unstructure(d) for d in doc.diagnostics]})
        actions = await session.client.text_document_code_action_async(code_action_params(doc)[0])
        found = [a for a in actions or [] if isinstance(a, types.CodeAction) and "local model" in a.title
                 and a.diagnostics and a.diagnostics[0].code == "F821"]
        if not found:
            raise session.failure(f"{doc.uri}: F821 should go to the local model; actions: "
                                  f"{[getattr(a, 'title', a) for a in actions or []]}")
        local[doc.uri] = found[0]
        hover = await session.client.text_document_hover_async(hover_params(doc)[0])
        if hover is None:
            raise session.failure(f"{doc.uri}: hover on the forwarded F401 diagnostic answered nothing")
    return local


async def measure(config: Config, work: Path, progress: Callable[[str], None] = lambda m: None) -> Run:
    docs = documents(config.documents)
    if config.history:
        progress(f"seeding the data directory with {config.history} past interactions")
        # In a process of its own: the generator's process stays as small as a client.
        await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "benchmarks.load", "--seed-history",
                                str(work / "load-data"), str(config.history)], cwd=ROOT, check=True,
                                capture_output=True)
    with ModelServerProcess(document.UNDEFINED_NAME.line + 1, FIXED_LINE, config.chunks, config.chunk_delay) as model:
        session = await Session.start("hybrid-lsp", hybrid_command(), server_env(work / "load-data", model.url))
        try:
            local = await _prepare(session, docs)
            load = Load(session, docs, config)
            profiler = None
            if config.profile:
                from . import profiling
                profiler = profiling.Sampler(session.pid, rate=100)
                await asyncio.to_thread(profiler.__enter__)
            now = time.perf_counter()
            load.origin = now + config.warmup
            end = load.origin + config.seconds
            progress(f"{config.warmup:g} s warm-up, then {config.seconds:g} s at {config.rate:g} requests/s "
                     f"with {config.resolves} resolves streaming")
            lanes = [asyncio.create_task(load.resolve_lane(docs[i % len(docs)], local[docs[i % len(docs)].uri], end))
                     for i in range(config.resolves)]
            sampler = asyncio.create_task(load.sample(end))
            total = round((config.warmup + config.seconds) * config.rate)
            try:
                await load.generate(now, total)
            finally:
                if profiler is not None:
                    await asyncio.to_thread(profiler.__exit__, None, None, None)
                    load.run.profile = {"what": "py-spy on the hybrid-lsp server during the run; share of busy "
                                                "samples, all threads", **profiler.result}
            await sampler
            progress("waiting for the last answers")
            deadline = time.perf_counter() + config.grace
            while (load.outstanding or any(not lane.done() for lane in lanes)) and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            for lane in lanes:
                lane.cancel()
            await asyncio.gather(*lanes, return_exceptions=True)
            load.outstanding.clear()  # what is left is dropped: its records keep latency None
            stats = await session.command("hybridLsp.stats")
            routes = stats["routes"] if isinstance(stats, dict) else stats.routes._asdict()
            load.run.routes = dict(routes)
            return load.run
        finally:
            await session.stop()


# -- figures -----------------------------------------------------------------------------------------


def _percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def summarise(run: Run) -> dict[str, Any]:
    config = run.config
    measured = [r for r in run.records if 0 <= r.sent < config.seconds]
    fast = [r for r in measured if r.kind != "resolve"]
    started = [r for r in run.records if r.kind == "resolve" and r.sent >= 0]
    resolves = [r for r in started if r.latency_ms is not None]
    windows = []
    count = max(1, math.ceil(config.seconds / config.window - 1e-9))
    samples = [s for s in run.samples if s.t >= -1e-6]
    for index in range(count):
        low, high = index * config.window, min(config.seconds, (index + 1) * config.window)
        inside = [r for r in fast if low <= r.sent < high]
        in_samples = [s for s in samples if low - 1e-6 <= s.t <= high + 1e-6]
        row: dict[str, Any] = {"window": index + 1, "from_s": round(low, 1), "to_s": round(high, 1),
                               "sent": len(inside), "answered": sum(r.latency_ms is not None for r in inside),
                               "errors": sum(bool(r.error) for r in inside),
                               "rate": round(len(inside) / (high - low), 1),
                               "send_lag_p99_ms": _r(_percentile([r.lag_ms for r in inside], 99))}
        for kind in ("codeAction", "hover"):
            times = [r.latency_ms for r in inside if r.kind == kind and r.latency_ms is not None and not r.error]
            row[kind] = {"n": len(times), "p50_ms": _r(_percentile(times, 50)), "p99_ms": _r(_percentile(times, 99)),
                         "max_ms": _r(max(times) if times else None)}
        done = [r for r in resolves if low <= r.sent + r.latency_ms / 1000 < high]
        row["resolves_completed"] = len(done)
        if in_samples:
            last = in_samples[-1]
            row["outstanding_end"] = last.outstanding
            row["outstanding_max"] = max(s.outstanding for s in in_samples)
            row["resolves_in_flight_end"] = last.resolving
            row["rss_mb"] = round(statistics.median(s.rss_mb for s in in_samples), 1)
            row["rss_end_mb"] = round(last.rss_mb, 1)
            row["anon_mb"] = round(statistics.median(s.anon_mb for s in in_samples), 1)
            first = in_samples[0]
            span = last.t - first.t
            row["server_cpu"] = round((last.server_cpu_s - first.server_cpu_s) / span, 3) if span > 0 else None
            row["client_cpu"] = round((last.client_cpu_s - first.client_cpu_s) / span, 3) if span > 0 else None
        windows.append(row)

    answered = [r for r in fast if r.latency_ms is not None]
    dropped = len(fast) - len(answered)
    resolves_dropped = len(started) - len(resolves)
    errors = sum(bool(r.error) for r in fast)
    first, last = windows[0], windows[-1]
    flat = {}
    for kind in ("codeAction", "hover"):
        a, b = first[kind]["p99_ms"], last[kind]["p99_ms"]
        ratio = (b / a) if a and b is not None else None
        flat[kind] = {"first_p99_ms": a, "last_p99_ms": b, "ratio": _r(ratio),
                      "pass": b is not None and (b <= P99_FLOOR_MS or (ratio is not None and ratio <= P99_RATIO))}
    outstanding_bound = max(1, int(config.rate * OUTSTANDING_SECONDS))
    rss_first, rss_last = first.get("rss_mb"), last.get("rss_mb")
    growth = (rss_last - rss_first) if rss_first is not None and rss_last is not None else None
    achieved = len(fast) / config.seconds
    resolve_ms = [r.latency_ms for r in resolves if not r.error]
    resolve_errors = sum(bool(r.error) for r in resolves)
    resolve_no_edit = sum(not r.ok for r in resolves if not r.error)
    verdicts = [
        {"check": "no dropped responses", "value": dropped + resolves_dropped, "bound": "= 0",
         "pass": dropped + resolves_dropped == 0},
        {"check": "no error answers", "value": errors, "bound": "= 0", "pass": errors == 0},
        {"check": "outstanding requests do not grow (most in the last window)",
         "value": last.get("outstanding_max"), "bound": f"<= {outstanding_bound}",
         "pass": last.get("outstanding_max") is not None and last["outstanding_max"] <= outstanding_bound},
        *({"check": f"{kind} p99 flat (last window / first window)",
           "value": f"{flat[kind]['last_p99_ms']} / {flat[kind]['first_p99_ms']} ms",
           "bound": f"ratio <= {P99_RATIO:g} or last <= {P99_FLOOR_MS:g} ms", "pass": flat[kind]["pass"]}
          for kind in ("codeAction", "hover")),
        {"check": "RSS flat (last window - first window)", "value": _r(growth, 1), "bound": f"<= {RSS_GROWTH_MB:g} MB",
         "pass": growth is not None and growth <= RSS_GROWTH_MB},
        {"check": "rate achieved", "value": round(achieved, 1), "bound": f">= {RATE_SHARE * config.rate:g}/s",
         "pass": achieved >= RATE_SHARE * config.rate},
        {"check": "resolves streamed on the local route throughout, each with an edit",
         "value": f"{len(resolve_ms)} completed, {resolve_errors} errors, {resolve_no_edit} without an edit",
         "bound": f">= {config.resolves} completed, 0 errors, 0 without an edit",
         "pass": len(resolve_ms) >= config.resolves and resolve_errors == 0 and resolve_no_edit == 0},
    ]
    overall = {
        "requests": len(fast), "answered": len(answered), "dropped": dropped, "errors": errors,
        "rate_requested": config.rate, "rate_achieved": round(achieved, 1),
        "send_lag_p99_ms": _r(_percentile([r.lag_ms for r in fast], 99)),
        "codeAction": _kind_summary([r for r in fast if r.kind == "codeAction"]),
        "hover": _kind_summary([r for r in fast if r.kind == "hover"]),
        "p99_flatness": flat,
        "outstanding_last_window_max": last.get("outstanding_max"), "outstanding_bound": outstanding_bound,
        "rss_first_window_mb": rss_first, "rss_last_window_mb": rss_last, "rss_growth_mb": _r(growth, 1),
        "rss_peak_mb": round(max(s.rss_mb for s in samples), 1) if samples else None,
        "rss_slope_mb_per_min": _slope(samples, "rss_mb"), "anon_slope_mb_per_min": _slope(samples, "anon_mb"),
        "resolves_completed": len(resolve_ms), "resolves_dropped": resolves_dropped,
        "resolve_errors": resolve_errors, "resolves_without_edit": resolve_no_edit,
        "resolve_p50_ms": _r(_percentile(resolve_ms, 50), 1), "resolve_p99_ms": _r(_percentile(resolve_ms, 99), 1),
        "routes_recorded": run.routes,
    }
    return {"windows": windows, "overall": overall, "verdicts": verdicts,
            "pass": all(v["pass"] for v in verdicts)}


def _slope(samples: list[Sample], name: str) -> float | None:
    """Least-squares trend of a sampled figure, per minute."""
    if len(samples) < 3:
        return None
    slope = statistics.linear_regression([s.t for s in samples], [getattr(s, name) for s in samples]).slope
    return round(slope * 60, 2)


def _kind_summary(records: list[Record]) -> dict[str, Any]:
    times = [r.latency_ms for r in records if r.latency_ms is not None and not r.error]
    return {"n": len(records), "p50_ms": _r(_percentile(times, 50)), "p99_ms": _r(_percentile(times, 99)),
            "max_ms": _r(max(times) if times else None)}


# -- results -----------------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def notes(config: Config) -> list[str]:
    bound = max(1, int(config.rate * OUTSTANDING_SECONDS))
    return [
        (f"`hybrid-lsp serve` is driven over stdio by pygls's `LanguageClient`. An open-loop generator sends "
         f"{config.rate:g} requests/s, codeAction and hover alternately, each at its own time on a wall-clock "
         "schedule whatever became of the ones before, so a server that falls behind shows as growing latency "
         "and outstanding requests, not as a lower send rate. Requests cycle through "
         f"{config.documents} open documents (the benchmarks' {document.LINES}-line module with ruff's F401, F841 "
         "and F821 diagnostics, forwarded with `hybridLsp/diagnostics`): codeAction over all three diagnostics "
         "or on one of them, hover on each of them."),
        (f"Meanwhile {config.resolves} codeAction/resolve requests on the local-model route (F821 in "
         f"{config.resolves} different documents, so no two share a model call) are in flight at all times, each "
         "started when the one before it is answered. The local model is the tests' loopback server "
         "(tests/model_servers.py) in its own process, streaming each answer in "
         f"{config.chunks} chunks {config.chunk_delay * 1000:g} ms apart; every resolve must come back with an edit."),
        ("The server starts on " + (f"a data directory holding {config.history} past interactions spread over the "
                                    "last seven days (all routes, most offered or ignored, some decided) and the "
                                    "starter knowledge base" if config.history else
                                    "a fresh data directory with the starter knowledge base") + "."),
        (f"{config.warmup:g} s of warm-up at the same load are not counted; the {config.seconds:g} s after it are cut "
         f"into {config.window:g} s windows by send time. Latency: from writing the request to its answer being read "
         "by the client. Send lag: how late the generator wrote a request against its schedule (the client's own "
         "delay, not the server's)."),
        (f"Dropped: requests (resolves included) still unanswered {config.grace:g} s after the last one was sent. "
         "Outstanding: codeAction "
         "and hover requests sent and not yet answered, sampled every second with the server's VmRSS "
         "(/proc/PID/status; the heap, RssAnon, in brackets: the rest is mapped store files) and CPU time; the "
         f"bound is {OUTSTANDING_SECONDS:g} s of traffic ({bound} requests) at any sample in the last window. RSS "
         "per window: median of its samples; the trend is a least-squares slope over all samples."),
        (f"p99 is flat when the last window's p99 is at most {P99_RATIO:g} x the first window's, or under "
         f"{P99_FLOOR_MS:g} ms (the suite's codeAction p99 target): below that, a ratio of two small p99s measures "
         "the machine's noise (other processes on shared CPUs), not the server."),
    ]


def markdown(result: dict[str, Any], meta: dict[str, Any]) -> str:
    config, o = meta["config"], result["overall"]
    lines = [
        "# hybrid-lsp load benchmark",
        "",
        (f"Run {meta['started']} · {config['seconds']:g} s at {config['rate']:g} requests/s · "
         f"{config['resolves']} resolves streaming · history {config['history']} · Python {meta['machine']['python']} · "
         f"{meta['machine']['cpus']} CPUs · commit {meta.get('commit') or 'unknown'}"),
        "",
        (f"Load average (1, 5, 15 min) at start {meta['machine'].get('load_average_at_start')}, at end "
         f"{meta['machine'].get('load_average_at_end')}: other work on this machine moves absolute figures."),
        "",
        ("| window | sent | answered | codeAction p50 / p99 | hover p50 / p99 | outstanding end (max) | "
         "resolves done | RSS (heap) | server CPU | send lag p99 |"),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for w in result["windows"]:
        c, h = w["codeAction"], w["hover"]
        cpu = f"{w['server_cpu']:.0%}" if w.get("server_cpu") is not None else "—"
        lines.append(
            f"| {w['from_s']:g}–{w['to_s']:g} s | {w['sent']} | {w['answered']} | {_ms(c['p50_ms'])} / "
            f"{_ms(c['p99_ms'])} ms | {_ms(h['p50_ms'])} / {_ms(h['p99_ms'])} ms | {w.get('outstanding_end', '—')} "
            f"({w.get('outstanding_max', '—')}) | {w['resolves_completed']} | {w.get('rss_mb', '—')} "
            f"({w.get('anon_mb', '—')}) MB | {cpu} | {_ms(w['send_lag_p99_ms'])} ms |")
    lines += [
        "",
        (f"Overall: {o['requests']} requests at {o['rate_achieved']:g}/s ({o['rate_requested']:g}/s asked), "
         f"{o['answered']} answered, {o['dropped']} dropped, {o['errors']} errors. codeAction p50 "
         f"{_ms(o['codeAction']['p50_ms'])} ms, p99 {_ms(o['codeAction']['p99_ms'])} ms; hover p50 "
         f"{_ms(o['hover']['p50_ms'])} ms, p99 {_ms(o['hover']['p99_ms'])} ms. RSS {o['rss_first_window_mb']} MB in "
         f"the first window, {o['rss_last_window_mb']} MB in the last (peak {o['rss_peak_mb']} MB; trend "
         f"{o['rss_slope_mb_per_min']} MB/min, heap {o['anon_slope_mb_per_min']} MB/min). "
         f"{o['resolves_completed']} resolves completed, p50 {o['resolve_p50_ms']} ms; routes recorded "
         f"{o['routes_recorded']}."),
        "",
        "| check | value | bound | result |",
        "|---|---|---|---|",
    ]
    for v in result["verdicts"]:
        lines.append(f"| {v['check']} | {v['value']} | {v['bound']} | {'pass' if v['pass'] else '**FAIL**'} |")
    passed = sum(v["pass"] for v in result["verdicts"])
    lines += ["", f"{passed} passed, {len(result['verdicts']) - passed} failed."]
    lines += ["", "## How it is measured", ""] + [f"- {n}" for n in meta["notes"]]
    profile = meta.get("profile")
    if profile and profile.get("top"):
        from .harness import _profile_lines
        lines += ["", "## Profile of the server during the run", "", profile.get("what", ""), ""] + _profile_lines(profile)
    return "\n".join(lines) + "\n"


def write_results(out_dir: Path, result: dict[str, Any], meta: dict[str, Any]) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "load.json", out_dir / "load.md"
    _atomic_write(json_path, json.dumps({"meta": meta, **result}, indent=2) + "\n")
    _atomic_write(md_path, markdown(result, meta))
    return json_path, md_path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--seed-history"]:
        seed_history(Path(argv[1]), int(argv[2]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured duration (default 60)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds of uncounted load first (default 5, "
                                                                    "or a fifth of --seconds when shorter)")
    parser.add_argument("--rate", type=float, default=200.0, help="codeAction + hover requests per second (default 200)")
    parser.add_argument("--resolves", type=int, default=3, help="resolves kept in flight on the model route (default 3)")
    parser.add_argument("--window", type=float, default=None,
                        help="report window in seconds (default 10, or a third of --seconds under 30 s)")
    parser.add_argument("--chunks", type=int, default=24, help="pieces per streamed model answer (default 24)")
    parser.add_argument("--chunk-delay", type=float, default=0.06, help="seconds between pieces (default 0.06)")
    parser.add_argument("--history", type=int, default=0,
                        help="past interactions in the server's data directory at start (default 0: a fresh one)")
    parser.add_argument("--profile", action="store_true",
                        help="sample the server with py-spy during the run (py-spy pauses it to take each sample: "
                             "latencies under --profile are not the server's own)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"where to write load.json/.md (default {RESULTS})")
    args = parser.parse_args(argv)
    for name in list(os.environ):  # hybrid-lsp's defaults: no user config, keys or model servers
        if name.startswith(("HYBRID_LSP_", "ANTHROPIC_", "OLLAMA_")):
            del os.environ[name]
    seconds = args.seconds
    config = Config(seconds=seconds, warmup=args.warmup if args.warmup is not None else min(5.0, seconds / 5),
                    rate=args.rate, resolves=args.resolves,
                    window=args.window or (10.0 if seconds >= 30 else seconds / 3), chunks=args.chunks,
                    chunk_delay=args.chunk_delay, documents=max(args.resolves, len(NAMES)), history=args.history,
                    profile=args.profile)
    started = time.monotonic()
    meta: dict[str, Any] = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "commit": commit(),
                            "machine": machine(), "config": config.__dict__.copy(), "notes": notes(config)}

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="hybrid-lsp-load-") as tmp:
        run = asyncio.run(measure(config, Path(tmp), progress))
    meta["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    meta["duration_s"] = round(time.monotonic() - started, 1)
    if run.profile is not None:
        meta["profile"] = run.profile
    result = summarise(run)
    json_path, md_path = write_results(args.out, result, meta)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
