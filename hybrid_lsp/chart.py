"""`hybrid-lsp stats --chart`: answers per route and remote tokens per day, as a self-contained SVG
(or an HTML page holding it). No plotting library needed."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

COLORS = {"known": "#2e7d32", "local": "#1565c0", "remote": "#c62828"}


def svg(stats: dict[str, Any], width: int = 720, height: int = 320) -> str:
    days = stats["days"] or [{"day": "no data", "known": 0, "local": 0, "remote": 0, "remote_tokens": 0, "saved_tokens": 0}]
    top = max(1, max(d["known"] + d["local"] + d["remote"] for d in days))
    left, bottom, plot_h = 50, height - 60, height - 100
    bar = max(4, min(40, (width - left - 20) // len(days) - 6))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
             f'<text x="{left}" y="20" font-size="14">Answers per day by route (share without remote: '
             f'{html.escape(_pct(stats.get("share_without_remote")))}, tokens saved: {stats["tokens"]["saved"]})</text>',
             f'<line x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}" stroke="#444"/>',
             f'<text x="{left - 8}" y="{bottom - plot_h}" text-anchor="end">{top}</text>',
             f'<text x="{left - 8}" y="{bottom}" text-anchor="end">0</text>']
    for index, day in enumerate(days):
        x = left + 6 + index * (bar + 6)
        y = bottom
        for route in ("known", "local", "remote"):
            h = day[route] / top * plot_h
            if h:
                y -= h
                parts.append(f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" fill="{COLORS[route]}">'
                             f'<title>{day["day"]}: {day[route]} {route}</title></rect>')
        parts.append(f'<text x="{x + bar / 2}" y="{bottom + 14}" text-anchor="middle">{html.escape(day["day"][5:])}</text>')
    for index, route in enumerate(("known", "local", "remote")):
        x = left + index * 90
        parts.append(f'<rect x="{x}" y="{height - 25}" width="12" height="12" fill="{COLORS[route]}"/>'
                     f'<text x="{x + 16}" y="{height - 15}">{route}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def write_chart(stats: dict[str, Any], path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix == ".svg":
        path.write_text(svg(stats), encoding="utf-8")
    elif suffix in (".html", ".htm"):
        path.write_text(f"<!doctype html><meta charset=utf-8><title>hybrid-lsp stats</title>\n{svg(stats)}\n", encoding="utf-8")
    else:
        raise SystemExit(f"hybrid-lsp: --chart writes .html or .svg files, not {suffix or 'files without a suffix'}")
