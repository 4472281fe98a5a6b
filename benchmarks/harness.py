"""Timing, figures and targets, and the two result files (JSON for tools, Markdown for people).

A figure is one number with the reference it was measured against in the same run, so a slower
or faster machine moves both and the ratio stays meaningful. Targets are checked here, once.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def now_ns() -> int:
    return time.perf_counter_ns()


def ms_since(start_ns: int) -> float:
    return (time.perf_counter_ns() - start_ns) / 1e6


@dataclass(frozen=True, slots=True)
class Samples:
    """Latencies in milliseconds (or any unit) with the percentiles the targets speak of."""

    values: tuple[float, ...]

    @staticmethod
    def of(values: Iterable[float]) -> Samples:
        return Samples(tuple(values))

    def percentile(self, p: int) -> float:
        if len(self.values) == 1:
            return self.values[0]
        # Inclusive method: p0 is the minimum and p100 the maximum of what was measured.
        return statistics.quantiles(self.values, n=100, method="inclusive")[p - 1]

    @property
    def p50(self) -> float:
        return statistics.median(self.values)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    def summary(self) -> dict[str, float]:
        return {"n": len(self.values), "p50": round(self.p50, 4), "p90": round(self.percentile(90), 4),
                "p99": round(self.p99, 4), "min": round(min(self.values), 4), "max": round(max(self.values), 4),
                "mean": round(statistics.fmean(self.values), 4)}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = now_ns()
    result = fn()
    return ms_since(start), result


@dataclass(frozen=True, slots=True)
class Target:
    """`of` is "value" or "ratio"; `op` is "<=" or ">="."""

    of: str
    op: str
    limit: float
    unit: str = ""

    def met(self, value: float, ratio: float | None) -> bool | None:
        subject = value if self.of == "value" else ratio
        if subject is None:
            return None
        return subject <= self.limit if self.op == "<=" else subject >= self.limit

    def __str__(self) -> str:
        subject = "ratio" if self.of == "ratio" else ""
        unit = f" {self.unit}" if self.unit and self.of == "value" else ""
        return f"{subject} {self.op} {self.limit:g}{unit}".strip()


@dataclass(slots=True)
class Figure:
    key: str
    label: str
    unit: str
    value: float
    reference: float | None = None
    reference_label: str = ""
    target: Target | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.reference is None or self.reference == 0:
            return None
        return self.value / self.reference

    @property
    def passed(self) -> bool | None:
        return None if self.target is None else self.target.met(self.value, self.ratio)

    def to_json(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "key": self.key, "label": self.label, "unit": self.unit, "value": _round(self.value),
            "reference": _round(self.reference), "reference_label": self.reference_label,
            "ratio": _round(ratio), "target": asdict(self.target) | {"text": str(self.target)} if self.target else None,
            "pass": self.passed, "details": self.details,
        }


def _round(value: float | None) -> float | None:
    if value is None:
        return None
    return round(value, 4) if abs(value) < 1000 else round(value, 1)


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "load_average_at_start": [round(x, 2) for x in load] if load else None}


def write_results(out_dir: Path, figures: list[Figure], meta: dict[str, Any], profiles: dict[str, Any]) -> tuple[Path, Path]:
    """Both files are written next to themselves first and renamed, so a reader never sees half."""
    out_dir.mkdir(parents=True, exist_ok=True)
    document = {"meta": meta, "figures": [f.to_json() for f in figures], "profiles": profiles}
    json_path = out_dir / "latest.json"
    md_path = out_dir / "latest.md"
    _atomic_write(json_path, json.dumps(document, indent=2) + "\n")
    _atomic_write(md_path, markdown(figures, meta, profiles))
    return json_path, md_path


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif abs(value) >= 100:
        text = f"{value:.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3f}"
    return f"{text} {unit}".strip()


def markdown(figures: list[Figure], meta: dict[str, Any], profiles: dict[str, Any]) -> str:
    lines = [
        "# hybrid-lsp benchmarks",
        "",
        (f"Run {meta.get('started')} · {'quick run' if meta.get('quick') else 'full run'} · "
         f"{meta.get('duration_s', 0):.0f} s · Python {meta['machine']['python']} · {meta['machine']['cpus']} CPUs · "
         f"commit {meta.get('commit') or 'unknown'}"),
        "",
        ("Every value is measured in the same run as its reference; ratio = value / reference. "
         f"Load average (1, 5, 15 min) at start {meta['machine'].get('load_average_at_start')}, "
         f"at end {meta['machine'].get('load_average_at_end')}: other work on this machine moves absolute "
         "figures, fsync-bound ones most."),
        "",
        "| figure | value | reference | ratio | target | result |",
        "|---|---|---|---|---|---|",
    ]
    for f in figures:
        ref = f"{_number(f.reference, f.unit)} ({f.reference_label})" if f.reference is not None else "—"
        ratio = f"{f.ratio:.2f}" if f.ratio is not None else "—"
        result = {True: "pass", False: "**FAIL**", None: "—"}[f.passed]
        lines.append(f"| {f.label} | {_number(f.value, f.unit)} | {ref} | {ratio} | {f.target or '—'} | {result} |")
    failed = [f for f in figures if f.passed is False]
    lines += ["", (f"{sum(f.passed is True for f in figures)} passed, {len(failed)} failed, "
                   f"{sum(f.passed is None for f in figures)} without a target.")]
    notes = meta.get("notes") or []
    if notes:
        lines += ["", "## How each figure is measured", ""] + [f"- {n}" for n in notes]
    failed_keys = {f.key for f in failed}
    shown = {key: p for key, p in profiles.items() if failed_keys & set(p.get("figures", [])) or not p.get("figures")}
    if shown:
        lines += ["", "## Profiles of missed targets", ""]
        for key, profile in shown.items():
            lines += [f"### {key}", "", profile.get("what", ""), ""] + _profile_lines(profile)
    return "\n".join(lines) + "\n"


def _profile_lines(profile: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if "phases_s" in profile:
        lines += ["Phases: " + ", ".join(f"{k} {v:.3f} s" for k, v in profile["phases_s"].items()), ""]
    if profile.get("slowest_imports"):
        lines += ["Import time by package: " + ", ".join(
            f"{r['package']} {r['seconds']:.3f} s ({r['share']:.0%})" for r in profile["slowest_imports"][:6]), ""]
    if "before" in profile and "after" in profile:
        b, a = profile["before"], profile["after"]
        lines += [(f"Before: p50 {b['p50']:.2f} ms, p99 {b['p99']:.2f} ms. After optimize() "
                   f"({profile.get('optimize_seconds')} s): p50 {a['p50']:.2f} ms, p99 {a['p99']:.2f} ms."), ""]
    if "rss_after_initialize_mb" in profile:
        lines += [(f"RSS after initialize: {profile['rss_after_initialize_mb']:.0f} MB; "
                   f"after the bursts: {profile.get('rss_mb', 0):.0f} MB."), ""]
    rows = profile.get("top", [])
    if rows and "function" in rows[0]:
        lines += [f"Busy samples: {profile.get('busy_samples')}.", "",
                  "| inclusive | self | function |", "|---|---|---|"]
        lines += [f"| {r['inclusive']:.0%} | {r['self']:.0%} | `{r['function']}` |" for r in rows]
        lines.append("")
    elif rows and "mapping" in rows[0]:
        lines += ["| RSS | share | mapping |", "|---|---|---|"]
        lines += [f"| {r['rss_mb']:.0f} MB | {r['share']:.0%} | {r['mapping']} |" for r in rows]
        lines.append("")
    if profile.get("hottest_lines"):
        lines += ["Hottest lines (self): " + ", ".join(
            f"`{r['line']}` {r['self']:.0%}" for r in profile["hottest_lines"][:5]), ""]
    if profile.get("error"):
        lines += [f"Profiler: {profile['error']}", ""]
    return lines


def commit() -> str:
    """The commit measured, marked "+changes" when hybrid_lsp/ differs from it (read-only git calls)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).resolve().parent.parent, capture_output=True,
                              text=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--", "hybrid_lsp"], cwd=Path(__file__).resolve().parent.parent,
                                 capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("+changes" if changed else "")
