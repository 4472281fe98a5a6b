"""Crashes and damage: nothing acknowledged is lost, nothing is half-imported, damage is repairable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT, run_cli
from hybrid_lsp.journal import EntryJournal


def big_import(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "big.jsonl"
    with path.open("w") as fh:
        for n in range(count):
            fh.write(json.dumps({"id": f"bulk:{n}", "error": f"synthetic error number {n} in module_{n % 97}",
                                 "solution": f"Fix number {n}."}) + "\n")
    return path


def test_an_import_killed_midway_is_completed_at_the_next_start(env, tmp_path: Path):
    env["HYBRID_LSP_NO_STARTER"] = "1"
    path = big_import(tmp_path, 6000)
    process = subprocess.Popen([sys.executable, "-m", "hybrid_lsp", "kb", "import", str(path)], env=env, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    journal = Path(env["HYBRID_LSP_DATA_DIR"]) / "entries.jsonl"
    deadline = time.monotonic() + 60
    while not (journal.exists() and journal.read_bytes().rstrip().endswith(b'"commit"}')) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # inside the writes to the store
    assert process.poll() is None, "the import was still running when it was killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    stats = json.loads(run_cli(env, "kb", "stats").stdout)
    assert stats["collections"]["error-solutions"] in (0, 6000), "all or nothing"
    assert stats["collections"]["error-solutions"] == 6000, "the journaled import was completed"


def test_a_journal_group_cut_short_by_a_crash_is_not_applied(tmp_path: Path):
    journal = EntryJournal(tmp_path / "entries.jsonl")
    journal.put([{"id": "a", "error": "e", "solution": "s"}])
    with journal.path.open("a") as fh:  # a second import torn mid-write
        fh.write('{"op": "begin", "count": 2}\n{"op": "put", "entry": {"id": "b", "error": "e", "solution": "s"}}\n{"op": "pu')
    assert list(journal.current()) == ["a"]


def test_a_damaged_collection_is_reported_and_rebuilt_from_the_journal(kb_env):
    data = Path(kb_env["HYBRID_LSP_DATA_DIR"])
    run_cli(kb_env, "check", str(ROOT / "examples" / "broken.py"))
    segment = next((data / "collections" / "error-solutions" / "segments").iterdir())
    (segment / "version.info").write_text("garbage")
    broken = run_cli(kb_env, "kb", "stats")
    assert broken.returncode == 2 and "hybrid-lsp kb rebuild" in broken.stderr
    rebuilt = run_cli(kb_env, "kb", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "5 entries re-embedded from the entry journal" in rebuilt.stdout
    stats = json.loads(run_cli(kb_env, "kb", "stats").stdout)
    assert stats["collections"]["error-solutions"] == 4
    history = run_cli(kb_env, "history", "--json").stdout.splitlines()
    assert len(history) >= 5, "the interaction history survived the rebuild"
