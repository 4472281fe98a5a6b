"""The JSONL import contract of knowledge.py: what an entry may hold, how a bad file is refused."""

from __future__ import annotations

import json

import pytest

from hybrid_lsp.knowledge import ImportFailed, StoredEdit, parse_entry, read_jsonl

MINIMAL = {"id": "ruff-f401", "error": "`os` imported but unused", "solution": "Remove the import."}
FULL = {
    "id": " ruff-f401 ",
    "error": " `os` imported but unused ",
    "solution": " Remove the import. ",
    "title": " Unused import ",
    "fix": "  -import os\n",
    "language": " Python ",
    "source": "Ruff",
    "code": "F401",
    "tags": ["imports", "cleanup"],
    "collection": "best-practices",
    "edit": {"pattern": "^import {id1}\\n", "replacement": ""},
}


def entry(**fields: object) -> dict[str, object]:
    return {**MINIMAL, **fields}


def line(value: object) -> str:
    return json.dumps(value) + "\n"


def problems(lines: list[str]) -> list[str]:
    with pytest.raises(ImportFailed) as failure:
        read_jsonl(lines, "kb.jsonl")
    return failure.value.problems


# -- parse_entry: valid entries ------------------------------------------------------------------


def test_a_minimal_entry_gets_the_defaults():
    parsed = parse_entry(MINIMAL)

    assert (parsed.id, parsed.error, parsed.solution) == (
        "ruff-f401",
        "`os` imported but unused",
        "Remove the import.",
    )
    assert (parsed.title, parsed.fix, parsed.language, parsed.source, parsed.code) == (
        "",
        "",
        "",
        "",
        "",
    )
    assert (parsed.tags, parsed.collection, parsed.edit) == ((), "error-solutions", None)


def test_an_entry_with_every_optional_field_keeps_them_all():
    parsed = parse_entry(FULL)

    assert parsed.title == "Unused import"
    assert parsed.tags == ("imports", "cleanup")
    assert parsed.collection == "best-practices"
    assert parsed.edit == StoredEdit("^import {id1}\\n", "")
    assert parsed.key == "ruff:F401"


def test_text_fields_are_trimmed_but_the_example_fix_keeps_its_indentation():
    parsed = parse_entry(FULL)

    assert (parsed.id, parsed.error, parsed.solution) == (
        "ruff-f401",
        "`os` imported but unused",
        "Remove the import.",
    )
    assert parsed.fix == "  -import os\n"


def test_the_language_is_lowercased():
    assert parse_entry(FULL).language == "python"


def test_an_integer_code_becomes_a_string():
    assert parse_entry(entry(code=2304)).code == "2304"


def test_a_typescript_code_prefix_is_dropped():
    assert parse_entry(entry(source="typescript", code="TS2304")).code == "2304"


@pytest.mark.parametrize(
    ("reported", "canonical"), [("Pylance", "pyright"), ("ruff-lsp", "ruff"), ("tsserver", "ts")]
)
def test_the_source_is_canonicalised(reported, canonical):
    assert parse_entry(entry(source=reported)).source == canonical


def test_null_optional_fields_count_as_absent():
    assert parse_entry(entry(title=None, code=None, edit=None)) == parse_entry(MINIMAL)


@pytest.mark.parametrize("value", [MINIMAL, FULL, entry(code=2304, source="Pylance")])
def test_to_json_round_trips_through_parse_entry(value):
    parsed = parse_entry(value)

    assert parse_entry(parsed.to_json()) == parsed


def test_to_json_leaves_out_unset_optional_fields():
    assert parse_entry(MINIMAL).to_json() == MINIMAL


# -- parse_entry: invalid entries ----------------------------------------------------------------


@pytest.mark.parametrize("missing", ["id", "error", "solution"])
def test_a_missing_required_field_is_named(missing):
    value = {k: v for k, v in MINIMAL.items() if k != missing}

    with pytest.raises(ValueError, match=f'"{missing}" is required and must not be empty'):
        parse_entry(value)


@pytest.mark.parametrize("name", ["id", "error", "solution"])
def test_a_blank_required_field_is_refused(name):
    with pytest.raises(ValueError, match=f'"{name}" is required and must not be empty'):
        parse_entry(entry(**{name: "   "}))


@pytest.mark.parametrize(
    ("name", "value", "type_name"),
    [
        ("id", 7, "int"),
        ("error", ["x"], "list"),
        ("title", {"a": 1}, "dict"),
        ("code", True, "bool"),
        ("code", 1.5, "float"),
        ("source", 3, "int"),
    ],
)
def test_a_field_of_the_wrong_type_is_named_with_the_type_found(name, value, type_name):
    with pytest.raises(ValueError, match=f'"{name}" must be a string, got {type_name}'):
        parse_entry(entry(**{name: value}))


@pytest.mark.parametrize("tags", ["imports", [1, 2], {"a": "b"}])
def test_tags_must_be_a_list_of_strings(tags):
    with pytest.raises(ValueError, match='"tags" must be a list of strings'):
        parse_entry(entry(tags=tags))


def test_an_unknown_field_is_named_with_the_allowed_ones():
    with pytest.raises(ValueError, match=r"unknown field\(s\) \['severity'\]; allowed: \['id', "):
        parse_entry(entry(severity="error"))


