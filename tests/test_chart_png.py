"""`hybrid-lsp stats --chart FILE.png`: the chart drawn by matplotlib, from a real history."""

from __future__ import annotations

import html

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, run_cli
from matplotlib.image import imread

from hybrid_lsp import chart
from hybrid_lsp.cli import main
from hybrid_lsp.config import Settings
from hybrid_lsp.history import Interaction
from hybrid_lsp.pipeline import Pipeline

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ROUTE_RGB = {route: tuple(int(color[i:i + 2], 16) for i in (1, 3, 5)) for route, color in chart.COLORS.items()}


def record_history(data_dir: Path, routes_by_day: dict[int, list[str]]) -> None:
    """Interactions stored through the real pipeline, `days ago -> routes answered that day`."""
    pipeline = Pipeline(data_dir, Settings(), starter=False)
    try:
        now = time.time()
        for days_ago, routes in routes_by_day.items():
            for n, route in enumerate(routes):
                pipeline.history.record(Interaction(
                    kind="fix", query=f"Undefined name `x{n}`", fingerprint=f"f{days_ago}-{n}", route=route,
                    relevance=0.8, complexity=2, reason="", prompt_tokens=300 if route == "remote" else 0,
                    completion_tokens=80 if route == "remote" else 0, saved_prompt_tokens=0 if route == "remote" else 250,
                    ts=now - days_ago * 86400))
    finally:
        pipeline.close()


def pixels(path: Path) -> np.ndarray:
    image = imread(path)  # floats in [0, 1], RGBA
    return np.rint(image[..., :3] * 255).astype(np.uint8)


def has_color(image: np.ndarray, rgb: tuple[int, int, int]) -> bool:
    return bool(np.all(image == np.array(rgb, dtype=np.uint8), axis=-1).any())


@pytest.fixture
def history_env(env: dict[str, str]) -> dict[str, str]:
    env["HYBRID_LSP_NO_STARTER"] = "1"
    record_history(Path(env["HYBRID_LSP_DATA_DIR"]), {2: ["known", "known", "local"], 1: ["local", "remote"],
                                                      0: ["known", "local", "local", "remote"]})
    return env


def test_stats_chart_png_draws_every_route_from_the_recorded_history(history_env, tmp_path: Path):
    out = tmp_path / "charts" / "stats.png"
    out.parent.mkdir()
    result = run_cli(history_env, "stats", "--chart", str(out))
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stderr and "interactions: 9" in result.stdout
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    image = pixels(out)
    assert image.shape == (360, 720, 3)
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 10  # not a blank, single-colour image
    for route, rgb in ROUTE_RGB.items():
        assert has_color(image, rgb), f"no {route} bar in the chart"
    assert sorted(p.name for p in out.parent.iterdir()) == ["stats.png"]  # no temporary file left behind


def test_a_route_never_taken_has_no_bar(env, tmp_path: Path):
    env["HYBRID_LSP_NO_STARTER"] = "1"
    record_history(Path(env["HYBRID_LSP_DATA_DIR"]), {0: ["known", "known", "local"]})
    out = tmp_path / "STATS.PNG"  # the suffix is not case-sensitive
    result = run_cli(env, "stats", "--json", "--chart", str(out))
    assert result.returncode == 0, result.stderr
    image = pixels(out)
    # The legend holds a patch of each colour; the remote one is its only red.
    red = np.all(image == np.array(ROUTE_RGB["remote"], dtype=np.uint8), axis=-1).sum()
    green = np.all(image == np.array(ROUTE_RGB["known"], dtype=np.uint8), axis=-1).sum()
    assert green > 20 * red > 0


def test_png_and_svg_draw_the_same_figures():
    stats = {"share_without_remote": 0.75, "tokens": {"saved": 1200},
             "days": [{"day": "2026-11-23", "known": 2, "local": 1, "remote": 1, "remote_tokens": 500, "saved_tokens": 900}]}
    figures = chart.figures(stats)
    assert figures.title in chart.svg(stats)
    assert figures.labels == ["11-23"] and figures.top == 4
    assert figures.counts == {"known": [2], "local": [1], "remote": [1]}
    assert chart.png(stats).startswith(PNG_SIGNATURE)
    assert chart.figures({**stats, "days": []}).labels == ["no data"]


