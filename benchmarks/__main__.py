"""Run the benchmark suite: `python -m benchmarks [--quick] [--profile] [--out DIR]`.

Writes DIR/latest.json and DIR/latest.md (default DIR: benchmarks/results). The full run takes a
few minutes on 2 cores; --quick uses small sizes and few requests (a smoke run, not a measurement).
--profile also samples every workload with py-spy and attaches the hottest functions to the
figures, with a what-if for the large-store search after `EdgeShard.optimize()`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from . import FIGURES
from .document import LINES
from .harness import Figure, commit, machine, write_results
from .lsp import Rounds
from .search import Sizes

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

FULL = (Sizes(entries=(1_000, 10_000, 100_000), queries=500, reference_queries=(200, 60, 15), warmup=30),
        Rounds(warmup=60, code_action=400, resolve=200, hover=300, local_resolve=80, starts=5, burst_rounds=20,
               profiled=120),
        (200, 10))
QUICK = (Sizes(entries=(300, 1_000, 3_000), queries=60, reference_queries=(20, 10, 5), warmup=5),
         Rounds(warmup=10, code_action=40, resolve=30, hover=30, local_resolve=10, starts=1, burst_rounds=3,
                profiled=20),
         (20, 3))

NOTES = [
    (f"Language-server figures: pygls's `LanguageClient` (`start_io`) drives `hybrid-lsp serve` and the bare "
     "pygls server (`benchmarks/bare_server.py`) at the same time over stdio, one request at a time, "
     f"alternating servers; warm-up requests are not timed. The document is a {LINES}-line Python module "
     "with ruff's three diagnostics (F401, F841, F821) sent in the code action context and forwarded with "
     "`hybridLsp/diagnostics`. hybrid-lsp runs on a fresh data directory with the starter knowledge base; "
     "the client resolves edits, so codeAction never computes one."),
    ("Search figures: `KnowledgeBase.search` called exactly as `Pipeline.plan` calls it (normalised message, "
     "tool+rule key, fingerprint, language, all three collections) on the starter knowledge base plus "
     "synthetic entries (real tools' message templates x realistic identifiers, `benchmarks/corpus.py`) "
     "imported with `KnowledgeBase.add`. Reference: qdrant-client local mode (`QdrantClient(path=...)`) "
     "with the same points (same dense and BM25 vectors, payloads and collections), asked the same "
     "dense + sparse top-10 queries per collection after the same query embedding. Each query set runs "
     "twice after its warm-up: the figures are the second pass (a server in steady state, the store's "
     "memory-mapped pages resident); the first pass's p99 at the largest size is reported beside them. "
     "hybrid-lsp's import is timed over its chunks back to back, before the references import theirs."),
    ("Import reference: the same precomputed points upserted straight into Qdrant Edge shards with the "
     "same configuration (the engine alone: no normalisation, payload building or embedding)."),
    ("Store size: space allocated on disk (Qdrant preallocates sparse files; their apparent size is in the "
     "JSON details)."),
    ("Start: from spawning the process to the first codeAction answered (initialize, initialized, "
     "didOpen, codeAction); median of several starts alternating with the bare server."),
    ("Peak RSS: VmHWM from /proc/PID/status of a server whose data directory holds the large knowledge "
     "base, after bursts of 10 codeActions, 5 hovers and 2 resolves in flight at once."),
    ("Model route: the tests' loopback model server (tests/model_servers.py, unchanged) runs in its own "
     "process with TCP_NODELAY on its sockets, so its chunked stream is not held back by Nagle's "
     "algorithm (a 40 ms stall per answer otherwise). Overhead = `Pipeline.solve` on the local route minus "
     "the HTTP round trip of the same request replayed on the backend's own httpx client; p50 of the "
     "per-pair differences."),
]


# Which figures each profile explains (a profile is shown in latest.md when one of them fails).
PROFILED = {
    "code_action": ["code_action_p50", "code_action_p99"],
    "resolve_known_p50": ["resolve_known_p50"],
    "hover_p50": ["hover_p50"],
    "model_overhead": ["model_overhead"],
    "search_large": ["search_large_p50", "search_large_p99"],
    "search_large_optimized": ["search_large_p50", "search_large_p99"],
    "import_rate": ["import_rate"],
    "start_first_answer": ["start_first_answer"],
    "peak_rss": ["peak_rss"],
}


def _isolate_environment() -> None:
    """Measure hybrid-lsp's defaults: no user config, keys or model servers from the caller's shell."""
    for name in list(os.environ):
        if name.startswith(("HYBRID_LSP_", "ANTHROPIC_", "OLLAMA_")):
            del os.environ[name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few requests (smoke run)")
    parser.add_argument("--profile", action="store_true", help="sample the workloads with py-spy too")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"where to write latest.json/.md (default {RESULTS})")
    parser.add_argument("--work-dir", type=Path, help="scratch directory (default: a temporary one, removed)")
    args = parser.parse_args(argv)
    _isolate_environment()
    sizes, rounds, (model_rounds, model_warmup) = QUICK if args.quick else FULL
    started = time.monotonic()
    meta = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "quick": args.quick, "commit": commit(),
            "machine": machine(), "notes": NOTES, "phases_s": {}}

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="hybrid-lsp-bench-") as tmp:
        work = args.work_dir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        figures, profiles = run(sizes, rounds, model_rounds, model_warmup, work, args.profile, progress, meta)
    meta["duration_s"] = round(time.monotonic() - started, 1)
    # Other work on the machine moves absolute figures (ratios less so): say how busy it was.
    meta["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    missing = [key for key in FIGURES if key not in {f.key for f in figures}]
    if missing:
        raise SystemExit(f"internal error: figures not measured: {missing}")
    figures.sort(key=lambda f: FIGURES.index(f.key))
    json_path, md_path = write_results(args.out, figures, meta, profiles)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}", file=sys.stderr)
    return 0


def run(sizes: Sizes, rounds: Rounds, model_rounds: int, model_warmup: int, work: Path, profile: bool,
        progress, meta: dict) -> tuple[list[Figure], dict]:
    from . import lsp, model_route, search
    from .document import UNDEFINED_NAME
    from .model_server import ModelServerProcess

    figures: list[Figure] = []
    profiles: dict | None = {} if profile else None

    def phase(name: str, start: float) -> None:
        meta["phases_s"][name] = round(time.monotonic() - start, 1)

    fixed_line = "    log.info(\"loaded %d orders from %s\", len(orders), path)"
    with ModelServerProcess(UNDEFINED_NAME.line + 1, fixed_line) as model:
        start = time.monotonic()
        progress("language server: codeAction, resolve, hover against the bare pygls server")
        figures += asyncio.run(lsp.measure_requests(rounds, work, model.url, profiles))
        phase("requests", start)

        start = time.monotonic()
        progress("model route overhead")
        figures += model_route.measure(model_rounds, model_warmup, work, model.url, profiles)
        phase("model_route", start)

    start = time.monotonic()
    progress("server start to first answer")
    figures += asyncio.run(lsp.measure_start(rounds, work, profiles))
    phase("start", start)

    start = time.monotonic()
    store_figures, data_dir, entries = search.measure(sizes, work, progress, profiles)
    figures += store_figures
    phase("knowledge_base", start)

    start = time.monotonic()
    progress(f"peak RSS with {entries:,} entries")
    figures += asyncio.run(lsp.measure_peak_rss(rounds, data_dir, entries, work, profiles))
    phase("peak_rss", start)

    if profiles is not None:
        start = time.monotonic()
        progress("what if the large store were optimized")
        profiles["search_large_optimized"] = search.what_if_optimized(data_dir, sizes)
        phase("what_if_optimized", start)
        for key, related in PROFILED.items():
            if key in profiles:
                profiles[key]["figures"] = related
    return figures, profiles or {}


if __name__ == "__main__":
    sys.exit(main())
