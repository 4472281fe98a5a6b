"""The load benchmark runs end to end for a few seconds against the real server and the loopback
model server, reports every window, and nothing it sends goes unanswered. Timing is not judged here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(90)
def test_a_short_load_run_answers_every_request(tmp_path: Path):
    result = subprocess.run([sys.executable, "-m", "benchmarks.load", "--seconds", "3", "--out", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=80, check=False)
    # Exit status 1 means a verdict failed (timing on a busy machine may); a crash writes no results.
    assert result.returncode in (0, 1), result.stderr[-3000:]
    assert (tmp_path / "load.json").exists(), result.stderr[-3000:]

    report = json.loads((tmp_path / "load.json").read_text())
    assert set(report) >= {"meta", "windows", "overall", "verdicts", "pass"}
    assert report["meta"]["config"]["seconds"] == 3 and report["meta"]["config"]["rate"] == 200

    windows = report["windows"]
    assert len(windows) == 3
    for window in windows:
        assert window["sent"] > 0 and window["answered"] == window["sent"], window
        assert window["errors"] == 0, window
        for kind in ("codeAction", "hover"):
            assert window[kind]["n"] > 0 and isinstance(window[kind]["p99_ms"], (int, float)), window
        assert isinstance(window["rss_mb"], (int, float)) and window["rss_mb"] > 0, window
        assert isinstance(window["outstanding_end"], int), window

    overall = report["overall"]
    assert overall["requests"] == sum(w["sent"] for w in windows) == 600
    assert overall["dropped"] == 0 and overall["errors"] == 0
    assert overall["answered"] == overall["requests"]
    # The resolves streamed from the slow model server on the local route, each with an edit.
    assert overall["resolves_completed"] >= 3
    assert overall["resolves_dropped"] == 0 and overall["resolve_errors"] == 0
    assert overall["resolves_without_edit"] == 0
    assert overall["routes_recorded"]["local"] >= overall["resolves_completed"]
    assert overall["resolve_p50_ms"] > 1000  # the model server's chunks really were slow

    verdicts = {v["check"]: v for v in report["verdicts"]}
    assert verdicts["no dropped responses"]["pass"] is True
    assert all(isinstance(v["pass"], bool) for v in verdicts.values())
    assert report["pass"] == all(v["pass"] for v in verdicts.values())
    assert result.returncode == (0 if report["pass"] else 1)

    table = (tmp_path / "load.md").read_text()
    assert "| window | sent | answered |" in table and "| check | value | bound | result |" in table
    assert "## How it is measured" in table
