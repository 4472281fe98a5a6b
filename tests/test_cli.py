"""The command line: check, search (the JSON contract), and knowledge import/export."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT, TEST_KB, run_cli
from model_servers import ModelServer, replace_line_reply

EXAMPLE = ROOT / "examples" / "broken.py"


def test_check_runs_ruff_and_serves_the_starter_known_fix_for_an_unused_import(env):
    result = run_cli(env, "check", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "F401 `os` imported but unused" in out
    block = out.split("F401 `os` imported but unused", 1)[1].split("\n\n", 1)[0]
    assert "route: known" in block
    assert "-import os" in block and "fix (0 tokens)" in block
    # Every ruff diagnostic gets a route and a relevance, even with no model reachable.
    assert out.count("  route: ") == out.count(f"{EXAMPLE}:")


def test_check_json_uses_the_local_model_when_the_match_is_close_but_has_no_stored_edit(kb_env, model_server: ModelServer):
    model_server.reply = replace_line_reply(20, '    return "Hello, " + name', "`nmae` is a typo for `name`.")
    kb_env["HYBRID_LSP_LOCAL_URL"] = model_server.url + "/v1"
    result = run_cli(kb_env, "check", str(EXAMPLE), "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    [undefined] = [r for r in rows if r["code"] == "F821"]
    assert undefined["route"]["target"] == "local"
    assert '+    return "Hello, " + name' in undefined["diff"]
    assert undefined["tokens"] > 0
    assert any('Undefined name `nmae`' in seen.prompt for seen in model_server.of("openai"))


def test_check_refuses_a_file_it_cannot_lint(env, tmp_path: Path):
    script = tmp_path / "a.rs"
    script.write_text("fn main() {}\n")
    result = run_cli(env, "check", str(script))
    assert result.returncode == 2
    assert "takes Python files" in result.stderr


def test_search_json_follows_the_contract(kb_env):
    result = run_cli(kb_env, "search", "Undefined name `bar`", "--source", "ruff", "--code", "F821", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"query", "fingerprint", "matches", "route"}
    assert data["matches"][0]["id"] == "ruff:F821"
    assert set(data["matches"][0]) == {"id", "score", "collection", "title", "source", "code"}
    assert set(data["route"]) == {"target", "relevance", "complexity", "reason"}
    assert data["route"]["target"] in {"known", "local", "remote"}


def test_search_finds_the_same_error_phrased_by_another_tool(kb_env):
    result = run_cli(kb_env, "search", "NameError: name 'total_count' is not defined", "--json")
    data = json.loads(result.stdout)
    assert data["matches"][0]["id"] in {"python:NameError", "ruff:F821"}
    assert data["matches"][0]["score"] > 0.5


def test_search_batch_answers_each_query_in_order_with_its_qid(kb_env, tmp_path: Path):
    batch = tmp_path / "queries.jsonl"
    batch.write_text("\n".join(json.dumps(q) for q in [
        {"qid": "a", "message": "borrow of moved value: `data`", "source": "rustc", "code": "E0382"},
        {"qid": "b", "message": "`sys` imported but unused", "source": "ruff", "code": "F401"},
        {"message": "something no entry talks about at all"},
    ]) + "\n")
    result = run_cli(kb_env, "search", "--batch", str(batch), "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["qid"] for line in lines] == ["a", "b", None]
    assert lines[0]["matches"][0]["id"] == "rustc:E0382"
    assert lines[1]["matches"][0]["id"] == "ruff:F401"


def test_search_batch_with_a_bad_line_names_it(kb_env, tmp_path: Path):
    batch = tmp_path / "queries.jsonl"
    batch.write_text('{"message": "ok"}\n{"qid": 1}\n')
    result = run_cli(kb_env, "search", "--batch", str(batch), "--json")
    assert result.returncode == 2
    assert "line 2" in result.stderr and "message" in result.stderr


def test_import_with_a_malformed_line_reports_it_and_imports_nothing(kb_env, tmp_path: Path):
    before = run_cli(kb_env, "kb", "export").stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"id": "new:1", "error": "first error", "solution": "fine"}\n'
        '{"id": "new:2", "error": "second error"\n'
        '{"id": "new:3", "error": "third", "solution": "x", "colection": "typo"}\n'
    )
    result = run_cli(kb_env, "kb", "import", str(bad))
    assert result.returncode == 2
    assert "line 2: not valid JSON" in result.stderr
    assert "line 3: unknown field(s) ['colection']" in result.stderr
    assert "nothing was imported" in result.stderr
    assert run_cli(kb_env, "kb", "export").stdout == before


def test_export_gives_back_the_imported_entries_and_their_ids(kb_env):
    exported = [json.loads(line) for line in run_cli(kb_env, "kb", "export").stdout.splitlines()]
    original = [json.loads(line) for line in TEST_KB.read_text().splitlines()]
    by_id = {e["id"]: e for e in exported}
    assert set(by_id) == {e["id"] for e in original}
    assert by_id["practice:pin"]["collection"] == "best-practices"
    assert by_id["ruff:F401"]["edit"] == original[0]["edit"]


def test_reimporting_an_id_replaces_the_entry(kb_env, tmp_path: Path):
    update = tmp_path / "update.jsonl"
    update.write_text('{"id": "rustc:E0382", "error": "borrow of moved value: `v`", "solution": "Clone it.", "language": "rust"}\n')
    assert run_cli(kb_env, "kb", "import", str(update)).returncode == 0
    shown = json.loads(run_cli(kb_env, "kb", "show", "rustc:E0382").stdout)
    assert shown["solution"] == "Clone it."
    stats = json.loads(run_cli(kb_env, "kb", "stats").stdout)
    assert stats["collections"]["error-solutions"] == 4


def test_no_starter_keeps_the_data_directory_to_what_the_user_imported(kb_env):
    stats = json.loads(run_cli(kb_env, "kb", "stats").stdout)
    assert sum(stats["collections"].values()) == 5


def test_stats_and_history_report_what_check_recorded(env):
    run_cli(env, "check", str(EXAMPLE))
    stats = json.loads(run_cli(env, "stats", "--json").stdout)
    assert stats["fixes"] >= 5 and stats["routes"]["known"] >= 1
    assert stats["tokens"]["remote"] == 0
    history = [json.loads(line) for line in run_cli(env, "history", "--json").stdout.splitlines()]
    assert len(history) == stats["interactions"]
    assert {h["outcome"] for h in history} == {"offered"}


def test_a_store_built_by_another_model_is_detected_and_rebuild_recovers(kb_env):
    meta_path = Path(kb_env["HYBRID_LSP_DATA_DIR"]) / "store.json"
    meta = json.loads(meta_path.read_text())
    meta["embedding"] = "some-other-model"
    meta_path.write_text(json.dumps(meta))
    broken = run_cli(kb_env, "search", "Undefined name `x`")
    assert broken.returncode == 2
    assert "hybrid-lsp kb rebuild" in broken.stderr
    rebuilt = run_cli(kb_env, "kb", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "5 entries re-embedded" in rebuilt.stdout
    assert run_cli(kb_env, "search", "Undefined name `x`", "--json").returncode == 0


def test_doctor_checks_each_backend_and_says_what_to_do(env, model_server: ModelServer):
    model_server.api_key = "right-key"
    env.update(HYBRID_LSP_LOCAL_URL=model_server.url + "/v1", HYBRID_LSP_LOCAL_MODEL="loopback-model",
               HYBRID_LSP_LOCAL_API_KEY="right-key", ANTHROPIC_API_KEY="wrong-key", ANTHROPIC_BASE_URL=model_server.url)
    result = run_cli(env, "doctor")
    assert result.returncode == 1, result.stdout
    lines = result.stdout.splitlines()
    assert any(line.startswith("ok   knowledge base") for line in lines)
    assert any(line.startswith("ok   local model") and "has the model" in line for line in lines)
    assert any(line.startswith("FAIL remote model") and "ANTHROPIC_API_KEY" in line for line in lines)


def test_doctor_names_a_missing_local_model(env, model_server: ModelServer):
    env.update(HYBRID_LSP_LOCAL_URL=model_server.url + "/v1", HYBRID_LSP_LOCAL_MODEL="not-loaded-model")
    result = run_cli(env, "doctor")
    assert result.returncode == 1
    assert "model 'not-loaded-model' is not loaded" in result.stdout


def test_check_takes_many_files_and_folders_in_one_run(env, tmp_path: Path):
    project = tmp_path / "project"
    (project / "pkg").mkdir(parents=True)
    (project / "pkg" / "a.py").write_text("import os\n")
    (project / "b.py").write_text("import sys\n")
    result = run_cli(env, "check", str(project), "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(Path(r["file"]).name for r in rows) == ["a.py", "b.py"]
    assert all(r["route"]["target"] == "known" and r["diff"] for r in rows)


def test_stats_chart_is_written_as_html(env, tmp_path: Path):
    run_cli(env, "check", str(EXAMPLE))
    chart = tmp_path / "stats.html"
    result = run_cli(env, "stats", "--chart", str(chart))
    assert result.returncode == 0, result.stderr
    assert "<svg" in chart.read_text() and "saved" in result.stdout
