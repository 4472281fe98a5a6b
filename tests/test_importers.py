"""Knowledge imported from the tools' own documentation."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import run_cli
from hybrid_lsp.importers import keep_existing, ruff_entries, rustc_entry, rustc_messages

RULE = {
    "name": "mutable-argument-default", "code": "B006", "linter": "flake8-bugbear",
    "message_formats": ["Do not use mutable data structures for argument defaults"],
    "fix_availability": "Sometimes",
    "explanation": "## What it does\nChecks for uses of mutable objects as function argument defaults.\n\n"
                   "## Why is this bad?\nArgument defaults are evaluated once, when the function is defined.\n"
                   "See [the docs](https://docs.python.org/3/tutorial.html) for more.\n\n"
                   "## Example\n```python\ndef f(x=[]):\n    pass\n```\n\nUse instead:\n```python\ndef f(x=None):\n    x = x or []\n```\n",
}


def test_a_ruff_rule_becomes_an_entry_with_a_link_free_solution_and_the_corrected_code():
    [entry] = ruff_entries([RULE])
    assert (entry.id, entry.source, entry.code, entry.language) == ("ruff:B006", "ruff", "B006", "python")
    assert entry.error == "Do not use mutable data structures for argument defaults"
    assert "http" not in entry.solution and "the docs" in entry.solution
    assert "ruff check --fix" in entry.solution
    assert entry.fix == "def f(x=None):\n    x = x or []"


def test_a_ruff_rule_is_worded_by_its_message_formats_and_a_removed_rule_is_left_out():
    rules = [{**RULE, "code": "DTZ001", "message_formats": ["`datetime.datetime()` called without a `tzinfo` argument",
                                                            "`tzinfo=None` passed to `datetime.datetime()`"]},
             {**RULE, "code": "E999", "message_formats": ["SyntaxError"], "status": {"Removed": {"since": "0.8.0"}}},
             {**RULE, "code": "B006", "status": {"Stable": {"since": "v0.0.94"}}}]
    entries = ruff_entries(rules)
    assert [e.id for e in entries] == ["ruff:DTZ001", "ruff:B006"]
    assert entries[0].error == "`datetime.datetime()` called without a `tzinfo` argument"
    assert entries[0].variants == ("`tzinfo=None` passed to `datetime.datetime()`",)
    assert entries[1].variants == ()


def test_a_docs_import_keeps_a_curated_entry_and_gives_it_the_wordings_it_lacks():
    from hybrid_lsp.knowledge import parse_entry

    curated = parse_entry({"id": "ruff:UP035", "error": "`typing.List` is deprecated, use `list` instead",
                           "solution": "Import it from collections.abc.", "source": "ruff", "code": "UP035",
                           "edit": {"pattern": "List", "replacement": "list"}})
    [docs] = ruff_entries([{**RULE, "code": "UP035", "message_formats": [
        "Import from `{target}` instead: {names}", "`{module}.{member}` is deprecated, use `{target}` instead"]}])
    [new] = ruff_entries([RULE])
    stored, kept = keep_existing([docs, new], {curated.id: curated})
    assert kept == 1
    assert [e.id for e in stored] == ["ruff:UP035", "ruff:B006"]
    assert stored[0].solution == curated.solution and stored[0].edit == curated.edit
    assert stored[0].variants == docs.wordings
    assert keep_existing([docs], {curated.id: stored[0]}) == ([], 1)  # nothing to add a second time


def test_a_rustc_explanation_becomes_an_entry_with_its_corrected_example():
    text = ("A variable was used after its contents have been moved elsewhere.\n\nErroneous code example:\n\n"
            "```compile_fail,E0382\nlet y = x;\nuse(x);\n```\n\nBorrow it instead of moving it.\n\n```\nlet y = &x;\n```\n")
    entry = rustc_entry("E0382", text)
    assert entry.error == "A variable was used after its contents have been moved elsewhere."
    assert "Borrow it instead" in entry.solution and entry.fix == "let y = &x;"


def test_import_from_ruff_keeps_curated_entries_and_adds_every_other_rule(env):
    result = run_cli(env, "kb", "import", "--from", "ruff")
    assert result.returncode == 0, result.stderr
    assert "kept" in result.stdout
    curated = json.loads(run_cli(env, "kb", "show", "ruff:F401").stdout)
    assert "edit" in curated, "the curated entry with its stored fix was not replaced"
    searched = json.loads(run_cli(env, "search", "Line too long (120 > 88)", "--source", "ruff", "--code", "E501", "--json").stdout)
    assert searched["matches"][0]["id"] == "ruff:E501"


def test_import_from_an_unknown_tool_is_refused(env):
    result = run_cli(env, "kb", "import", "--from", "pylint")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_ruff_literals_are_the_fixed_quoted_parts_of_message_formats_that_are_not_plain_names():
    from hybrid_lsp.importers import ruff_literals

    rules = [{"message_formats": ["`os.chmod()` should be replaced by `Path.chmod()`", "Unused `{name}` in `check`"]},
             {"message_formats": ["Logging statement uses `+`"]}, {"summary": "no formats"}]
    assert ruff_literals(rules) == ["+", "Path.chmod()", "os.chmod()"]


def test_the_shipped_literals_hold_the_template_words_of_the_pinned_ruff():
    import json
    from pathlib import Path

    import hybrid_lsp

    data = json.loads((Path(hybrid_lsp.__file__).parent / "quoted_literals.json").read_text(encoding="utf-8"))
    assert {"os.chmod()", "pytest.raises()", "+"} <= set(data["literals"])


def test_a_rustc_entry_carries_the_message_rustc_gives_when_there_is_one():
    text = ("A variable was used after its contents have been moved elsewhere.\n\nErroneous code example:\n\n"
            "```\nlet y = x;\n```\n\nBorrow it instead of moving it.\n\n```\nlet y = &x;\n```\n")
    entry = rustc_entry("E0382", text, ["borrow of moved value: `x`", "use of moved value: `x`"])
    assert entry.error == "borrow of moved value: `x`" and "rustc-prose" not in entry.tags
    assert entry.variants == ("use of moved value: `x`",)
    assert entry.solution.startswith("A variable was used after its contents have been moved elsewhere.")
    assert "rustc-prose" in rustc_entry("E0382", text).tags


@pytest.mark.skipif(shutil.which("rustc") is None, reason="rustc is not installed")
def test_the_erroneous_example_is_compiled_to_learn_the_real_message():
    explanation = subprocess.run(["rustc", "--explain", "E0425"], capture_output=True, text=True, check=True).stdout
    assert rustc_messages("E0425", explanation) == ["cannot find value `unknown_variable` in this scope"]
    assert rustc_messages("E0425", "No example here.\n") == []


@pytest.mark.skipif(shutil.which("rustc") is None, reason="rustc is not installed")
def test_every_example_is_compiled_so_a_rule_keeps_each_of_its_wordings():
    explanation = subprocess.run(["rustc", "--explain", "E0423"], capture_output=True, text=True, check=True).stdout
    messages = rustc_messages("E0423", explanation)
    assert len(messages) >= 3 and len(set(messages)) == len(messages)
    assert any(m.startswith("expected value, found module") for m in messages)
    assert any("found macro `println`" in m for m in messages)  # a later example's wording
    entry = rustc_entry("E0423", explanation, messages)
    assert (entry.error, *entry.variants) == tuple(messages)
