"""The benchmark suite runs end to end and reports every figure; timing is not judged here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import FIGURES

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(600)
def test_quick_run_reports_every_figure_with_a_number(tmp_path: Path):
    result = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--out", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=580, check=False)
    assert result.returncode == 0, result.stderr[-3000:]

    report = json.loads((tmp_path / "latest.json").read_text())
    figures = {figure["key"]: figure for figure in report["figures"]}
    assert set(figures) == set(FIGURES)
    for key, figure in figures.items():
        assert isinstance(figure["value"], (int, float)), f"{key} has no numeric value: {figure['value']!r}"
        assert figure["reference"] is None or isinstance(figure["reference"], (int, float)), key
        assert figure["pass"] in (True, False, None), key
    table = (tmp_path / "latest.md").read_text()
    assert "| figure | value | reference | ratio | target | result |" in table
    assert all(figure["label"] in table for figure in figures.values())
