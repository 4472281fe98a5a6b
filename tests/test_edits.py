"""edits.py: whole-line edits, refused unless they fit, rendered as diffs and LSP ranges."""

from __future__ import annotations

import pytest

from hybrid_lsp.edits import EditError, LineEdit, apply, from_pattern, lsp_range, unified_diff

DOC = "a\nb\nc"


def apply_lsp(text: str, edit: LineEdit) -> str:
    """What an editor does with lsp_range's answer: replace the range with the new text."""
    (sl, sc), (el, ec), new_text = lsp_range(text, edit)
    lines = text.split("\n")
    assert (sl, sc) <= (el, ec), "the range starts after it ends"
    assert el < len(lines) and ec <= len(lines[el]), "the range ends outside the document"
    start = sum(len(line) + 1 for line in lines[:sl]) + sc
    end = sum(len(line) + 1 for line in lines[:el]) + ec
    return text[:start] + new_text + text[end:]


# -- LineEdit.check ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "edit", [LineEdit(0, 0, ("x",)), LineEdit(0, 3, ()), LineEdit(3, 3, ("d",))]
)
def test_an_edit_within_the_document_passes_the_check(edit):
    assert edit.check(3) is None


def test_an_edit_past_the_end_is_refused_with_the_lines_it_covers():
    with pytest.raises(EditError, match="edit covers lines 1-4 but the document has 3 lines"):
        LineEdit(0, 4, ()).check(3)


def test_an_edit_that_ends_before_it_starts_is_refused():
    with pytest.raises(EditError):
        LineEdit(2, 1, ()).check(3)


def test_an_edit_with_a_negative_start_is_refused():
    with pytest.raises(EditError):
        LineEdit(-1, 1, ()).check(3)


# -- apply ---------------------------------------------------------------------------------------


def test_apply_replaces_the_covered_lines():
    assert apply(DOC, LineEdit(1, 2, ("B",))) == "a\nB\nc"


def test_apply_with_no_new_lines_deletes_the_covered_lines():
    assert apply(DOC, LineEdit(1, 2, ())) == "a\nc"


def test_apply_can_replace_one_line_with_several():
    assert apply(DOC, LineEdit(1, 2, ("b1", "b2"))) == "a\nb1\nb2\nc"


def test_apply_with_an_empty_range_inserts_before_the_start_line():
    assert apply(DOC, LineEdit(1, 1, ("new",))) == "a\nnew\nb\nc"


def test_apply_keeps_a_trailing_newline():
    assert apply("a\nb\nc\n", LineEdit(1, 2, ("B",))) == "a\nB\nc\n"


def test_apply_to_an_empty_document_inserts_the_text():
    assert apply("", LineEdit(0, 0, ("x",))) == "x"


def test_apply_refuses_an_edit_that_does_not_fit():
    with pytest.raises(EditError):
        apply(DOC, LineEdit(2, 5, ("x",)))


# -- unified_diff --------------------------------------------------------------------------------


def test_unified_diff_shows_the_change_with_paths_and_context():
    diff = unified_diff("a\nb\nc\n", LineEdit(1, 2, ("B",)), "src/x.py")

    assert diff == "--- a/src/x.py\n+++ b/src/x.py\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"


def test_unified_diff_of_the_last_line_without_a_newline_keeps_removed_and_added_lines_apart():
    diff = unified_diff(DOC, LineEdit(2, 3, ("C",)), "x.py")

    lines = diff.splitlines()
    assert "-c" in lines
    assert "+C" in lines


def test_unified_diff_refuses_an_edit_that_does_not_fit():
    with pytest.raises(EditError):
        unified_diff(DOC, LineEdit(0, 9, ()), "x.py")


# -- lsp_range -----------------------------------------------------------------------------------


def test_lsp_range_of_a_middle_line_runs_to_the_start_of_the_next_line():
    assert lsp_range(DOC, LineEdit(1, 2, ("B",))) == ((1, 0), (2, 0), "B\n")


def test_lsp_range_deleting_a_middle_line_removes_its_newline():
    assert lsp_range(DOC, LineEdit(1, 2, ())) == ((1, 0), (2, 0), "")


def test_lsp_range_of_the_last_line_ends_at_its_last_character():
    assert lsp_range(DOC, LineEdit(2, 3, ("C",))) == ((2, 0), (2, 1), "C")


def test_lsp_range_deleting_the_last_lines_also_removes_the_newline_before_them():
    assert lsp_range(DOC, LineEdit(1, 3, ())) == ((0, 1), (2, 1), "")


def test_lsp_range_deleting_every_line_empties_the_document():
    assert lsp_range(DOC, LineEdit(0, 3, ())) == ((0, 0), (2, 1), "")


def test_lsp_range_keeps_a_trailing_newline_when_the_last_line_is_replaced():
    assert lsp_range("a\nb\nc\n", LineEdit(2, 3, ("C",))) == ((2, 0), (3, 0), "C\n")


