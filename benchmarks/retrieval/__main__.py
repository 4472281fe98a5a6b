"""Retrieval benchmark on real diagnostics: `python -m benchmarks.retrieval [--quick] [--out DIR]`.

The knowledge base is built the way a user builds it, in a temporary data directory: the starter
entries (Pipeline(..., starter=True)), then every ruff and rustc rule from the tools' docs, added
with `KnowledgeBase.add` exactly as `hybrid-lsp kb import --from ruff|rustc` does (curated entries
kept). Every corpus diagnostic (data/corpus.jsonl, built by scripts/build_corpus.py) is then searched
exactly as `Pipeline.plan` searches (ErrorQuery -> KnowledgeBase.search with the normalised message,
the tool+rule key, the fingerprint, the language, all collections):

- top-1 with source+code: the query carries the editor's source and rule code, as a server gets it;
- top-1 message only: no source or code (the language is given), as for a pasted message;
- cross-tool: message only, over the diagnostics whose truth holds an entry of another tool;
- known-fix band: among queries whose best match has relevance >= routing.known_threshold, the share
  whose best match is acceptable (a diagnostic no entry answers counts as wrong there);
- a baseline in the same run: plain BM25 over the entries' raw messages, crude tokens, message only;
- search latency (ErrorQuery + query embedding + search, answer cache emptied before each query) at
  the corpus knowledge base's size and with synthetic filler entries up to 100,000
  (benchmarks/corpus.py's templates), and the import throughput of that filler. At 100,000 the
  queries run twice after the index build, as in `python -m benchmarks`: the targets apply to the
  second pass (a server in steady state), and the first pass's p99 (store pages still being read
  ahead) is reported beside it.

Writes DIR/retrieval.json and DIR/retrieval.md (default benchmarks/results). --quick takes a small
stratified subset of the corpus and 3,000 entries instead of 100,000 (a smoke run, well under a minute
once the rustc docs are cached; the first run collects them with `rustc --explain`, ~20 s).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hybrid_lsp.config import Settings
from hybrid_lsp.knowledge import Entry, Match, parse_entry
from hybrid_lsp.normalise import canonical_source, normalise
from hybrid_lsp.pipeline import Pipeline
from hybrid_lsp.query import ErrorQuery
from hybrid_lsp.relevance import FEATURES as RELEVANCE_FEATURES

from . import FIGURES

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "data" / "corpus.jsonl"
RESULTS = ROOT / "benchmarks" / "results"
CACHE = Path(tempfile.gettempdir()) / "hybrid-lsp-retrieval-cache"
BATCH = 2048
LARGE = 100_000
QUICK_LARGE = 3_000
QUICK_PER_TOOL = 14
EXAMPLES = 12  # failing examples per figure in the Markdown report (the JSON has them all)


@dataclass(frozen=True, slots=True)
class Row:
    qid: str
    tool: str
    source: str
    code: str
    message: str
    language: str
    file: str
    count: int
    truth: tuple[str, ...]

    def query(self, with_code: bool) -> ErrorQuery:
        if with_code:
            return ErrorQuery(message=self.message, source=self.source, code=self.code, language=self.language)
        return ErrorQuery(message=self.message, language=self.language)


@dataclass(frozen=True, slots=True)
class Target:
    op: str
    limit: float

    def met(self, value: float) -> bool:
        return value >= self.limit if self.op == ">=" else value <= self.limit

    def __str__(self) -> str:
        return f"{self.op} {self.limit:g}"


@dataclass(slots=True)
class Figure:
    key: str
    label: str
    unit: str
    value: float
    target: Target | None = None
    n: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        value = round(self.value, 4) if abs(self.value) < 1000 else round(self.value, 1)
        return {"key": self.key, "label": self.label, "unit": self.unit, "value": value, "n": self.n,
                "target": {"op": self.target.op, "limit": self.target.limit, "text": str(self.target)} if self.target else None,
                "pass": None if self.target is None else self.target.met(self.value), "details": self.details}


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- corpus -----------------------------------------------------------------------------------------


def load_corpus(path: Path) -> list[Row]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                data = json.loads(line)
                rows.append(Row(**{**data, "truth": tuple(data["truth"])}))
    return rows


def quick_subset(rows: list[Row], per_tool: int = QUICK_PER_TOOL) -> list[Row]:
    """A few diagnostics of every tool, spread over its rules (deterministic)."""
    by_tool: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_tool[row.tool].append(row)
    picked = []
    for tool_rows in by_tool.values():
        step = max(1, math.ceil(len(tool_rows) / per_tool))
        picked += tool_rows[::step]
    return picked


# -- the knowledge base -----------------------------------------------------------------------------


def _tool_version(tool: str) -> str:
    command = [sys.executable, "-m", "ruff", "--version"] if tool == "ruff" else ["rustc", "--version"]
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return ""  # not installed: collect() says so


def importer_entries(tool: str) -> list[Entry]:
    """`hybrid_lsp.importers.collect(tool)`, cached per tool version and importer source (rustc takes ~20 s)."""
    from hybrid_lsp import importers

    digest = hashlib.sha256((_tool_version(tool) + Path(importers.__file__).read_text()).encode()).hexdigest()[:16]
    path = CACHE / f"{tool}-{digest}.jsonl"
    if path.exists():
        return [parse_entry(json.loads(line)) for line in path.open(encoding="utf-8")]
    entries = importers.collect(tool)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(e.to_json(), ensure_ascii=False) + "\n" for e in entries), encoding="utf-8")
    tmp.replace(path)
    return entries


def build_knowledge(data_dir: Path) -> tuple[Pipeline, dict[str, Any]]:
    started = time.perf_counter()
    pipeline = Pipeline(data_dir, Settings(), starter=True)
    starter_s = time.perf_counter() - started
    details: dict[str, Any] = {"starter_entries": sum(pipeline.knowledge.counts().values()),
                               "starter_seconds": round(starter_s, 2)}
    from hybrid_lsp.importers import ImporterError, keep_existing

    for tool in ("ruff", "rustc"):
        try:
            entries = importer_entries(tool)
        except ImporterError as exc:  # e.g. no rustc here: measured without those entries, and said so
            log(f"warning: {exc}; the knowledge base has no {tool} docs entries")
            details[f"{tool}_imported"] = 0
            details[f"{tool}_error"] = str(exc)
            continue
        # As `kb import --from` does: curated entries kept, given the docs' wordings they lack.
        stored, kept = keep_existing(entries, {e.id: e for e in pipeline.knowledge.export()})
        begin = time.perf_counter()
        pipeline.knowledge.add(stored)
        details[f"{tool}_imported"] = len(entries) - kept
        details[f"{tool}_kept_curated"] = kept
        details[f"{tool}_add_seconds"] = round(time.perf_counter() - begin, 2)
    details["entries"] = sum(pipeline.knowledge.counts().values())
    details["by_collection"] = pipeline.knowledge.counts()
    return pipeline, details


def search(pipeline: Pipeline, query: ErrorQuery) -> list[Match]:
    """Exactly what Pipeline.plan asks the knowledge base."""
    settings = pipeline.settings
    return pipeline.knowledge.lookup(query, settings.collections, max(5, settings.max_contexts))


# -- retrieval --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    best: str
    relevance: float
    via: str
    runner_up: str
    runner_up_relevance: float
    features: tuple[float, ...]

    @staticmethod
    def of(matches: list[Match]) -> Answer:
        if not matches:
            return Answer("", 0.0, "", "", 0.0, ())
        first = matches[0]
        second = matches[1] if len(matches) > 1 else None
        return Answer(first.entry.id, first.relevance, first.via, second.entry.id if second else "",
                      second.relevance if second else 0.0, tuple(round(v, 4) for v in first.features.vector()))


def evaluate(pipeline: Pipeline, rows: list[Row]) -> dict[str, dict[str, Answer]]:
    return {mode: {row.qid: Answer.of(search(pipeline, row.query(mode == "with_code"))) for row in rows}
            for mode in ("with_code", "message_only")}


class PlainBm25:
    """The baseline: BM25 (k1 1.2, b 0.75) over raw entry messages, lower-cased word tokens, nothing else."""

    def __init__(self, docs: list[tuple[str, str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.ids = [doc_id for doc_id, _ in docs]
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        lengths = []
        for index, (_, text) in enumerate(docs):
            terms = Counter(self.tokens(text))
            lengths.append(sum(terms.values()))
            for term, tf in terms.items():
                self.postings[term].append((index, tf))
        self.avgdl = statistics.fmean(lengths) if lengths else 1.0
        self.lengths, self.k1, self.b, self.n = lengths, k1, b, len(docs)

    @staticmethod
    def tokens(text: str) -> list[str]:
        return re.findall(r"[a-z0-9_]+", text.lower())

    def top1(self, query: str) -> str:
        scores: dict[int, float] = defaultdict(float)
        for term in set(self.tokens(query)):
            posting = self.postings.get(term)
            if not posting:
                continue
            idf = math.log(1 + (self.n - len(posting) + 0.5) / (len(posting) + 0.5))
            for index, tf in posting:
                norm = tf + self.k1 * (1 - self.b + self.b * self.lengths[index] / self.avgdl)
                scores[index] += idf * tf * (self.k1 + 1) / norm
        if not scores:
            return ""
        return self.ids[max(scores, key=lambda i: (scores[i], -i))]


# -- latency ----------------------------------------------------------------------------------------


def percentile(values: list[float], p: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def latency(pipeline: Pipeline, rows: list[Row], with_code: bool, warmup: int = 20) -> dict[str, float]:
    """ErrorQuery (normalise, fingerprint) + query embedding + search, answer cache emptied before each."""
    forget = getattr(pipeline.knowledge, "_changed", None)
    for row in rows[:warmup]:
        search(pipeline, row.query(with_code))
    times = []
    for row in rows:
        if forget is not None:
            forget()
        start = time.perf_counter_ns()
        search(pipeline, row.query(with_code))
        times.append((time.perf_counter_ns() - start) / 1e6)
    return {"n": len(times), "p50": round(statistics.median(times), 4), "p90": round(percentile(times, 90), 4),
            "p99": round(percentile(times, 99), 4), "max": round(max(times), 4), "mean": round(statistics.fmean(times), 4)}


def add_filler(pipeline: Pipeline, total: int) -> dict[str, Any]:
    """Synthetic entries (real tools' templates x realistic names) up to `total`, timed through KnowledgeBase.add."""
    from benchmarks.corpus import entries as synthetic

    have = sum(pipeline.knowledge.counts().values())
    count = max(0, total - have)
    filler = list(synthetic(count, seed=23))
    seconds = 0.0
    for first in range(0, len(filler), BATCH):
        chunk = filler[first : first + BATCH]
        start = time.perf_counter()
        pipeline.knowledge.add(chunk)
        seconds += time.perf_counter() - start
    return {"filler": count, "entries": sum(pipeline.knowledge.counts().values()), "seconds": round(seconds, 2),
            "rate": count / seconds if seconds else 0.0, "batch": BATCH}


# -- figures ----------------------------------------------------------------------------------------


def share(hits: int, total: int) -> float:
    return hits / total if total else 0.0


CAUSES = {
    "key-variant": "several entries share the diagnostic's tool+code; the key lookup served another one's fix",
    "key-other-message": "the key lookup served the only entry of the tool+code, written for another message of it",
    "search-over-key": "an entry with the exact tool+code exists, but a search hit scored above the key relevance",
    "same-template": "the served entry's message normalises to the same text as an acceptable one",
    "other-tool-wording": "only another tool's entries answer it, and their wording differs",
    "rustc-docs-prose": "the answer is an imported rustc explanation, whose `error` is prose, not the message",
    "chain-line": "a multi-line message was reduced to a line other than its first",
    "no-entry": "no entry answers it; the best match still reached the known-fix band",
    "search": "hybrid search ranked another entry first",
}


def cause(row: Row, answer: Answer, mode: str, entries: dict[str, Entry]) -> str:
    """Why the best match is not acceptable (the first reason that applies, in CAUSES order)."""
    query = row.query(mode == "with_code")
    got = entries.get(answer.best)
    if not row.truth:
        return "no-entry"
    if answer.via == "key":
        return "key-variant" if any(entries[t].key == query.key for t in row.truth if t in entries) else "key-other-message"
    if mode == "with_code" and any(entries[t].key == query.key for t in row.truth if t in entries):
        return "search-over-key"
    if got is not None and any(normalise(entries[t].error).text == normalise(got.error).text
                               for t in row.truth if t in entries):
        return "same-template"
    own = canonical_source(row.source)
    if not any(entries[t].source == own for t in row.truth if t in entries):
        return "other-tool-wording"
    if all("rustc-prose" in entries[t].tags for t in row.truth if t in entries and entries[t].source == own):
        return "rustc-docs-prose"
    lines = [line for line in row.message.splitlines() if line.strip()]
    if len(lines) > 1 and normalise(row.message).text != normalise(lines[0]).text:
        return "chain-line"
    return "search"


def failure(row: Row, answer: Answer, mode: str, entries: dict[str, Entry]) -> dict[str, Any]:
    return {"qid": row.qid, "cause": cause(row, answer, mode, entries), "tool": row.tool, "code": row.code, "message": row.message, "language": row.language,
            "expected": list(row.truth), "got": answer.best, "relevance": round(answer.relevance, 4), "via": answer.via,
            "runner_up": answer.runner_up, "runner_up_relevance": round(answer.runner_up_relevance, 4),
            "features": dict(zip(RELEVANCE_FEATURES, answer.features, strict=False))}


def measure_retrieval(rows: list[Row], answers: dict[str, dict[str, Answer]], entries: dict[str, Entry],
                      threshold: float, baseline: PlainBm25) -> tuple[list[Figure], dict[str, Any]]:
    answerable = [r for r in rows if r.truth]
    unanswerable = [r for r in rows if not r.truth]

    def cross(row: Row) -> bool:
        own = canonical_source(row.source)
        return any(t in entries and entries[t].source and entries[t].source != own for t in row.truth)

    crossing = [r for r in answerable if cross(r)]
    failures: dict[str, list[dict[str, Any]]] = {}

    def top1(mode: str, subset: list[Row], name: str) -> tuple[float, int]:
        wrong = [r for r in subset if answers[mode][r.qid].best not in r.truth]
        failures[name] = [failure(r, answers[mode][r.qid], mode, entries) for r in wrong]
        return share(len(subset) - len(wrong), len(subset)), len(subset)

    with_code, n_code = top1("with_code", answerable, "top1_with_code")
    message_only, n_msg = top1("message_only", answerable, "top1_message_only")
    cross_tool, n_cross = top1("message_only", crossing, "top1_cross_tool")

    def band(mode: str, name: str) -> tuple[float, int, int]:
        inside = [r for r in rows if answers[mode][r.qid].relevance >= threshold]
        wrong = [r for r in inside if answers[mode][r.qid].best not in r.truth]
        failures[name] = [failure(r, answers[mode][r.qid], mode, entries) for r in wrong]
        return share(len(inside) - len(wrong), len(inside)), len(inside), len(wrong)

    precision, n_band, wrong_band = band("with_code", "known_band_precision")
    precision_msg, n_band_msg, wrong_band_msg = band("message_only", "known_band_precision_message_only")
    covered = sum(answers["with_code"][r.qid].relevance >= threshold and answers["with_code"][r.qid].best in r.truth
                  for r in answerable)
    leaked = [r for r in unanswerable if answers["with_code"][r.qid].relevance >= threshold]
    leaked_msg = [r for r in unanswerable if answers["message_only"][r.qid].relevance >= threshold]
    weight = sum(r.count for r in answerable)
    weighted = share(sum(r.count for r in answerable if answers["message_only"][r.qid].best in r.truth), weight)
    bm25 = {r.qid: baseline.top1(r.message) for r in answerable}
    bm25_msg = share(sum(bm25[r.qid] in r.truth for r in answerable), len(answerable))
    bm25_cross = share(sum(bm25[r.qid] in r.truth for r in crossing), len(crossing))
    figures = [
        Figure("top1_with_code", "Top-1 accuracy, source+code given (answerable diagnostics)", "share", with_code,
               Target(">=", 0.995), n_code),
        Figure("top1_message_only", "Top-1 accuracy, message only (language given)", "share", message_only,
               Target(">=", 0.97), n_msg),
        Figure("top1_cross_tool", "Top-1 accuracy, message only, diagnostics with an equivalent entry of another tool",
               "share", cross_tool, Target(">=", 0.95), n_cross),
        Figure("known_band_precision", f"Precision of the known-fix band (best relevance >= {threshold:g}), "
               "source+code given", "share", precision, Target(">=", 0.99), n_band, {"wrong": wrong_band}),
        Figure("known_band_precision_message_only", f"Precision of the known-fix band (>= {threshold:g}), message only",
               "share", precision_msg, Target(">=", 0.99), n_band_msg, {"wrong": wrong_band_msg}),
        Figure("known_band_coverage", "Answerable diagnostics served a correct known fix (in the band), source+code given",
               "share", share(covered, len(answerable)), None, len(answerable)),
        Figure("unanswerable_in_band", "Diagnostics no entry answers whose best match still reaches the band "
               "(source+code given; message only in details)", "share", share(len(leaked), len(unanswerable)), None,
               len(unanswerable), {"message_only": round(share(len(leaked_msg), len(unanswerable)), 4),
                                   "count": len(leaked), "count_message_only": len(leaked_msg)}),
        Figure("top1_message_only_weighted", "Top-1 accuracy, message only, weighted by how often each message occurred",
               "share", weighted, None, weight),
        Figure("baseline_bm25_top1_message_only", "Baseline: plain BM25 over raw entry messages, top-1, message only",
               "share", bm25_msg, None, len(answerable)),
        Figure("baseline_bm25_top1_cross_tool", "Baseline: plain BM25, top-1, cross-tool diagnostics", "share",
               bm25_cross, None, len(crossing)),
    ]
    failures["unanswerable_in_band_message_only"] = [failure(r, answers["message_only"][r.qid], "message_only", entries)
                                                     for r in leaked_msg]
    causes = {name: dict(Counter(item["cause"] for item in items).most_common()) for name, items in failures.items()}
    per_tool = {}
    for tool in sorted({r.tool for r in rows}):
        mine = [r for r in rows if r.tool == tool]
        ans = [r for r in mine if r.truth]
        cx = [r for r in ans if cross(r)]
        per_tool[tool] = {
            "queries": len(mine), "answerable": len(ans), "cross_tool": len(cx),
            "top1_with_code": round(share(sum(answers["with_code"][r.qid].best in r.truth for r in ans), len(ans)), 4),
            "top1_message_only": round(share(sum(answers["message_only"][r.qid].best in r.truth for r in ans), len(ans)), 4),
            "top1_cross_tool": round(share(sum(answers["message_only"][r.qid].best in r.truth for r in cx), len(cx)), 4),
            "bm25_message_only": round(share(sum(bm25[r.qid] in r.truth for r in ans), len(ans)), 4),
            "wrong_in_band_with_code": sum(answers["with_code"][r.qid].relevance >= threshold
                                           and answers["with_code"][r.qid].best not in r.truth for r in mine),
            "wrong_in_band_message_only": sum(answers["message_only"][r.qid].relevance >= threshold
                                              and answers["message_only"][r.qid].best not in r.truth for r in mine),
        }
    return figures, {"per_tool": per_tool, "causes": causes, "cause_text": CAUSES, "failures": failures,
                     "counts": {"queries": len(rows), "answerable": len(answerable), "unanswerable": len(unanswerable),
                                "cross_tool": len(crossing)}}


# -- report -----------------------------------------------------------------------------------------


def fmt(figure: Figure) -> str:
    if figure.unit == "share":
        return f"{figure.value:.4f}"
    if figure.unit == "ms":
        return f"{figure.value:.2f} ms"
    return f"{figure.value:,.0f} {figure.unit}"


def markdown(figures: list[Figure], meta: dict[str, Any], extra: dict[str, Any]) -> str:
    out = ["# Retrieval benchmark: real diagnostics against the knowledge base", ""]
    c = extra["counts"]
    out.append(f"Run {meta['date']} · {meta['mode']} run · {meta['seconds']:.0f} s · Python {meta['python']} · "
               f"{meta['cpus']} CPUs · commit {meta['commit']}")
    out.append("")
    out.append(f"{c['queries']} diagnostics ({c['answerable']} answerable, {c['cross_tool']} of them cross-tool; "
               f"{c['unanswerable']} that no entry answers) from `{meta['corpus']}`; knowledge base of "
               f"{meta['knowledge']['entries']:,} entries (starter + ruff + rustc docs).")
    out += ["", "| figure | value | n | target | result |", "|---|---|---|---|---|"]
    for f in figures:
        result = "—" if f.target is None else ("pass" if f.target.met(f.value) else "**FAIL**")
        out.append(f"| {f.label} | {fmt(f)} | {f.n:,} | {f.target or '—'} | {result} |")
    judged = [f for f in figures if f.target is not None]
    passed = sum(f.target.met(f.value) for f in judged)
    out += ["", f"{passed} passed, {len(judged) - passed} failed, {len(figures) - len(judged)} without a target.", ""]
    out += ["## Per tool", "", ("| tool | queries | answerable | cross-tool | top-1 code | top-1 message | "
            "top-1 cross-tool | BM25 message | wrong in band (code / message) |"), "|---|---|---|---|---|---|---|---|---|"]
    for tool, s in extra["per_tool"].items():
        out.append(f"| {tool} | {s['queries']} | {s['answerable']} | {s['cross_tool']} | {s['top1_with_code']:.3f} | "
                   f"{s['top1_message_only']:.3f} | {s['top1_cross_tool']:.3f} | {s['bm25_message_only']:.3f} | "
                   f"{s['wrong_in_band_with_code']} / {s['wrong_in_band_message_only']} |")
    out += ["", "## Why queries fail", "", "| cause | " + " | ".join(extra["causes"]) + " |",
            "|---|" + "---|" * len(extra["causes"])]
    for key, text in extra["cause_text"].items():
        counts = [str(extra["causes"][name].get(key, "")) for name in extra["causes"]]
        if any(counts):
            out.append(f"| {key}: {text} | " + " | ".join(counts) + " |")
    out += ["", "## Failing queries", "",
            (f"Up to {EXAMPLES} per figure (all of them are in the JSON); `got` is the best match, with its calibrated "
            "relevance and how it was found (key, fingerprint or search)."), ""]
    for name, items in extra["failures"].items():
        if not items:
            continue
        out += [f"### {name} ({len(items)})", "", "| qid | message | expected | got | relevance | via | cause |",
                "|---|---|---|---|---|---|---|"]
        for item in items[:EXAMPLES]:
            message = item["message"].split("\n", 1)[0].replace("|", "\\|")
            message = message[:90] + ("…" if len(message) > 90 else "")
            expected = ", ".join(item["expected"][:3]) + (" …" if len(item["expected"]) > 3 else "") or "(none)"
            out.append(f"| {item['qid']} | {message} | {expected} | {item['got']} | {item['relevance']:.3f} | "
                       f"{item['via']} | {item['cause']} |")
        out.append("")
    out += ["## How it is measured", "", __doc__.split("\n\n", 1)[1].split("\n\nWrites", 1)[0].strip(), ""]
    return "\n".join(out)


def dump(document: dict[str, Any]) -> str:
    """JSON with one failing query a line: readable, diffable and a fraction of the indented size."""
    parts = []
    for key, value in document.items():
        if key == "failures":
            lists = [f'  {json.dumps(name)}: [' + ",".join("\n   " + json.dumps(item, ensure_ascii=False) for item in items)
                     + ("\n  ]" if items else "]") for name, items in value.items()]
            parts.append(' "failures": {\n' + ",\n".join(lists) + "\n }")
        else:
            parts.append(f" {json.dumps(key)}: " + json.dumps(value, indent=1, ensure_ascii=False).replace("\n", "\n "))
    return "{\n" + ",\n".join(parts) + "\n}\n"


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "hybrid_lsp"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("+changes" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.retrieval", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small subset and 3,000 entries (smoke run)")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"where to write retrieval.json/.md (default {RESULTS})")
    parser.add_argument("--large", type=int, help=f"entries for the large-store latency (default {LARGE:,}; quick {QUICK_LARGE:,})")
    args = parser.parse_args(argv)
    for name in list(os.environ):  # measure the defaults, not the caller's configuration
        if name.startswith(("HYBRID_LSP_", "ANTHROPIC_", "OLLAMA_")):
            del os.environ[name]
    started = time.monotonic()
    rows = load_corpus(args.corpus)
    if args.quick:
        rows = quick_subset(rows)
    large = args.large or (QUICK_LARGE if args.quick else LARGE)
    work = Path(tempfile.mkdtemp(prefix="hybrid-lsp-retrieval-"))
    try:
        log(f"building the knowledge base in {work}")
        pipeline, knowledge = build_knowledge(work / "kb")
        try:
            exported = pipeline.knowledge.export()
            entries = {e.id: e for e in exported}
            stale = sorted({t for row in rows for t in row.truth if t not in entries})
            if stale:
                log(f"warning: the corpus names {len(stale)} entries the knowledge base lacks ({', '.join(stale[:5])}…); "
                    "a tool's docs were not imported, or the labels predate the knowledge base (`scripts/build_corpus.py --label`)")
            threshold = pipeline.settings.routing.known_threshold
            log(f"searching {len(rows)} diagnostics twice (with source+code, message only)")
            answers = evaluate(pipeline, rows)
            baseline = PlainBm25([(e.id, e.error) for e in exported])
            figures, extra = measure_retrieval(rows, answers, entries, threshold, baseline)
            log("timing searches at the corpus knowledge base's size")
            small = latency(pipeline, rows, True)
            small_msg = latency(pipeline, rows, False)
            log(f"adding synthetic entries up to {large:,}")
            filled = add_filler(pipeline, large)
            log("building the search index, as `kb import` does after a bulk import")
            started = time.perf_counter()
            pipeline.store.optimize()
            filled["index_seconds"] = round(time.perf_counter() - started, 1)
            log(f"timing searches at {filled['entries']:,} entries")
            first = latency(pipeline, rows, True, warmup=0)
            big = latency(pipeline, rows, True)
            big_msg = latency(pipeline, rows, False)
        finally:
            pipeline.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    size = f"{filled['entries']:,} entries"
    figures += [
        Figure("search_corpus_p50", f"ErrorQuery + embedding + KnowledgeBase.search p50, {knowledge['entries']:,} entries "
               "(source+code; message only in details)", "ms", small["p50"], None, small["n"],
               {"with_code": small, "message_only": small_msg}),
        Figure("search_corpus_p99", f"… p99, {knowledge['entries']:,} entries", "ms", small["p99"], None, small["n"],
               {"with_code": small, "message_only": small_msg}),
        Figure("search_100k_p50", f"ErrorQuery + embedding + KnowledgeBase.search p50, {size}", "ms", big["p50"],
               Target("<=", 2.0), big["n"], {"with_code": big, "message_only": big_msg}),
        Figure("search_100k_p99", f"… p99, {size}", "ms", big["p99"], Target("<=", 10.0), big["n"],
               {"with_code": big, "message_only": big_msg}),
        Figure("search_100k_first_pass_p99", f"… p99 of the first pass just after the index build, {size} "
               "(store pages still being read ahead)", "ms", first["p99"], None, first["n"], {"with_code": first}),
        Figure("import_rate", f"Import throughput through KnowledgeBase.add ({filled['filler']:,} synthetic entries, "
               f"batches of {BATCH})", "entries/s", filled["rate"], Target(">=", 5000.0), filled["filler"], filled),
    ]
    assert [f.key for f in figures] == list(FIGURES), [f.key for f in figures]
    corpus_meta = args.corpus.with_name("corpus-meta.json")
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "mode": "quick" if args.quick else "full",
        "seconds": round(time.monotonic() - started, 1), "python": sys.version.split()[0], "cpus": os.cpu_count(),
        "commit": git_commit(), "corpus": str(args.corpus.relative_to(ROOT) if args.corpus.is_relative_to(ROOT) else args.corpus),
        "corpus_tools": json.loads(corpus_meta.read_text()).get("tools") if corpus_meta.exists() else None,
        "knowledge": knowledge, "known_threshold": threshold, "stale_truth_ids": stale,
    }
    document = {"meta": meta, "figures": [f.to_json() for f in figures], **extra}
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in (("retrieval.json", dump(document)),
                       ("retrieval.md", markdown(figures, meta, extra))):
        tmp = args.out / (name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(args.out / name)
    width = max(len(f.label) for f in figures)
    for f in figures:
        result = "" if f.target is None else ("pass" if f.target.met(f.value) else "FAIL")
        print(f"{f.label[:width]:<{width}}  {fmt(f):>16}  {f.target or ''!s:>10}  {result}")
    print(f"wrote {args.out / 'retrieval.json'} and {args.out / 'retrieval.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