@pytest.mark.parametrize("collection", ["nope", "interaction-history"])
def test_a_collection_outside_the_knowledge_collections_is_refused(collection):
    with pytest.raises(ValueError, match=f'"collection" must be one of .* got {collection!r}'):
        parse_entry(entry(collection=collection))


def test_an_edit_with_an_invalid_regular_expression_is_refused():
    with pytest.raises(ValueError, match='"edit.pattern" is not a valid regular expression'):
        parse_entry(entry(edit={"pattern": "import ({id1}", "replacement": ""}))


def test_an_edit_pattern_with_identifier_placeholders_is_valid():
    assert (
        parse_entry(entry(edit={"pattern": "{id1}\\.{id2}", "replacement": "{id2}"})).edit
        is not None
    )


@pytest.mark.parametrize(
    "edit",
    [
        "s/os//",
        {"pattern": "os"},
        {"replacement": ""},
        {"pattern": 1, "replacement": ""},
        {"pattern": "os", "replacement": "", "flags": "i"},
    ],
)
def test_an_edit_that_is_not_a_pattern_and_replacement_is_refused(edit):
    with pytest.raises(ValueError, match='"edit" must be'):
        parse_entry(entry(edit=edit))


def test_a_nul_character_is_refused():
    with pytest.raises(ValueError, match='"solution" contains a NUL character'):
        parse_entry(entry(solution="Remove\x00it"))


def test_an_oversized_field_is_refused_with_its_length():
    with pytest.raises(ValueError, match='"fix" is 20001 characters; the limit is 20000'):
        parse_entry(entry(fix="x" * 20_001))


@pytest.mark.parametrize(
    ("value", "type_name"), [([MINIMAL], "list"), ("text", "str"), (None, "NoneType")]
)
def test_a_value_that_is_not_an_object_is_refused(value, type_name):
    with pytest.raises(ValueError, match=f"expected a JSON object, got {type_name}"):
        parse_entry(value)


# -- read_jsonl ----------------------------------------------------------------------------------


def test_read_jsonl_returns_the_entries_in_file_order():
    entries = read_jsonl([line(entry(id="a")), line(entry(id="b"))], "kb.jsonl")

    assert [e.id for e in entries] == ["a", "b"]


def test_read_jsonl_skips_blank_lines():
    assert (
        len(read_jsonl([line(entry(id="a")), "\n", "   \n", line(entry(id="b"))], "kb.jsonl")) == 2
    )


def test_invalid_json_is_reported_with_its_line_number():
    assert problems([line(MINIMAL), "\n", "{not json\n"]) == [
        "line 3: not valid JSON (Expecting property name enclosed in double quotes at column 2)"
    ]


def test_an_invalid_entry_is_reported_with_its_line_number_and_reason():
    assert problems([line(entry(id="a")), line({"id": "b", "error": "e"})]) == [
        'line 2: "solution" is required and must not be empty'
    ]


def test_a_duplicate_id_is_reported_with_both_lines():
    assert problems([line(entry(id="a")), line(entry(id="b")), line(entry(id=" a "))]) == [
        "line 3: id 'a' already used on line 1"
    ]


def test_every_problem_in_the_file_is_listed():
    lines = [
        line(entry(id="a")),
        line(entry(id="a")),
        "{bad\n",
        line(entry(extra=1)),
        line([1]),
        line(entry(id="c")),
    ]

    assert [p.split(":")[0] for p in problems(lines)] == ["line 2", "line 3", "line 4", "line 5"]


def test_one_bad_line_rejects_the_whole_file_with_a_message_that_says_nothing_was_imported():
    with pytest.raises(ImportFailed) as failure:
        read_jsonl([line(entry(id="a")), "oops\n", line(entry(id="b"))], "kb.jsonl")

    message = str(failure.value)
    assert message.startswith(
        "kb.jsonl: 1 malformed line(s); nothing was imported. Fix them and import again:\n  line 2:"
    )


def test_the_failure_message_shows_twenty_problems_and_counts_the_rest():
    with pytest.raises(ImportFailed) as failure:
        read_jsonl(["oops\n"] * 25, "kb.jsonl")

    assert len(failure.value.problems) == 25
    assert str(failure.value).count("not valid JSON") == 20
    assert str(failure.value).endswith("\n  ... and 5 more")


def test_variants_are_other_wordings_of_the_error_and_round_trip():
    value = {"id": "ruff:RUF100", "error": "Unused {}", "solution": "Remove it.",
             "variants": ["Unused {} ({})", "Unused blanket {}", "Unused {}"]}
    parsed = parse_entry(value)
    assert parsed.variants == ("Unused {} ({})", "Unused blanket {}")  # the error itself is not repeated
    assert parsed.wordings == ("Unused {}", "Unused {} ({})", "Unused blanket {}")
    assert parse_entry(parsed.to_json()) == parsed
    assert "variants" not in parse_entry({"id": "a", "error": "b", "solution": "c"}).to_json()


@pytest.mark.parametrize("variants", ["Unused {}", [""], [3], ["x"] * 33])
def test_variants_that_are_not_a_short_list_of_wordings_are_refused(variants):
    with pytest.raises(ValueError, match='"variants"'):
        parse_entry({"id": "a", "error": "b", "solution": "c", "variants": variants})
