"""prompts.py: what the models are shown, and how their JSON answer becomes an edit."""

from __future__ import annotations

import json

import pytest

from hybrid_lsp.edits import LineEdit
from hybrid_lsp.prompts import Context, FixFormatError, ProposedFix, fix_prompt, parse_fix
from hybrid_lsp.query import CodeWindow, ErrorQuery, Span

WINDOW = CodeWindow(first_line=9, lines=("x = 1", "import os", "y = 2"))
QUERY = ErrorQuery(
    "`os` imported but unused",
    source="Ruff",
    code="F401",
    language="python",
    span=Span(10, 0, 10, 9),
    window=WINDOW,
)
CONTEXT = Context(
    title="Unused import",
    error="`x` imported but unused",
    solution="Remove the import.",
    fix="-import x\n",
    relevance=0.934,
)


def answer(edit: object = None, explanation: object = "Remove the unused import.") -> str:
    return json.dumps({"explanation": explanation, "edit": edit})


def edit(start: object, end: object, replacement: object = "") -> dict[str, object]:
    return {"start_line": start, "end_line": end, "replacement": replacement}


# -- fix_prompt ----------------------------------------------------------------------------------


def test_fix_prompt_names_the_file_and_its_language():
    assert fix_prompt(QUERY, [], "src/app.py").startswith("File: src/app.py (python)\n\n")


def test_fix_prompt_gives_the_diagnostic_with_its_one_based_line_and_tool():
    assert "Diagnostic at line 11: `os` imported but unused [ruff F401]" in fix_prompt(
        QUERY, [], "a.py"
    )


def test_fix_prompt_shows_the_code_window_with_document_line_numbers():
    prompt = fix_prompt(QUERY, [], "a.py")

    assert "Code:\n   10 | x = 1\n   11 | import os\n   12 | y = 2" in prompt


def test_fix_prompt_lists_the_stored_solutions_with_their_relevance_and_example_fix():
    prompt = fix_prompt(QUERY, [CONTEXT], "a.py")

    assert (
        "Known solutions that may apply:\n"
        "- Unused import (relevance 0.93)\n"
        "  Error: `x` imported but unused\n"
        "  Solution: Remove the import.\n"
        "  Example fix:\n"
        "    -import x"
    ) in prompt


def test_fix_prompt_titles_an_untitled_solution_by_its_error():
    untitled = Context("", "E1 broke", "Do this.", "", 0.5)

    assert "- E1 broke (relevance 0.50)\n  Error: E1 broke\n  Solution: Do this." in fix_prompt(
        QUERY, [untitled], "a.py"
    )


def test_fix_prompt_lists_at_most_five_other_diagnostics():
    query = ErrorQuery("boom", related=tuple(f"other {n}" for n in range(1, 8)))

    prompt = fix_prompt(query, [], "a.py")

    assert (
        "Other diagnostics in this file:\n- other 1\n- other 2\n- other 3\n- other 4\n- other 5"
        in prompt
    )
    assert "other 6" not in prompt


def test_fix_prompt_ends_by_asking_for_the_json_object_only():
    assert fix_prompt(QUERY, [CONTEXT], "a.py").endswith("\n\nReply with the JSON object only.")


def test_fix_prompt_leaves_out_the_parts_it_has_nothing_for():
    prompt = fix_prompt(ErrorQuery("  boom  "), [], "notes.txt")

    assert prompt == "File: notes.txt\n\nDiagnostic: boom\n\nReply with the JSON object only."


# -- parse_fix: where the JSON is ----------------------------------------------------------------


def test_parse_fix_reads_a_bare_json_object():
    fix = parse_fix(answer(edit(11, 11, "")), 9, 3)

    assert fix == ProposedFix("Remove the unused import.", LineEdit(10, 11, ()))


def test_parse_fix_reads_json_inside_a_fenced_block():
    reply = "Sure, here it is:\n```json\n" + answer(edit(11, 11, "")) + "\n```\nGood luck!"

    assert parse_fix(reply, 9, 3) == ProposedFix("Remove the unused import.", LineEdit(10, 11, ()))


def test_parse_fix_reads_json_inside_an_unlabelled_fence():
    reply = "```\n" + answer() + "\n```"

    assert parse_fix(reply, 9, 3) == ProposedFix("Remove the unused import.", None)


