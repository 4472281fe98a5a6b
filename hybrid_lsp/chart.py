"""`hybrid-lsp stats --chart`: answers per route and day, under the period's accept rate per route,
average local relevance, tokens and cost, as a self-contained SVG (or an HTML page holding it), or
as a PNG drawn with matplotlib (the optional `chart` extra). What is drawn is worked out once, in
`figures`; each format only renders it."""

from __future__ import annotations

import html
import io
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

COLORS = {"known": "#2e7d32", "local": "#1565c0", "remote": "#c62828"}
ROUTES = ("known", "local", "remote")
FORMATS = (".png", ".svg", ".html", ".htm")
_EMPTY_DAY = {"day": "no data", "known": 0, "local": 0, "remote": 0, "remote_tokens": 0, "saved_tokens": 0}


class ChartError(Exception):
    """The chart cannot be written; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Figures:
    title: str
    days: list[str]
    labels: list[str]
    counts: dict[str, list[int]]  # route -> answers per day, in the order of `days`
    top: int  # the largest number of answers in a day, at least 1
    summary: list[str]  # the period's accept rates, relevance and tokens, one line each


def figures(stats: dict[str, Any]) -> Figures:
    days = stats["days"] or [_EMPTY_DAY]
    return Figures(
        title=f"Answers per day by route (share without remote: {_pct(stats.get('share_without_remote'))}, "
              f"tokens saved: {stats['tokens']['saved']})",
        days=[d["day"] for d in days],
        labels=[_label(d["day"]) for d in days],
        counts={route: [d[route] for d in days] for route in ROUTES},
        top=max(1, max(sum(d[route] for route in ROUTES) for d in days)),
        summary=summary(stats),
    )


def summary(stats: dict[str, Any]) -> list[str]:
    """What the bars do not show: how good each route's answers were and what they cost."""
    accept = stats.get("accept_rate_by_route") or {}
    targets = stats.get("targets") or {}
    relevance = stats.get("average_local_relevance")
    tokens, cost = stats.get("tokens") or {}, stats.get("cost_usd") or {}
    return [
        "accept rate: " + " · ".join(f"{route} {_pct(accept.get(route))}" for route in ROUTES),
        f"average local relevance {'-' if relevance is None else f'{relevance:.2f}'} "
        f"(target {targets.get('average_local_relevance', 0.75):.2f}) · without remote "
        f"{_pct(stats.get('share_without_remote'))} (target {_pct(targets.get('share_without_remote', 0.7))})",
        f"tokens: {tokens.get('remote', 0):,} remote, {tokens.get('local', 0):,} local, {tokens.get('saved', 0):,} saved · "
        f"cost ${cost.get('remote', 0):.2f}, saved ${cost.get('saved', 0):.2f}",
    ]


def svg(stats: dict[str, Any], width: int = 720, height: int = 360) -> str:
    data = figures(stats)
    left, bottom, plot_h = 50, height - 60, height - 140
    bar = max(4, min(40, (width - left - 20) // len(data.days) - 6))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
             f'<text x="{left}" y="20" font-size="14">{html.escape(data.title)}</text>',
             *(f'<text x="{left}" y="{38 + 14 * n}" fill="#444">{html.escape(line)}</text>'
               for n, line in enumerate(data.summary)),
             f'<line x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}" stroke="#444"/>',
             f'<text x="{left - 8}" y="{bottom - plot_h}" text-anchor="end">{data.top}</text>',
             f'<text x="{left - 8}" y="{bottom}" text-anchor="end">0</text>']
    for index, (day, label) in enumerate(zip(data.days, data.labels, strict=True)):
        x = left + 6 + index * (bar + 6)
        y = bottom
        for route in ROUTES:
            count = data.counts[route][index]
            h = count / data.top * plot_h
            if h:
                y -= h
                parts.append(f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" fill="{COLORS[route]}">'
                             f'<title>{html.escape(day)}: {count} {route}</title></rect>')
        parts.append(f'<text x="{x + bar / 2}" y="{bottom + 14}" text-anchor="middle">{html.escape(label)}</text>')
    for index, route in enumerate(ROUTES):
        x = left + index * 90
        parts.append(f'<rect x="{x}" y="{height - 25}" width="12" height="12" fill="{COLORS[route]}"/>'
                     f'<text x="{x + 16}" y="{height - 15}">{route}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def png(stats: dict[str, Any], width: int = 720, height: int = 360) -> bytes:
    """The same chart as `svg`, drawn by matplotlib's Agg renderer (no display needed)."""
    Figure, FigureCanvasAgg, MaxNLocator = _matplotlib()
    data = figures(stats)
    figure = Figure(figsize=(width / 100, height / 100), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(data.days)))
    stacked = [0] * len(positions)
    for route in ROUTES:
        counts = data.counts[route]
        axes.bar(positions, counts, bottom=stacked, color=COLORS[route], label=route, width=0.7)
        stacked = [below + count for below, count in zip(stacked, counts, strict=True)]
    # "$" would start matplotlib's math mode: the cost figures are plain text.
    axes.set_title("\n".join([data.title, *data.summary]).replace("$", r"\$"), loc="left", fontsize=9)
    crowded = len(positions) > 12
    axes.set_xticks(positions, data.labels, fontsize=8, rotation=60 if crowded else 0, ha="right" if crowded else "center")
    axes.set_xlim(-0.6, max(len(positions), 6) - 0.4)  # a day or two stay bars, not walls
    axes.set_ylim(0, data.top)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 if not crowded else -0.22), ncol=len(ROUTES),
                frameon=False, fontsize=9)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _matplotlib():
    # Imported here, not at module level: only `stats --chart FILE.png` pays for matplotlib.
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise ChartError("--chart FILE.png needs matplotlib: pip install 'hybrid-lsp[chart]', "
                         "or write a .svg or .html chart instead") from None
    return Figure, FigureCanvasAgg, MaxNLocator


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _label(day: str) -> str:
    return day[5:] if len(day) == 10 and day[4] == "-" else day  # 2026-11-23 -> 11-23


def check_chart_path(path: Path) -> str:
    """The format to write `path` in; raises ChartError before any work is done if it cannot be."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ChartError(f"--chart writes .png, .svg or .html files, not {suffix or 'files without a suffix'}")
    if suffix == ".png":
        _matplotlib()
    return suffix


def write_chart(stats: dict[str, Any], path: Path) -> None:
    """Renders in full, then replaces `path` in one step: a failure leaves no partial file."""
    suffix = check_chart_path(path)
    if suffix == ".png":
        data = png(stats)
    elif suffix == ".svg":
        data = svg(stats).encode("utf-8")
    else:
        data = f"<!doctype html><meta charset=utf-8><title>hybrid-lsp stats</title>\n{svg(stats)}\n".encode()
    try:
        _write_atomically(path, data)
    except OSError as exc:
        raise ChartError(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_atomically(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        # Created like any new file (mode 0666 less the umask), beside its target so the
        # replace stays on one file system.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
