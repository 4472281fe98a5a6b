"""Language-server figures, measured over stdio with pygls's own LanguageClient against hybrid-lsp
and the bare pygls server side by side: the same requests, interleaved, in the same run.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from . import document, profiling
from .harness import Figure, Samples, Target, ms_since, now_ns

ROOT = Path(__file__).resolve().parent.parent
BARE = "bare pygls"


def hybrid_command() -> list[str]:
    """`hybrid-lsp serve`, the installed console script beside this interpreter."""
    script = Path(sys.executable).with_name("hybrid-lsp")
    if script.exists():
        return [str(script), "serve"]
    found = shutil.which("hybrid-lsp")
    return [found, "serve"] if found else [sys.executable, "-m", "hybrid_lsp", "serve"]


def bare_command() -> list[str]:
    return [sys.executable, "-m", "benchmarks.bare_server"]


def server_env(data_dir: Path, local_url: str | None) -> dict[str, str]:
    """No user config, keys or model servers but the ones given, as in the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HYBRID_LSP_", "ANTHROPIC_", "OLLAMA_"))}
    env["HYBRID_LSP_CONFIG"] = str(data_dir.parent / "no-config.toml")
    env["HYBRID_LSP_DATA_DIR"] = str(data_dir)
    # Nothing listens on port 9 (discard): the local model is down unless a model server is given.
    env["HYBRID_LSP_LOCAL_URL"] = (local_url + "/v1") if local_url else "http://127.0.0.1:9/v1"
    env["PYTHONPATH"] = str(ROOT)
    return env


CAPABILITIES = types.ClientCapabilities(
    workspace=types.WorkspaceClientCapabilities(
        apply_edit=True,
        workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True),
        configuration=True,
        execute_command=types.ExecuteCommandClientCapabilities(),
    ),
    text_document=types.TextDocumentClientCapabilities(
        synchronization=types.TextDocumentSyncClientCapabilities(did_save=True),
        code_action=types.CodeActionClientCapabilities(
            code_action_literal_support=types.ClientCodeActionLiteralOptions(
                code_action_kind=types.ClientCodeActionKindOptions(value_set=[types.CodeActionKind.QuickFix])),
            data_support=True,
            resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"]),
        ),
        hover=types.HoverClientCapabilities(content_format=[types.MarkupKind.Markdown, types.MarkupKind.PlainText]),
    ),
    window=types.WindowClientCapabilities(work_done_progress=True),
)


def lsp_diagnostic(d: document.Diagnostic) -> types.Diagnostic:
    return types.Diagnostic(
        range=types.Range(types.Position(d.line, d.start), types.Position(d.end_line, d.end)),
        message=d.message, severity=types.DiagnosticSeverity.Error, code=d.code, source=d.source,
    )


DIAGNOSTICS = [lsp_diagnostic(d) for d in document.DIAGNOSTICS]
# A selection spanning the three diagnostics, as an editor sends when the user asks for quick fixes there.
SPAN = types.Range(DIAGNOSTICS[0].range.start, DIAGNOSTICS[-1].range.end)
CODE_ACTION = types.CodeActionParams(
    text_document=types.TextDocumentIdentifier(document.URI), range=SPAN,
    context=types.CodeActionContext(diagnostics=DIAGNOSTICS),
)
HOVER = types.HoverParams(types.TextDocumentIdentifier(document.URI),
                          types.Position(document.UNUSED_IMPORT.line, document.UNUSED_IMPORT.start + 1))


