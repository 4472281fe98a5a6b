"""Crashes and damage: nothing acknowledged is lost, nothing is half-imported, damage is repairable."""

from __future__ import annotations

import json
import random
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


PROMOTE = r"""
import sys
from pathlib import Path
from hybrid_lsp.config import Settings
from hybrid_lsp.history import Interaction
from hybrid_lsp.pipeline import Pipeline

data, first, count = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
pipeline = Pipeline(data, Settings(), starter=False)
ids = []
for n in range(first, first + count):
    name = f"name_{n}"
    # Even ones share one fix shape (one learned entry, validated again and again, then a pattern);
    # odd ones each make a learned entry of their own.
    old = f"    print({name})" if n % 2 == 0 else f"    print({name}, {n})"
    ids.append(pipeline.history.record(Interaction(
        kind="fix", query=f"Undefined name `{name}`", fingerprint="fp-undefined", route="local",
        relevance=0.8, complexity=2, reason="", source="ruff", code="F821", language="python",
        explanation="Define the name first.", has_edit=True, span_start=3, span_end=3, edit_start=3,
        old_lines=[old], new_lines=[old.replace(name, name + "_fixed")])))
print("ready", flush=True)
for interaction_id in ids:
    pipeline.learning.record(interaction_id, "validated")
    print(interaction_id, flush=True)  # acknowledged: durable before this line
print("done", flush=True)
"""


def test_promotions_killed_at_random_points_are_completed_at_the_next_start(tmp_path: Path):
    from hybrid_lsp.config import Settings
    from hybrid_lsp.pipeline import Pipeline

    rng = random.Random(20261204)
    data = tmp_path / "data"
    acknowledged: list[str] = []
    kills = 0
    for round_ in range(3):
        process = subprocess.Popen([sys.executable, "-c", PROMOTE, str(data), str(round_ * 100), "40"], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "ready", process.stderr.read()
        stop_after = rng.randint(2, 30)
        for _ in range(stop_after):
            line = process.stdout.readline().strip()
            assert line and line != "done", process.stderr.read()
            acknowledged.append(line)
        time.sleep(rng.uniform(0, 0.01))  # somewhere inside the next promotion
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        kills += 1

        pipeline = Pipeline(data, Settings(), starter=False)  # reconciles what the crash cut short
        try:
            shared, shared_ids = set(), []
            for interaction in pipeline.history.list():
                if interaction.outcome != "validated":
                    continue
                assert interaction.effects_applied == "validated", interaction
                assert interaction.learned_entry, interaction
                found = pipeline.knowledge.get(interaction.learned_entry)
                assert found is not None, f"learned entry {interaction.learned_entry} lost"
                entry, collection = found
                assert collection == "error-solutions" and "learned" in entry.tags
                if interaction.old_lines[0].count(",") == 0:
                    shared.add(interaction.learned_entry)
                    shared_ids.append(interaction.id)
            ids = {i.id: i for i in pipeline.history.list()}
            for interaction_id in acknowledged:
                assert ids[interaction_id].outcome == "validated", "an acknowledged outcome was lost"
            assert len(shared) == 1, "one fix shape, one learned entry"
            # Recording one of its validations again is a no-op that returns the entry's counts.
            counts = pipeline.knowledge.record_outcome(shared.pop(), shared_ids[0], "validated")
            assert counts == {"validated": len(shared_ids)}, "each validation counted exactly once"
            assert pipeline.knowledge.get("pattern:fp-undefined") is not None, "the repeated fix became a pattern"
        finally:
            pipeline.close()
    assert kills == 3 and len(acknowledged) >= 6


def test_a_store_that_fails_to_open_leaves_no_model_load_running(kb_env):
    """Exiting while the model loads in its thread can crash the interpreter's shutdown (SIGSEGV)."""
    import threading

    import pytest

    from hybrid_lsp.config import Settings
    from hybrid_lsp.pipeline import Pipeline
    from hybrid_lsp.store import StoreError

    data = Path(kb_env["HYBRID_LSP_DATA_DIR"])
    segment = next((data / "collections" / "error-solutions" / "segments").iterdir())
    (segment / "version.info").write_text("garbage")
    with pytest.raises(StoreError, match="kb rebuild"):
        Pipeline(data, Settings(), starter=False)
    assert not [t for t in threading.enumerate() if t.name == "hybrid-lsp-model"]
