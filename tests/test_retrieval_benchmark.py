"""The retrieval benchmark runs end to end on a small subset and reports every figure as a number.

Values are not judged here: the benchmark's targets are measurements, not test assertions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.retrieval import FIGURES

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "benchmarks" / "retrieval" / "data" / "corpus.jsonl"


def test_the_corpus_rows_have_the_documented_fields():
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert rows
    assert len({row["qid"] for row in rows}) == len(rows)
    for row in rows:
        assert set(row) == {"qid", "tool", "source", "code", "message", "language", "file", "count", "truth"}, row["qid"]
        assert row["message"] and isinstance(row["count"], int) and row["count"] >= 1, row["qid"]
        assert isinstance(row["truth"], list) and all(isinstance(t, str) for t in row["truth"]), row["qid"]


@pytest.mark.timeout(300)
def test_quick_run_reports_every_figure_with_a_number(tmp_path: Path):
    result = subprocess.run([sys.executable, "-m", "benchmarks.retrieval", "--quick", "--out", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=280, check=False)
    assert result.returncode == 0, result.stderr[-3000:]

    report = json.loads((tmp_path / "retrieval.json").read_text())
    figures = {figure["key"]: figure for figure in report["figures"]}
    assert list(figures) == list(FIGURES)
    for key, figure in figures.items():
        assert isinstance(figure["value"], (int, float)) and not isinstance(figure["value"], bool), key
        assert figure["value"] == figure["value"], f"{key} is NaN"
        assert figure["pass"] in (True, False, None), key
    assert report["counts"]["queries"] > 0
    table = (tmp_path / "retrieval.md").read_text()
    assert "| figure | value | n | target | result |" in table
    assert all(figure["label"] in table for figure in figures.values())