@dataclass
class Session:
    """One server process and a real pygls client talking to it over stdio."""

    name: str
    client: LanguageClient
    pid: int
    stderr: list[str] = field(default_factory=list)

    @staticmethod
    async def start(name: str, command: list[str], env: dict[str, str]) -> Session:
        client = LanguageClient("hybrid-lsp-benchmarks", "1.0")

        @client.feature(types.WORKSPACE_CONFIGURATION)
        def configuration(params: types.ConfigurationParams) -> list[Any]:
            return [None for _ in params.items]

        @client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def progress_create(params: types.WorkDoneProgressCreateParams) -> None:
            return None

        @client.feature(types.PROGRESS)
        def progress(params: Any) -> None:
            return None

        @client.feature(types.WINDOW_SHOW_MESSAGE)
        def show_message(params: types.ShowMessageParams) -> None:
            return None

        @client.feature(types.WINDOW_LOG_MESSAGE)
        def log_message(params: types.LogMessageParams) -> None:
            return None

        await client.start_io(command[0], *command[1:], env=env, cwd=str(ROOT))
        process = client._server
        session = Session(name, client, process.pid)
        # The client pipes the server's stderr and never reads it; a full pipe would stall the server.
        session._drain = asyncio.create_task(session._read_stderr(process.stderr))
        return session

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.stderr.append(line.decode(errors="replace").rstrip())
            del self.stderr[:-200]

    async def initialize(self) -> types.InitializeResult:
        result = await self.client.initialize_async(types.InitializeParams(
            capabilities=CAPABILITIES, root_uri="file:///work/project", process_id=os.getpid(),
        ))
        self.client.initialized(types.InitializedParams())
        return result

    def open(self) -> None:
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(
            uri=document.URI, language_id="python", version=1, text=document.TEXT)))

    def forward_diagnostics(self) -> None:
        self.client.protocol.notify("hybridLsp/diagnostics", {
            "uri": document.URI, "version": 1,
            "diagnostics": [self.client.protocol._converter.unstructure(d) for d in DIAGNOSTICS],
        })

    async def code_actions(self) -> list[types.CodeAction]:
        return await self.client.text_document_code_action_async(CODE_ACTION)

    async def resolve(self, action: types.CodeAction) -> types.CodeAction:
        return await self.client.code_action_resolve_async(action)

    async def hover(self) -> types.Hover | None:
        return await self.client.text_document_hover_async(HOVER)

    async def command(self, name: str, *arguments: Any) -> Any:
        return await self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=name, arguments=list(arguments)))

    def peak_rss_mb(self) -> float:
        """VmHWM: the most resident memory the process ever had."""
        return _status_kb(self.pid, "VmHWM") / 1024

    async def stop(self) -> None:
        try:
            await asyncio.wait_for(self.client.shutdown_async(None), 10)
            self.client.exit(None)
            await asyncio.wait_for(self.client.stop(), 10)
        except (TimeoutError, RuntimeError):
            process = self.client._server
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()
        self._drain.cancel()

    def failure(self, what: str) -> RuntimeError:
        tail = "\n".join(self.stderr[-20:])
        return RuntimeError(f"{self.name}: {what}" + (f"\nserver stderr:\n{tail}" if tail else ""))