@pytest.mark.parametrize("name", ["stats.pdf", "stats"])
def test_an_unknown_suffix_is_refused_with_the_allowed_ones(env, tmp_path: Path, name: str):
    out = tmp_path / name
    result = run_cli(env, "stats", "--chart", str(out))
    assert result.returncode == 2
    assert ".png, .svg or .html" in result.stderr
    assert (".pdf" if name.endswith(".pdf") else "without a suffix") in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_without_matplotlib_png_is_refused_in_one_line_and_nothing_is_written(monkeypatch, capsys, tmp_path: Path):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)  # `import matplotlib...` now raises ImportError
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "stats.png"
    code = main(["--data-dir", str(tmp_path / "data"), "--no-starter", "stats", "--chart", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "pip install 'hybrid-lsp[chart]'" in err and ".svg" in err and ".html" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []  # not even the store was opened
    # SVG and HTML need no plotting library.
    stats = {"share_without_remote": None, "tokens": {"saved": 0}, "days": []}
    chart.write_chart(stats, tmp_path / "stats.svg")
    assert (tmp_path / "stats.svg").read_text().startswith("<svg")


def test_a_failed_write_keeps_the_previous_chart_and_leaves_no_partial_file(monkeypatch, tmp_path: Path):
    out = tmp_path / "stats.png"
    out.write_bytes(b"previous chart")
    stats = {"share_without_remote": 1.0, "tokens": {"saved": 10},
             "days": [{"day": "2026-11-23", "known": 1, "local": 0, "remote": 0, "remote_tokens": 0, "saved_tokens": 10}]}

    def fail(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(chart.os, "replace", fail)
    with pytest.raises(chart.ChartError, match="No space left on device"):
        chart.write_chart(stats, out)
    assert out.read_bytes() == b"previous chart"
    assert [p.name for p in tmp_path.iterdir()] == ["stats.png"]
    monkeypatch.undo()
    chart.write_chart(stats, out)
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    assert [p.name for p in tmp_path.iterdir()] == ["stats.png"]


def test_the_language_server_does_not_load_matplotlib():
    code = "import sys, hybrid_lsp.server, hybrid_lsp.cli, hybrid_lsp.chart; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_chart_states_accept_rates_relevance_and_tokens_from_the_history(tmp_path: Path):
    pipeline = Pipeline(tmp_path / "data", Settings(), starter=False)
    try:
        ids = {}
        for route, tokens in (("known", 0), ("local", 0), ("local", 0), ("remote", 380)):
            ids.setdefault(route, []).append(pipeline.history.record(Interaction(
                kind="fix", query="Undefined name `x`", fingerprint="f", route=route, relevance=0.8 if route == "local" else 0.9,
                complexity=2, reason="", prompt_tokens=tokens, completion_tokens=0,
                saved_prompt_tokens=250 if route != "remote" else 0, model="claude-sonnet-5-5" if tokens else "")))
        pipeline.learning.record(ids["local"][0], "accepted")
        pipeline.learning.record(ids["local"][1], "rejected")
        pipeline.learning.record(ids["remote"][0], "accepted")
        stats = pipeline.stats()
    finally:
        pipeline.close()
    lines = chart.summary(stats)
    assert lines[0] == "accept rate: known - · local 50% · remote 100%"
    assert lines[1].startswith("average local relevance 0.80 (target 0.75) · without remote 75% (target 70%)")
    assert lines[2].startswith("tokens: 380 remote, 0 local, 750 saved")
    drawing = chart.svg(stats)
    assert all(html.escape(line) in drawing for line in lines)
    assert chart.png(stats).startswith(PNG_SIGNATURE)