def test_parse_fix_prefers_the_fenced_json_over_braces_in_the_prose():
    reply = "The {value} is wrong.\n```json\n" + answer() + "\n```"

    assert parse_fix(reply, 9, 3) == ProposedFix("Remove the unused import.", None)


def test_parse_fix_reads_json_surrounded_by_prose():
    reply = "Here is the fix: " + answer(edit(11, 11, "")) + " Hope it helps."

    assert parse_fix(reply, 9, 3).edit == LineEdit(10, 11, ())


def test_parse_fix_keeps_braces_inside_the_explanation():
    assert parse_fix(answer(explanation="Use {} here."), 9, 3).explanation == "Use {} here."


@pytest.mark.parametrize("reply", ["no json at all", "[1, 2, 3]", "{not: json}", ""])
def test_parse_fix_refuses_an_answer_without_a_json_object(reply):
    with pytest.raises(FixFormatError, match="the answer holds no JSON object"):
        parse_fix(reply, 9, 3)


# -- parse_fix: the explanation ------------------------------------------------------------------


def test_parse_fix_accepts_a_null_edit_as_explanation_only():
    assert parse_fix(answer(None, "  Rename the module.  "), 9, 3) == ProposedFix(
        "Rename the module.", None
    )


def test_parse_fix_treats_a_missing_edit_as_null():
    assert parse_fix('{"explanation": "Nothing safe to change."}', 9, 3).edit is None


@pytest.mark.parametrize("reply", ['{"edit": null}', answer(None, "   "), answer(None, 42)])
def test_parse_fix_refuses_a_missing_empty_or_non_text_explanation(reply):
    with pytest.raises(FixFormatError, match='"explanation" is missing or not text'):
        parse_fix(reply, 9, 3)


# -- parse_fix: the edit -------------------------------------------------------------------------


def test_parse_fix_refuses_an_edit_that_is_not_an_object():
    with pytest.raises(FixFormatError, match='"edit" must be an object or null'):
        parse_fix(answer("replace line 11"), 9, 3)


@pytest.mark.parametrize(
    ("start", "end"), [(True, 11), (11, False), ("11", 11), (11, "11"), (11.0, 11), (None, 11)]
)
def test_parse_fix_refuses_line_numbers_that_are_not_whole_numbers(start, end):
    with pytest.raises(FixFormatError, match='"start_line" and "end_line" must be whole numbers'):
        parse_fix(answer(edit(start, end)), 9, 3)


@pytest.mark.parametrize("replacement", [None, 5, ["import os"]])
def test_parse_fix_refuses_a_replacement_that_is_not_text(replacement):
    with pytest.raises(FixFormatError, match='"replacement" must be text'):
        parse_fix(answer(edit(11, 11, replacement)), 9, 3)


@pytest.mark.parametrize(("start", "end"), [(9, 10), (12, 13), (11, 10), (0, 11)])
def test_parse_fix_refuses_an_edit_outside_the_code_window(start, end):
    with pytest.raises(
        FixFormatError, match=rf"covers lines {start}-{end}, outside the code shown \(10-12\)"
    ):
        parse_fix(answer(edit(start, end)), 9, 3)


def test_parse_fix_accepts_an_edit_of_the_whole_window():
    assert parse_fix(answer(edit(10, 12, "z = 3")), 9, 3).edit == LineEdit(9, 12, ("z = 3",))


def test_parse_fix_splits_a_multi_line_replacement_into_lines():
    assert parse_fix(answer(edit(11, 11, "import re\nimport os")), 9, 3).edit == LineEdit(
        10, 11, ("import re", "import os")
    )


def test_parse_fix_drops_one_trailing_newline_from_the_replacement():
    assert parse_fix(answer(edit(11, 12, "a\nb\n")), 9, 3).edit == LineEdit(10, 12, ("a", "b"))


def test_parse_fix_reads_a_lone_newline_as_one_empty_line():
    assert parse_fix(answer(edit(11, 11, "\n")), 9, 3).edit == LineEdit(10, 11, ("",))


def test_parse_fix_reads_an_empty_replacement_as_deleting_the_lines():
    assert parse_fix(answer(edit(11, 12, "")), 9, 3).edit == LineEdit(10, 12, ())