def _status_kb(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/status has no {field_name}")


async def interleaved(rounds: int, calls: dict[str, Callable[[], Awaitable[Any]]]) -> dict[str, Samples]:
    """Each round times every call once, one at a time, alternating which goes first."""
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        order = names if index % 2 == 0 else names[::-1]
        for name in order:
            start = now_ns()
            await calls[name]()
            times[name].append(ms_since(start))
    return {name: Samples.of(values) for name, values in times.items()}


@dataclass
class Rounds:
    """How many requests each figure takes (warm-up rounds are not timed)."""

    warmup: int
    code_action: int
    resolve: int
    hover: int
    local_resolve: int
    starts: int
    burst_rounds: int
    profiled: int  # requests per workload under py-spy (--profile)


async def start_and_first_answer(name: str, command: list[str], env: dict[str, str]) -> tuple[float, Session]:
    """Seconds from spawning the server to the first codeAction answered (process start, initialize,
    initialized, didOpen, codeAction), as an editor sees it when it opens a file."""
    start = now_ns()
    session = await Session.start(name, command, env)
    await session.initialize()
    session.open()
    actions = await session.code_actions()
    seconds = ms_since(start) / 1000
    if not actions:
        raise session.failure("the first codeAction returned no actions")
    return seconds, session


async def measure_start(rounds: Rounds, work: Path, profiles: dict[str, Any] | None) -> list[Figure]:
    data_dir = work / "start-data"
    env = server_env(data_dir, None)
    # The first start ever creates the data directory and imports the starter knowledge base.
    cold, session = await start_and_first_answer("hybrid-lsp", hybrid_command(), env)
    await session.stop()
    hybrid, bare = [], []
    for index in range(rounds.starts):
        pairs = [("hybrid-lsp", hybrid_command(), hybrid), (BARE, bare_command(), bare)]
        for name, command, into in (pairs if index % 2 == 0 else pairs[::-1]):
            seconds, session = await start_and_first_answer(name, command, env)
            into.append(seconds)
            await session.stop()
    hybrid_s, bare_s = Samples.of(hybrid), Samples.of(bare)
    if profiles is not None:
        profiles["start_first_answer"] = _profile_start(data_dir, env)
    return [
        Figure("start_first_answer", "Server start to first codeAction answered (median of "
               f"{len(hybrid)} starts, data directory already initialised)", "s", hybrid_s.p50,
               bare_s.p50, BARE, Target("value", "<=", 1.0, "s"),
               {"hybrid": hybrid_s.summary(), "bare": bare_s.summary()}),
        Figure("start_first_answer_cold", "First start ever (empty data directory: imports the starter "
               "knowledge base)", "s", cold, bare_s.p50, BARE, None),
    ]


async def measure_requests(rounds: Rounds, work: Path, model_url: str, profiles: dict[str, Any] | None) -> list[Figure]:
    hybrid = await Session.start("hybrid-lsp", hybrid_command(), server_env(work / "lsp-data", model_url))
    bare = await Session.start(BARE, bare_command(), server_env(work / "lsp-data", model_url))
    try:
        return await _requests(rounds, hybrid, bare, model_url, profiles)
    finally:
        await hybrid.stop()
        await bare.stop()


def _by_code(actions: list[types.CodeAction]) -> dict[str, types.CodeAction]:
    """The quick fix offered for each diagnostic (not the extra "Reject ..." actions)."""
    found: dict[str, types.CodeAction] = {}
    for action in actions or []:
        if isinstance(action, types.CodeAction) and action.diagnostics and "Reject" not in action.title:
            found.setdefault(str(action.diagnostics[0].code), action)
    return found


async def _requests(rounds: Rounds, hybrid: Session, bare: Session, model_url: str,
                    profiles: dict[str, Any] | None) -> list[Figure]:
    for session in (hybrid, bare):
        await session.initialize()
        session.open()
        session.forward_diagnostics()
    hybrid_actions, bare_actions = _by_code(await hybrid.code_actions()), _by_code(await bare.code_actions())
    if set(hybrid_actions) != {"F401", "F841", "F821"} or len(bare_actions) != 3:
        raise hybrid.failure(f"expected one action per diagnostic, got {list(hybrid_actions)} and {list(bare_actions)}")
    known, local = hybrid_actions["F401"], hybrid_actions["F821"]
    if "known fix" not in known.title:
        raise hybrid.failure(f"F401 should be answered from the starter knowledge base, got {known.title!r}")
    if "local model" not in local.title:
        raise hybrid.failure(f"F821 should go to the local model, got {local.title!r}")
    hover = await hybrid.hover()
    if hover is None or "imported but unused" not in hover.contents.value and "unused import" not in hover.contents.value.lower():
        raise hybrid.failure(f"hover on the F401 diagnostic did not explain it: {hover}")

    code_action = {"hybrid-lsp": hybrid.code_actions, BARE: bare.code_actions}
    resolve = {"hybrid-lsp": lambda: hybrid.resolve(known), BARE: lambda: bare.resolve(bare_actions["F401"])}
    hovers = {"hybrid-lsp": hybrid.hover, BARE: bare.hover}
    await interleaved(rounds.warmup, code_action)
    await interleaved(max(3, rounds.warmup // 4), resolve)
    await interleaved(max(3, rounds.warmup // 4), hovers)
    actions = await interleaved(rounds.code_action, code_action)
    resolves = await interleaved(rounds.resolve, resolve)
    hover_times = await interleaved(rounds.hover, hovers)

    resolved = await hybrid.resolve(known)
    if resolved.edit is None and getattr(resolved, "command", None) is None:
        raise hybrid.failure("resolving the known fix produced neither an edit nor a command")
    local_times = await _local_resolves(rounds, hybrid, local, model_url)
    if profiles is not None:
        for key, what, call, count in (
            ("code_action", "codeAction", hybrid.code_actions, rounds.profiled),
            ("resolve_known_p50", "codeAction/resolve on the known-fix route", lambda: hybrid.resolve(known), rounds.profiled),
            ("hover_p50", "hover", hybrid.hover, rounds.profiled),
        ):
            with profiling.Sampler(hybrid.pid) as sampler:
                for _ in range(count):
                    await call()
            profiles[key] = {"what": f"py-spy on the hybrid-lsp server process during {count} sequential {what} "
                                     "requests; share of busy samples, all threads", **sampler.result}
    stats = await hybrid.command("hybridLsp.stats")
    routes = stats["routes"] if isinstance(stats, dict) else dict(stats.routes._asdict())
    if routes["local"] < rounds.local_resolve:
        raise hybrid.failure(f"local-route resolves did not reach the model server: routes {routes}")

    h, b = actions["hybrid-lsp"], actions[BARE]
    return [
        Figure("code_action_p50", "codeAction round trip p50 (3 diagnostics in the context, "
               f"{document.LINES}-line document)", "ms", h.p50, b.p50, BARE,
               Target("ratio", "<=", 1.5), {"hybrid": h.summary(), "bare": b.summary()}),
        Figure("code_action_p99", "codeAction round trip p99", "ms", h.p99, b.p99, BARE,
               Target("value", "<=", 10.0, "ms"), {"hybrid": h.summary(), "bare": b.summary()}),
        Figure("resolve_known_p50", "codeAction/resolve p50, known-fix route (ruff F401, no model)", "ms",
               resolves["hybrid-lsp"].p50, resolves[BARE].p50, BARE, Target("value", "<=", 5.0, "ms"),
               {"hybrid": resolves["hybrid-lsp"].summary(), "bare": resolves[BARE].summary()}),
        Figure("hover_p50", "Hover p50 on a forwarded known diagnostic", "ms", hover_times["hybrid-lsp"].p50,
               hover_times[BARE].p50, BARE, Target("value", "<=", 5.0, "ms"),
               {"hybrid": hover_times["hybrid-lsp"].summary(), "bare": hover_times[BARE].summary()}),
        Figure("resolve_local_p50", "codeAction/resolve p50, local-model route (model answers at once)", "ms",
               local_times["resolve"].p50, local_times["http"].p50,
               "direct chat-completions POST to the same model server", None,
               {"resolve": local_times["resolve"].summary(), "http": local_times["http"].summary(),
                "resolve_minus_http_p50_ms": round(local_times["resolve"].p50 - local_times["http"].p50, 3),
                "routes_recorded": routes}),
    ]


async def _local_resolves(rounds: Rounds, hybrid: Session, local: types.CodeAction, model_url: str) -> dict[str, Samples]:
    """Resolves on the local route, interleaved with the same chat request sent straight to the model server."""
    import httpx

    # A streamed chat request of the size hybrid-lsp sends (system prompt, code window, contexts).
    body = {"model": "loopback-model", "stream": True, "stream_options": {"include_usage": True},
            "max_tokens": 800, "temperature": 0.2,
            "messages": [{"role": "system", "content": "x " * 400}, {"role": "user", "content": "y " * 1500}]}
    async with httpx.AsyncClient(base_url=model_url + "/v1/") as http:
        async def post() -> None:
            async with http.stream("POST", "chat/completions", json=body) as response:
                await response.aread()

        await interleaved(max(3, rounds.warmup // 10), {"resolve": lambda: hybrid.resolve(local), "http": post})
        return await interleaved(rounds.local_resolve, {"resolve": lambda: hybrid.resolve(local), "http": post})


async def measure_peak_rss(rounds: Rounds, data_dir: Path, entries: int, work: Path,
                           profiles: dict[str, Any] | None) -> list[Figure]:
    """A server on the large knowledge base, after bursts of overlapping requests like an editor's."""
    hybrid = await Session.start("hybrid-lsp", hybrid_command(), server_env(data_dir, None))
    bare = await Session.start(BARE, bare_command(), server_env(work / "rss-bare-data", None))
    try:
        samples = {}
        for session in (hybrid, bare):
            await session.initialize()
            session.open()
            session.forward_diagnostics()
            initialised_mb = _status_kb(session.pid, "VmRSS") / 1024
            actions = await session.code_actions()
            if len(actions) != 3:
                raise session.failure(f"expected 3 actions on the large knowledge base, got {len(actions)}")
            first = _by_code(actions)["F401"]
            start = now_ns()
            for _ in range(rounds.burst_rounds):
                burst = [session.code_actions() for _ in range(10)] + [session.hover() for _ in range(5)]
                burst += [session.resolve(first) for _ in range(2)]
                await asyncio.gather(*burst)
            samples[session.name] = (session.peak_rss_mb(), _status_kb(session.pid, "VmRSS") / 1024,
                                     ms_since(start) / 1000, initialised_mb)
            if profiles is not None and session is hybrid:
                profiles["peak_rss"] = {
                    "what": "resident memory of the hybrid-lsp server by mapping (/proc/PID/smaps) after the bursts",
                    "rss_after_initialize_mb": round(initialised_mb, 1), **profiling.memory_map(session.pid, data_dir)}
    finally:
        await hybrid.stop()
        await bare.stop()
    (h_peak, h_rss, h_s, h_init), (b_peak, b_rss, _, _) = samples["hybrid-lsp"], samples[BARE]
    requests = rounds.burst_rounds * 17
    return [Figure("peak_rss", f"Peak RSS (VmHWM) of a server with {entries:,} entries after {requests} requests",
                   "MB", h_peak, b_peak, BARE, Target("value", "<=", 250.0, "MB"),
                   {"hybrid_vmrss_mb": round(h_rss, 1), "hybrid_vmrss_after_initialize_mb": round(h_init, 1),
                    "bare_vmrss_mb": round(b_rss, 1),
                    "burst_seconds": round(h_s, 2), "requests": requests})]


def _profile_start(data_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    """Start-up in phases (benchmarks/startup_probe.py), its py-spy profile, and the slowest imports."""
    probe = [sys.executable, "-m", "benchmarks.startup_probe", str(data_dir)]
    phases = []
    for _ in range(3):
        done = subprocess.run(probe, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
        phases.append(json.loads(done.stdout.strip().splitlines()[-1]))
    median = {k: round(statistics.median(p[k] for p in phases), 3) for k in phases[0]}
    imports = subprocess.run([sys.executable, "-X", "importtime", "-c", "import hybrid_lsp.cli, hybrid_lsp.server"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    return {"what": "the start-up work of `hybrid-lsp serve` (import the server, open the pipeline, plan the "
                    "first diagnostic) in a probe process: phases (median of 3), then py-spy over the whole probe",
            "phases_s": median, "slowest_imports": _slowest_imports(imports.stderr),
            **profiling.record_command(probe, ROOT, env)}


def _slowest_imports(report: str, top: int = 10) -> list[dict[str, Any]]:
    """Import time by top-level package (the sum of its modules' own times), from `python -X importtime`."""
    packages: dict[str, int] = {}
    for line in report.splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not line.startswith("import time:"):
            continue
        own = parts[0].removeprefix("import time:").strip()
        if own.isdigit():
            package = parts[2].strip().split(".")[0]
            packages[package] = packages.get(package, 0) + int(own)
    total = sum(packages.values())
    ranked = sorted(packages.items(), key=lambda item: item[1], reverse=True)[:top]
    return [{"package": name, "seconds": round(us / 1e6, 3), "share": round(us / total, 3)} for name, us in ranked]