def test_lsp_range_on_an_empty_document_inserts_at_the_origin():
    assert lsp_range("", LineEdit(0, 0, ("x",))) == ((0, 0), (0, 0), "x")


def test_lsp_range_refuses_an_edit_that_does_not_fit():
    with pytest.raises(EditError):
        lsp_range(DOC, LineEdit(0, 4, ()))


@pytest.mark.parametrize(
    ("text", "edit"),
    [
        (DOC, LineEdit(0, 1, ("A", "A2"))),
        (DOC, LineEdit(1, 2, ())),
        (DOC, LineEdit(2, 3, ("C",))),
        (DOC, LineEdit(1, 3, ())),
        (DOC, LineEdit(0, 3, ())),
        (DOC, LineEdit(1, 1, ("new",))),
        ("a\nb\nc\n", LineEdit(2, 3, ())),
        ("a\nb\nc\n", LineEdit(0, 2, ("x",))),
        ("", LineEdit(0, 0, ("x",))),
    ],
)
def test_applying_the_lsp_range_gives_the_same_text_as_apply(text, edit):
    assert apply_lsp(text, edit) == apply(text, edit)


def test_insertion_after_the_last_line_appends_to_the_document():
    # LineEdit.check accepts start == end == line count; the LSP range must then be valid too.
    edit = LineEdit(3, 3, ("d",))

    assert apply_lsp(DOC, edit) == apply(DOC, edit) == "a\nb\nc\nd"


# -- from_pattern --------------------------------------------------------------------------------

CODE = "import os\nimport sys\nprint(sys.argv)"


def test_from_pattern_rewrites_the_diagnostic_lines():
    assert from_pattern(CODE, 0, 0, r"^import os\n", "", ()) == LineEdit(0, 1, ())


def test_from_pattern_fills_identifier_placeholders_in_the_pattern():
    assert from_pattern(
        CODE, 1, 1, r"import {id1}", "import {id1} as system", ("sys",)
    ) == LineEdit(1, 2, ("import sys as system",))


def test_from_pattern_uses_the_identifiers_in_message_order():
    assert from_pattern(CODE, 0, 0, r"{id2}", "{id1}", ("re", "os")) == LineEdit(
        0, 1, ("import re",)
    )


def test_from_pattern_matches_identifiers_literally_not_as_regex():
    with pytest.raises(EditError, match="does not match"):
        from_pattern("x = axb", 0, 0, r"{id1}", "y", ("a.b",))


def test_from_pattern_inserts_identifiers_with_backslashes_literally():
    assert from_pattern("p = 1", 0, 0, r"1", r"{id1}", ("C:\\dir",)) == LineEdit(
        0, 1, ("p = C:\\dir",)
    )


def test_from_pattern_supports_group_references_in_the_replacement():
    edit = from_pattern(CODE, 0, 1, r"import (\w+)\nimport (\w+)", r"import \1, \2", ())

    assert edit == LineEdit(0, 2, ("import os, sys",))


def test_from_pattern_rewrites_only_the_first_match():
    assert from_pattern("aa a", 0, 0, "a", "b", ()) == LineEdit(0, 1, ("ba a",))


def test_from_pattern_can_turn_one_line_into_two():
    assert from_pattern(CODE, 0, 0, "import os", "import os\nimport re", ()) == LineEdit(
        0, 1, ("import os", "import re")
    )


def test_from_pattern_refuses_a_pattern_that_does_not_match():
    with pytest.raises(EditError, match="does not match the code at the diagnostic"):
        from_pattern(CODE, 0, 0, "nothing here", "x", ())


def test_from_pattern_refuses_a_fix_that_changes_nothing():
    with pytest.raises(EditError, match="would not change anything"):
        from_pattern(CODE, 0, 0, "os", "os", ())


def test_from_pattern_refuses_a_fix_that_only_drops_the_line_break_it_cannot_reach():
    # The region always ends with a newline that is not the fix's to remove; eating it leaves the
    # line exactly as it was, so the "fix" must be refused as a no-op.
    with pytest.raises(EditError, match="would not change anything"):
        from_pattern("x = 1\ny", 0, 0, r"\s+$", "", ())


def test_from_pattern_refuses_an_invalid_regular_expression():
    with pytest.raises(EditError, match="not a valid regular expression"):
        from_pattern(CODE, 0, 0, "(", "x", ())


def test_from_pattern_refuses_a_placeholder_the_message_has_no_identifier_for():
    with pytest.raises(EditError, match=r"needs identifier \{id2\} but the message has 1"):
        from_pattern(CODE, 0, 0, "{id2}", "x", ("os",))


@pytest.mark.parametrize(("first", "last"), [(3, 3), (1, 0), (-1, 0)])
def test_from_pattern_refuses_lines_outside_the_document(first, last):
    with pytest.raises(EditError, match="outside the document"):
        from_pattern(CODE, first, last, "a", "b", ())


def test_from_pattern_refuses_an_empty_document():
    with pytest.raises(EditError, match="outside the document"):
        from_pattern("", 0, 0, "a", "b", ())
