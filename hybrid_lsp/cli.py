"""Command line: the language server, and the same pipeline without an editor.

    hybrid-lsp [serve] [--tcp|--ws] [--host H] [--port P]
    hybrid-lsp check FILE... [--json]
    hybrid-lsp search MESSAGE [--source S] [--code C] [--language L] [--json]
    hybrid-lsp search --batch FILE.jsonl --json
    hybrid-lsp kb import FILE.jsonl... | kb export [-o FILE] | kb stats | kb show ID | kb remove ID | kb rebuild
    hybrid-lsp stats [--days N] [--json] [--chart FILE.png|.svg|.html]
    hybrid-lsp history [--days N] [--json]
    hybrid-lsp doctor
Every command takes --data-dir DIR (or HYBRID_LSP_DATA_DIR) and --no-starter (or HYBRID_LSP_NO_STARTER=1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .config import data_dir, load_settings
from .edits import unified_diff
from .knowledge import ImportFailed, read_jsonl, read_jsonl_file
from .query import ErrorQuery, Span, code_window, language_for
from .store import Store, StoreError


LOG_RECORD_CHARS = 4000


def _parser() -> argparse.ArgumentParser:
    def options(defaults: bool) -> argparse.ArgumentParser:
        # Subcommands repeat the options without defaults, so a value given before the
        # subcommand is not overwritten by the subcommand's default.
        common = argparse.ArgumentParser(add_help=False, argument_default=None if defaults else argparse.SUPPRESS)
        common.add_argument("--data-dir", help="knowledge base directory (default: the user data directory; env HYBRID_LSP_DATA_DIR)")
        common.add_argument("--no-starter", action="store_true", help="do not load the shipped starter knowledge base")
        common.add_argument("--log-level", help="logging level for stderr (default WARNING; env HYBRID_LSP_LOG)")
        return common

    common = options(defaults=False)
    parser = argparse.ArgumentParser(prog="hybrid-lsp", parents=[options(defaults=True)], description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"hybrid-lsp {__version__}")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", parents=[common], help="run the language server (default: stdio)")
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument("--tcp", action="store_true", help="listen on TCP instead of stdio")
    mode.add_argument("--ws", action="store_true", help="listen on a WebSocket instead of stdio")
    mode.add_argument("--stdio", action="store_true", help="speak LSP over stdio (the default; accepted for clients that pass it)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=2087)

    check = sub.add_parser("check", parents=[common], help="lint files and folders and propose a fix for each diagnostic")
    check.add_argument("files", type=Path, nargs="+", metavar="FILE")
    check.add_argument("--json", action="store_true", help="one JSON object per diagnostic")

    search = sub.add_parser("search", parents=[common], help="look a message up in the knowledge base")
    search.add_argument("message", nargs="?")
    search.add_argument("--source", default="")
    search.add_argument("--code", default="")
    search.add_argument("--language", default="")
    search.add_argument("--batch", type=Path, help="JSONL file of queries {qid?, message, source?, code?, language?}")
    search.add_argument("--json", action="store_true")

    kb = sub.add_parser("kb", parents=[common], help="manage the knowledge base")
    kb_sub = kb.add_subparsers(dest="kb_command", required=True)
    kb_import = kb_sub.add_parser("import", parents=[common], help="import JSONL entries (all or nothing per file)")
    kb_import.add_argument("files", type=Path, nargs="*")
    kb_import.add_argument("--from", dest="tool", choices=["ruff", "rustc"],
                           help="import every rule of an installed tool from its own documentation")
    kb_import.add_argument("--overwrite", action="store_true",
                           help="with --from: replace entries that already exist (curated ones are kept otherwise)")
    kb_export = kb_sub.add_parser("export", parents=[common], help="write every entry as JSONL")
    kb_export.add_argument("-o", "--output", type=Path)
    kb_sub.add_parser("stats", parents=[common], help="entries per collection, source and language")
    kb_show = kb_sub.add_parser("show", parents=[common], help="print one entry")
    kb_show.add_argument("id")
    kb_remove = kb_sub.add_parser("remove", parents=[common], help="delete one entry")
    kb_remove.add_argument("id")
    kb_sub.add_parser("rebuild", parents=[common], help="re-embed every entry with the current model")

    sub.add_parser("doctor", parents=[common], help="check the store, the embedding model and each model backend")

    for name, text in (("stats", "routing shares, accept rate and tokens"), ("history", "interactions and outcomes")):
        cmd = sub.add_parser(name, parents=[common], help=text)
        cmd.add_argument("--days", type=float)
        cmd.add_argument("--json", action="store_true")
        if name == "stats":
            cmd.add_argument("--chart", type=Path, metavar="FILE", help="write a chart of answers per route and day (.png, .svg or "
                             ".html; .png needs matplotlib: pip install 'hybrid-lsp[chart]')")
    return parser


def _starter(args: argparse.Namespace) -> bool:
    return not (args.no_starter or os.environ.get("HYBRID_LSP_NO_STARTER") == "1")


def _pipeline(args: argparse.Namespace):
    from .pipeline import Pipeline

    settings, errors = load_settings()
    for error in errors:
        print(f"hybrid-lsp: {error}", file=sys.stderr)
    return Pipeline(data_dir(args.data_dir), settings, starter=_starter(args))


class CappedFormatter(logging.Formatter):
    """At most LOG_RECORD_CHARS per log record: a malformed message of megabytes (logged with its
    traceback by the LSP library) must not flood the editor's output panel or stall on its pipe."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if len(text) <= LOG_RECORD_CHARS:
            return text
        half = LOG_RECORD_CHARS // 2  # the start says what happened, the end (a traceback's last line) why
        return f"{text[:half]} … [{len(text) - 2 * half:,} characters not logged] … {text[-half:]}"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    level = args.log_level or os.environ.get("HYBRID_LSP_LOG", "WARNING")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(CappedFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, str(level).upper(), logging.WARNING), handlers=[handler])
    command = args.command or "serve"
    try:
        if command == "serve":
            from .server import serve

            return serve(args, data_dir(args.data_dir), _starter(args))
        if command == "check":
            return asyncio.run(_check(args))
        if command == "search":
            return _search(args)
        if command == "kb":
            return _kb(args)
        if command == "doctor":
            return asyncio.run(_doctor(args))
        return _report(args, command)
    except (StoreError, ImportFailed) as exc:
        print(f"hybrid-lsp: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


# -- check -------------------------------------------------------------------------------------

def run_ruff(paths: list[Path]) -> list[dict[str, Any]]:
    """Ruff's diagnostics for files and folders, in one run, as its JSON output gives them."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--output-format", "json", "--no-cache", "--exit-zero",
         *map(str, paths)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ruff failed: {result.stderr.strip()}")
    return json.loads(result.stdout or "[]")


def _ruff_queries(items: list[dict[str, Any]], text: str, context_lines: int) -> list[ErrorQuery]:
    lines = text.split("\n")
    messages = [item.get("message", "") for item in items]
    queries = []
    for item in items:
        start, end = item["location"], item.get("end_location") or item["location"]
        span = Span(start["row"] - 1, start["column"] - 1, end["row"] - 1, end["column"] - 1)
        queries.append(ErrorQuery(
            message=item.get("message", ""), source="ruff", code=item.get("code") or "",
            language="python", span=span, window=code_window(lines, span, context_lines),
            related=tuple(m for m in messages if m != item.get("message"))[:5],
        ))
    return queries


async def _check(args: argparse.Namespace) -> int:
    """Batch processing: one ruff run over every file and folder, one pipeline for all answers."""
    for path in args.files:
        if not path.exists():
            print(f"hybrid-lsp: {path}: no such file or folder", file=sys.stderr)
            return 2
        if path.is_file() and language_for(str(path)) != "python":
            print(f"hybrid-lsp: {path}: `check` runs ruff, so it takes Python files (.py, .pyi) and folders; "
                  "in an editor, hybrid-lsp answers diagnostics of any language", file=sys.stderr)
            return 2
    try:
        items = run_ruff(args.files)
    except RuntimeError as exc:
        print(f"hybrid-lsp: {exc}", file=sys.stderr)
        return 2
    given = {path.resolve(): path for path in args.files if path.is_file()}  # shown as the user wrote them
    by_file: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_file.setdefault(item["filename"], []).append(item)
    pipeline = _pipeline(args)
    try:
        if not by_file and not args.json:
            print("ruff reports no diagnostics")
        for filename, file_items in sorted(by_file.items()):
            path = given.get(Path(filename).resolve()) or _shown(filename)
            text = Path(filename).read_text(encoding="utf-8", errors="replace")
            queries = _ruff_queries(file_items, text, pipeline.settings.context_lines)
            plans = await asyncio.to_thread(lambda: [pipeline.plan(q, text, len(queries)) for q in queries])
            for query, plan in zip(queries, plans):
                answer = await pipeline.solve(plan, text, str(path))
                diff = unified_diff(text, answer.edit, str(path)) if answer.edit else ""
                if args.json:
                    print(json.dumps({
                        "file": str(path), "line": query.span.start_line + 1, "column": query.span.start_char + 1,
                        "source": query.source, "code": query.code, "message": query.message,
                        "fingerprint": query.fingerprint, "route": plan.route.to_dict(), "answered_by": answer.route,
                        "matches": [m.to_json() for m in plan.matches[:3]], "explanation": answer.explanation,
                        "diff": diff, "tokens": answer.tokens, "notes": answer.notes, "interaction": answer.interaction_id,
                    }))
                    continue
                _print_answer(path, query, plan, answer, diff)
    finally:
        await pipeline.aclose()
        pipeline.close()
    return 0


def _shown(filename: str) -> Path:
    relative = os.path.relpath(filename)
    return Path(filename) if relative.startswith("..") else Path(relative)


def _print_answer(path: Path, query: ErrorQuery, plan, answer, diff: str) -> None:
    span = query.span
    print(f"{path}:{span.start_line + 1}:{span.start_char + 1}: {query.code} {query.message}")
    route = plan.route
    print(f"  route: {route.target}  relevance {route.relevance:.2f}  complexity {route.complexity}  ({route.reason})")
    if answer.route != route.target:
        print(f"  answered by: {answer.route}")
    if plan.best is not None:
        print(f"  best match: {plan.best.entry.id} ({plan.best.via}, relevance {plan.best.relevance:.2f})")
    cost = "0 tokens" if not answer.tokens else f"{answer.tokens} tokens, {answer.model}"
    if diff:
        print(f"  fix ({cost}):")
        print("    " + diff.rstrip("\n").replace("\n", "\n    "))
    else:
        print(f"  no edit ({cost})")
    print("  explanation: " + answer.explanation.replace("\n", "\n    "))
    for note in answer.notes:
        print(f"  note: {note}")
    print()


# -- search ------------------------------------------------------------------------------------

def _search(args: argparse.Namespace) -> int:
    if args.batch is None and not args.message:
        print("hybrid-lsp: search needs a MESSAGE or --batch FILE", file=sys.stderr)
        return 2
    pipeline = _pipeline(args)
    try:
        if args.batch is not None:
            return _search_batch(pipeline, args.batch)
        result = _search_one(pipeline, {"message": args.message, "source": args.source, "code": args.code,
                                        "language": args.language})
        if args.json:
            print(json.dumps(result))
        else:
            route = result["route"]
            print(f"route: {route['target']} (relevance {route['relevance']:.2f}): {route['reason']}")
            for match in result["matches"]:
                print(f"  {match['score']:.3f}  {match['id']}  [{match['collection']}]  {match['title']}")
    finally:
        pipeline.close()
    return 0


def _search_one(pipeline, item: dict[str, Any]) -> dict[str, Any]:
    query = ErrorQuery(message=item["message"], source=item.get("source") or "", code=item.get("code") or "",
                       language=item.get("language") or language_for(None, None, item.get("source") or ""))
    plan = pipeline.plan(query, "")
    return {"query": query.message, "fingerprint": query.fingerprint,
            "matches": [m.to_json() for m in plan.matches], "route": plan.route.to_dict()}


def _search_batch(pipeline, path: Path) -> int:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"hybrid-lsp: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    items, problems = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not isinstance(item.get("message"), str) or not item["message"].strip():
                raise ValueError('each line needs a non-empty "message" string')
            for name in ("source", "code", "language"):
                if item.get(name) is not None and not isinstance(item[name], (str, int)):
                    raise ValueError(f'"{name}" must be a string')
        except (json.JSONDecodeError, ValueError) as exc:
            problems.append(f"line {number}: {exc}")
            continue
        items.append(item)
    if problems:
        print(f"hybrid-lsp: {path}: " + "; ".join(problems[:20]), file=sys.stderr)
        return 2
    for item in items:
        result = _search_one(pipeline, {**item, "code": str(item.get("code") or "")})
        print(json.dumps({"qid": item.get("qid"), **result}))
    return 0


# -- kb ----------------------------------------------------------------------------------------

def _kb(args: argparse.Namespace) -> int:
    if args.kb_command == "rebuild":
        return _rebuild(args)
    pipeline = _pipeline(args)
    knowledge = pipeline.knowledge
    try:
        if args.kb_command == "import":
            if not args.files and not args.tool:
                print("hybrid-lsp: kb import needs FILE.jsonl... or --from TOOL", file=sys.stderr)
                return 2
            batches = [(path, read_jsonl_file(path)) for path in args.files]
            for path, entries in batches:
                knowledge.add(entries)
                print(f"{path}: imported {len(entries)} entries")
            if args.tool:
                from .importers import ImporterError, collect, keep_existing

                try:
                    entries = collect(args.tool)
                except ImporterError as exc:
                    print(f"hybrid-lsp: {exc}", file=sys.stderr)
                    return 2
                kept, new = 0, len(entries)
                if not args.overwrite:
                    entries, kept = keep_existing(entries, {entry.id: entry for entry in knowledge.export()})
                    new -= kept
                knowledge.add(entries)
                print(f"{args.tool}: imported {new} entries from its documentation"
                      + (f"; kept {kept} existing ones, adding the docs' wordings (--overwrite replaces them)"
                         if kept else ""))
            _build_index(pipeline)
        elif args.kb_command == "export":
            out = args.output.open("w", encoding="utf-8") if args.output else sys.stdout
            try:
                for entry in knowledge.export():
                    out.write(json.dumps(entry.to_json(), ensure_ascii=False) + "\n")
            finally:
                if args.output:
                    out.close()
        elif args.kb_command == "stats":
            print(json.dumps(_kb_stats(knowledge), indent=2))
        elif args.kb_command == "show":
            found = knowledge.get(args.id)
            if found is None:
                print(f"hybrid-lsp: no entry with id {args.id!r}", file=sys.stderr)
                return 1
            print(json.dumps(found[0].to_json(), indent=2, ensure_ascii=False))
        elif args.kb_command == "remove":
            if not knowledge.remove(args.id):
                print(f"hybrid-lsp: no entry with id {args.id!r}", file=sys.stderr)
                return 1
            print(f"removed {args.id}")
    finally:
        pipeline.close()
    return 0


def _build_index(pipeline) -> None:
    """Build the search index before returning, so that no search has to scan the new entries."""
    if any(pipeline.store.optimize_pending()):
        print("building the search index...", flush=True)
    pipeline.store.optimize()


def _kb_stats(knowledge) -> dict[str, Any]:
    by_source: dict[str, int] = {}
    by_language: dict[str, int] = {}
    for entry in knowledge.export():
        by_source[entry.source or "-"] = by_source.get(entry.source or "-", 0) + 1
        by_language[entry.language or "-"] = by_language.get(entry.language or "-", 0) + 1
    return {"collections": knowledge.counts(), "sources": by_source, "languages": by_language}


def _rebuild(args: argparse.Namespace) -> int:
    """Re-create the collections from the entry journal (or, for stores without one, from what can
    still be read), then re-apply the outcomes recorded in the history."""
    from .journal import EntryJournal
    from .knowledge import parse_entry

    root = data_dir(args.data_dir)
    journal = EntryJournal(root / "entries.jsonl")
    entries_json = list(journal.current().values())
    source = "the entry journal"
    if not entries_json:
        entries_json, source = _readable_entries(root), "the readable collections"
    interactions = _readable_history(root)
    Store.wipe(root)
    pipeline = _pipeline(args)
    try:
        from .history import _from_payload

        for payload in interactions:
            pipeline.history.record(_from_payload(payload))
        entries = []
        for item in entries_json:
            try:
                entries.append(parse_entry(item))
            except ValueError:
                continue
        pipeline.knowledge.add(entries, journal=False)
        _build_index(pipeline)
        counted = 0
        for interaction in pipeline.history.list():
            for entry_id in {interaction.served_entry, interaction.learned_entry} - {""}:
                if interaction.outcome in ("accepted", "rejected", "undone", "validated", "failed"):
                    pipeline.knowledge.record_outcome(entry_id, interaction.id, interaction.outcome)
                    counted += 1
    finally:
        pipeline.close()
    print(f"rebuilt {root}: {len(entries)} entries re-embedded from {source}, {len(interactions)} interaction(s) "
          f"kept, {counted} outcome(s) re-applied to entries")
    return 0


def _readable_history(root: Path) -> list[dict[str, Any]]:
    import qdrant_edge as qe

    path = root / "collections" / "interaction-history"
    if not path.exists():
        return []
    try:
        shard = qe.EdgeShard.load(str(path))
    except Exception as exc:
        print(f"hybrid-lsp: the interaction history cannot be read ({exc}); it starts empty", file=sys.stderr)
        return []
    found, offset = [], None
    while True:
        records, offset = shard.scroll(qe.ScrollRequest(offset=offset, limit=512, with_payload=True))
        found.extend(record.payload for record in records)
        if offset is None:
            break
    shard.close()
    return found


def _readable_entries(root: Path) -> list[dict[str, Any]]:
    import qdrant_edge as qe

    from .knowledge import stored_entry

    found: list[dict[str, Any]] = []
    for name in ("error-solutions", "skills-patterns", "best-practices"):
        shard_path = root / "collections" / name
        if not shard_path.exists():
            continue
        try:
            shard = qe.EdgeShard.load(str(shard_path))
        except Exception as exc:  # damaged: what it held is lost, say so
            print(f"hybrid-lsp: {name} cannot be read ({exc}); its entries are lost", file=sys.stderr)
            continue
        offset = None
        while True:
            records, offset = shard.scroll(qe.ScrollRequest(offset=offset, limit=512, with_payload=True))
            for record in records:
                try:
                    found.append(stored_entry(record.payload).to_json())
                except (KeyError, ValueError, TypeError):
                    continue
            if offset is None:
                break
        shard.close()
    return found


# -- doctor ------------------------------------------------------------------------------------

async def _doctor(args: argparse.Namespace) -> int:
    """The troubleshooting guide, made executable: each check says what is wrong and what to do."""
    from .embedding import Embedder
    from .pipeline import Pipeline, make_backend
    from .relevance import Calibration
    from .store import StoreBusy

    failures = 0

    def report(ok: bool | None, what: str, detail: str) -> None:
        nonlocal failures
        failures += ok is False
        mark = {True: "ok  ", False: "FAIL", None: "note"}[ok]
        print(f"{mark} {what}: {detail}")

    settings, errors = load_settings()
    report(not errors, "settings", "; ".join(errors) or "valid")
    embedder = Embedder()
    try:
        embedder.warm()
        calibration = Calibration.load()
        same = calibration.model == embedder.model_id
        report(same, "embedding model", f"{embedder.model_id}, {embedder.dimensions} dimensions" + (
            "" if same else f"; the relevance calibration was fitted for {calibration.model}: run scripts/fit_relevance.py"))
    except Exception as exc:  # a broken install: say so rather than crash
        report(False, "embedding model", f"cannot load ({exc}); reinstall hybrid-lsp")
    pipeline = None
    try:
        pipeline = Pipeline(data_dir(args.data_dir), settings, starter=_starter(args))
        counts = pipeline.knowledge.counts()
        empty = counts.get("error-solutions", 0) == 0
        report(not empty, "knowledge base", f"{data_dir(args.data_dir)}: " + ", ".join(f"{k} {v}" for k, v in counts.items()) + (
            "; error-solutions is empty: import entries with `hybrid-lsp kb import` or drop --no-starter" if empty else ""))
        stats = pipeline.history.stats(7)
        if stats["interactions"] >= 20:
            share = stats["share_without_remote"]
            report(share >= 0.5, "local share (7 days)", f"{share:.0%} answered without the remote API" + (
                "; too many remote queries: lower hybridLsp.routing thresholds (policy casual) or add entries" if share < 0.5 else ""))
            relevance = stats["average_local_relevance"]
            if relevance is not None and relevance < 0.5:
                report(False, "relevance", f"average {relevance:.2f}: context is rarely found; check the collections are populated and add examples")
    except StoreBusy as exc:
        report(None, "knowledge base", str(exc))
    except StoreError as exc:
        report(False, "knowledge base", str(exc))
    finally:
        if pipeline is not None:
            pipeline.close()
    if settings.qdrant.url:
        from .config import qdrant_api_key
        from .team import doctor_checks

        for ok, what, detail in doctor_checks(settings.qdrant, data_dir(args.data_dir), qdrant_api_key()):
            report(ok, what, detail)
    for route in ("local", "remote"):
        section = settings.local if route == "local" else settings.remote
        if not section.enabled:
            report(None, f"{route} model", "disabled in settings")
            continue
        if route == "remote" and settings.routing.policy == "local-only":
            report(None, "remote model", "not used: the policy is local-only")
            continue
        if route == "remote" and not _remote_configured(settings):
            report(None, "remote model", "not configured: set ANTHROPIC_API_KEY (or, for remote.kind openai, "
                   "HYBRID_LSP_REMOTE_URL and HYBRID_LSP_REMOTE_API_KEY) to use it")
            continue
        backend = make_backend(route, settings)
        try:
            problems = await backend.check()
        finally:
            await backend.aclose()
        report(not problems, f"{route} model", "; ".join(problems) or f"{backend.label} answers and has the model")
    return 1 if failures else 0


def _remote_configured(settings) -> bool:
    from .config import remote_api_key, remote_url

    if settings.remote.kind == "openai":
        return bool(remote_url() and remote_api_key("openai"))
    return bool(remote_api_key())


# -- stats and history -------------------------------------------------------------------------

def _report(args: argparse.Namespace, command: str) -> int:
    from .chart import ChartError, check_chart_path, write_chart

    chart = getattr(args, "chart", None)
    if chart is not None:
        try:
            check_chart_path(chart)  # a wrong suffix or a missing matplotlib fails before any work
        except ChartError as exc:
            print(f"hybrid-lsp: {exc}", file=sys.stderr)
            return 2
    pipeline = _pipeline(args)
    try:
        if command == "stats":
            stats = pipeline.stats(args.days)
            if chart is not None:
                try:
                    write_chart(stats, chart)
                except ChartError as exc:
                    print(f"hybrid-lsp: {exc}", file=sys.stderr)
                    return 2
                print(f"wrote {chart}", file=sys.stderr)
            if args.json:
                print(json.dumps(stats))
            else:
                _print_stats(stats)
        else:
            items = pipeline.history.list(args.days)
            for item in items:
                if args.json:
                    print(json.dumps(item.to_json()))
                else:
                    print(f"{item.timestamp}  {item.kind:<3}  {item.route:<6} {item.outcome:<9} "
                          f"{item.prompt_tokens + item.completion_tokens:>6} tok  {item.query[:70]}")
    finally:
        pipeline.close()
    return 0


def _print_stats(stats: dict[str, Any]) -> None:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    total = stats["interactions"]
    print(f"interactions: {total} ({stats['fixes']} fixes, {stats['asks']} asks)")
    for route, count in stats["routes"].items():
        rate = stats["accept_rate_by_route"][route]
        print(f"  {route:<7} {count:>5}  {pct(count / total if total else None):>5}  accepted {pct(rate)}")
    print(f"answered without the remote API: {pct(stats['share_without_remote'])} (target 70%+)")
    relevance = stats["average_local_relevance"]
    print(f"average relevance of local answers: {'-' if relevance is None else f'{relevance:.2f}'} (target 0.75+)")
    print(f"accept rate: {pct(stats['accept_rate'])}; outcomes: {stats['outcomes'] or '-'}")
    tokens, money = stats["tokens"], stats["cost_usd"]
    print(f"tokens: remote {tokens['remote']}, local {tokens['local']}, saved {tokens['saved']} "
          f"(reduction {pct(stats['token_reduction'])})")
    print(f"cost: remote ${money['remote']:.4f}, saved ${money['saved']:.4f}")
    print(f"routing offset learned from outcomes: {stats['routing_offset']:+.2f}")


if __name__ == "__main__":
    sys.exit(main())
