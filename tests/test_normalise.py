"""normalise.py: one error reads the same wherever it happens, and keeps the values it names."""

from __future__ import annotations

import re

import pytest

from hybrid_lsp.normalise import (
    MAX_MESSAGE_CHARS,
    canonical_code,
    canonical_source,
    error_line,
    fingerprint,
    normalise,
)

# -- normalise: quoted identifiers ----------------------------------------------------------------


def test_quoted_identifiers_become_placeholders_in_order():
    result = normalise("Cannot access attribute 'bar' for class 'Foo'")

    assert result.text == "Cannot access attribute <ID> for class <ID>"
    assert result.identifiers == ("bar", "Foo")


@pytest.mark.parametrize(
    ("message", "identifier"),
    [
        ("`os` imported but unused", "os"),
        ('"x1" is not defined', "x1"),
        ("‘smart’ is not defined", "smart"),
        ("“double” is not defined", "double"),
    ],
)
def test_backticks_double_and_typographic_quotes_also_mark_identifiers(message, identifier):
    result = normalise(message)

    assert result.text.startswith("<ID> ")
    assert result.identifiers == (identifier,)


def test_quoted_builtin_type_names_are_kept_as_meaningful_text():
    result = normalise("Argument of type 'None' cannot be assigned to parameter of type 'str'")

    assert result.text == "Argument of type 'None' cannot be assigned to parameter of type 'str'"
    assert result.identifiers == ()


def test_a_quoted_placeholder_is_not_taken_for_an_identifier():
    result = normalise("Import '/home/me/project/foo.py' could not be resolved")

    assert result.text == "Import '<PATH>' could not be resolved"
    assert result.identifiers == ()


def test_an_apostrophe_in_a_contraction_does_not_open_a_quoted_identifier():
    # A common Python message: the apostrophe of "can't" must not pair with the quote of 'float'.
    message = "TypeError: can't multiply sequence by non-int of type 'float'"

    result = normalise(message)

    assert result.text == message
    assert result.identifiers == ()


def test_identifiers_hold_the_original_values_never_a_placeholder():
    # Stored fixes substitute identifiers into code ({id1}); a placeholder can never match code.
    result = normalise(
        "Cannot find module '@/components/Foo' or its corresponding type declarations."
    )

    assert not any(re.search(r"<[A-Z]+>", value) for value in result.identifiers)


# -- normalise: paths, addresses, numbers --------------------------------------------------------


def test_a_leading_file_line_column_prefix_is_removed():
    result = normalise("/home/user/project/app.py:12:5: F401 `os` imported but unused")

    assert result.text == "F401 <ID> imported but unused"


def test_a_relative_file_prefix_is_removed_too():
    assert (
        normalise("app.py:12:5: F401 `os` imported but unused").text
        == "F401 <ID> imported but unused"
    )


def test_posix_paths_with_line_and_column_become_one_placeholder():
    assert (
        normalise("Error at /home/u/x.py:3:4 while loading").text == "Error at <PATH> while loading"
    )


def test_windows_paths_become_path_placeholders():
    assert normalise("C:\\Users\\me\\x.py:3 failed").text == "<PATH> failed"


def test_relative_and_home_paths_become_path_placeholders():
    assert normalise("../rel/path.py and ./x and ~/y/z").text == "<PATH> and <PATH> and <PATH>"


def test_urls_become_url_placeholders():
    assert normalise("see https://example.com/a?b=1 for details").text == "see <URL> for details"


def test_uuids_hex_addresses_and_hashes_get_their_own_placeholders():
    message = "object 0xdeadBEEF id 123e4567-e89b-12d3-a456-426614174000 commit " + "a1" * 20

    assert normalise(message).text == "object <HEX> id <UUID> commit <HASH>"


def test_standalone_numbers_become_number_placeholders():
    assert normalise("expected 3 arguments, got -2.5").text == "expected <NUM> arguments, got <NUM>"


def test_rule_codes_and_names_containing_digits_are_left_alone():
    assert normalise("E501 value v2 and x3y and 12abc").text == "E501 value v2 and x3y and 12abc"


def test_runs_of_whitespace_collapse_to_one_space_and_ends_are_trimmed():
    assert normalise("   many    spaces\there  ").text == "many spaces here"


def test_the_same_error_about_different_names_and_places_normalises_identically():
    first = normalise("/a/b.py:1:1: Import 'numpy' could not be resolved")
    second = normalise("/c/d/e.py:40:9: Import 'pandas' could not be resolved")

    assert first.text == second.text
    assert (first.identifiers, second.identifiers) == (("numpy",), ("pandas",))


# -- normalise: long and multi-line messages -----------------------------------------------------


def test_a_message_over_the_limit_is_marked_truncated_and_cut_to_the_limit():
    result = normalise("x" * (MAX_MESSAGE_CHARS + 500))

    assert result.truncated is True
    assert result.text == "x" * MAX_MESSAGE_CHARS


def test_a_message_at_the_limit_is_not_truncated():
    assert normalise("x" * MAX_MESSAGE_CHARS).truncated is False


def test_a_python_traceback_normalises_to_its_exception_line():
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "x.py", line 3, in <module>\n'
        "    foo()\n"
        "NameError: name 'foo' is not defined"
    )

    result = normalise(traceback)

    assert result.text == "NameError: name <ID> is not defined"
    assert result.identifiers == ("foo",)


def test_an_empty_message_normalises_to_empty_text():
    assert normalise("") == normalise("   \n ")
    assert normalise("").text == ""


# -- error_line ----------------------------------------------------------------------------------


def test_error_line_returns_a_single_line_unchanged():
    assert error_line("x is not defined") == "x is not defined"


def test_error_line_picks_the_last_line_of_a_traceback():
    assert (
        error_line("Traceback (most recent call last):\n  File x\nValueError: bad")
        == "ValueError: bad"
    )


def test_error_line_picks_the_first_line_that_names_an_error():
    output = "note: in this expansion\nerror[E0382]: borrow of moved value\nhelp: clone it"

    assert error_line(output) == "error[E0382]: borrow of moved value"


def test_error_line_recognises_an_exception_class_name_at_the_start_of_a_line():
    assert error_line("during handling\nKeyError: 'a'\nmore") == "KeyError: 'a'"


def test_error_line_falls_back_to_the_first_non_blank_line():
    assert error_line("\n  first line  \nsecond line") == "  first line"


def test_error_line_of_blank_text_is_empty():
    assert error_line("\n   \n") == ""


# -- canonical_source and canonical_code ---------------------------------------------------------


@pytest.mark.parametrize(
    ("reported", "canonical"),
    [
        ("Pylance", "pyright"),
        ("basedpyright", "pyright"),
        ("ruff-lsp", "ruff"),
        ("tsserver", "ts"),
        ("typescript", "ts"),
        ("rust-analyzer", "rustc"),
        ("gopls", "go"),
        ("bash-language-server", "shellcheck"),
        ("nil", "nix"),
    ],
)
def test_canonical_source_maps_editor_names_to_one_tool_name(reported, canonical):
    assert canonical_source(reported) == canonical


def test_canonical_source_ignores_case_and_surrounding_space():
    assert canonical_source("  PyLance ") == "pyright"


def test_canonical_source_lowercases_an_unknown_tool():
    assert canonical_source("My-Linter") == "my-linter"


@pytest.mark.parametrize("missing", [None, ""])
def test_canonical_source_of_nothing_is_empty(missing):
    assert canonical_source(missing) == ""


def test_canonical_code_turns_an_integer_code_into_text():
    assert canonical_code(2304) == "2304"


def test_canonical_code_keeps_a_zero_code():
    assert canonical_code(0) == "0"


@pytest.mark.parametrize("code", ["TS2304", "ts2304"])
def test_canonical_code_drops_the_typescript_prefix(code):
    assert canonical_code(code) == "2304"


def test_canonical_code_strips_surrounding_space():
    assert canonical_code(" F401 ") == "F401"


@pytest.mark.parametrize("code", [None, True, False])
def test_canonical_code_of_none_or_a_boolean_is_empty(code):
    assert canonical_code(code) == ""


# -- fingerprint ---------------------------------------------------------------------------------


def test_fingerprint_is_twenty_hex_characters():
    assert re.fullmatch(r"[0-9a-f]{20}", fingerprint("ruff", "F401", "<ID> imported but unused"))


def test_fingerprint_is_the_same_for_the_same_error_about_different_names():
    first = normalise("`os` imported but unused").text
    second = normalise("`sys` imported but unused").text

    assert fingerprint("ruff", "F401", first) == fingerprint("ruff", "F401", second)


def test_fingerprint_treats_tool_aliases_and_code_spellings_as_the_same():
    assert fingerprint("Pylance", "TS2304", "x") == fingerprint("pyright", 2304, "x")


@pytest.mark.parametrize(
    ("source", "code", "text"),
    [
        ("mypy", "F401", "<ID> imported but unused"),
        ("ruff", "F811", "<ID> imported but unused"),
        ("ruff", "F401", "<ID> redefined"),
    ],
)
def test_fingerprint_changes_with_the_tool_the_code_or_the_text(source, code, text):
    assert fingerprint(source, code, text) != fingerprint(
        "ruff", "F401", "<ID> imported but unused"
    )


# -- normalise: template words, stars and placeholders --------------------------------------------


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ("`os.chmod()` should be replaced by `Path.chmod()`", "'os.chmod'() should be replaced by 'Path.chmod'()"),
        ("Unnecessary `pass` statement", "Unnecessary 'pass' statement"),
        ("Logging statement uses `+`", "Logging statement uses '+'"),
        ("Missing type annotation for `**kwargs`", "Missing type annotation for **<ID>"),
        ("Missing type annotation for `*args`", "Missing type annotation for *<ID>"),
    ],
)
def test_quoted_template_words_keywords_and_builtins_are_kept(message, text):
    assert normalise(message).text == text


def test_a_tool_message_format_normalises_like_the_messages_it_formats():
    assert normalise("Missing type annotation for `**{name}`").text == normalise("Missing type annotation for `**ka`").text
    assert normalise("Redefinition of unused `{name}` from {row}").text == "Redefinition of unused <ID> from <ARG>"


def test_a_chain_is_reduced_to_its_headline_not_to_a_later_line_naming_an_error():
    message = ("No overload matches this call.\n  Overload 1 of 2, '(config: AjaxConfig)', gave the following error.\n"
               "    Argument of type 'string' is not assignable.")

    assert error_line(message) == "No overload matches this call."


def test_the_error_line_of_compiler_output_is_the_one_that_states_the_error():
    assert error_line("note: in this macro\nerror[E0308]: mismatched types") == "error[E0308]: mismatched types"


# -- equivalent rules of other tools ----------------------------------------------------------------


def test_a_rule_without_entries_is_answered_by_its_equivalents_and_a_pattern_narrows_the_alias():
    from hybrid_lsp.normalise import alias_keys

    assert alias_keys("mypy:no-redef", "Name <ID> already defined (possibly by an import)") == ["ruff:F811"]
    assert alias_keys("pyright:reportSelfClsParameterName", "Class methods should take a 'cls' parameter") == ["ruff:N804"]
    assert alias_keys("pyright:reportGeneralTypeIssues", "Invalid exception class or object") == []


def test_a_bare_message_worded_as_a_known_rule_names_that_rule_in_its_language_only():
    from hybrid_lsp.normalise import message_keys

    text = normalise('Name "BytesIO" already defined (possibly by an import)').text
    assert message_keys(text, "python") == ["mypy:no-redef"]
    assert message_keys(text, "rust") == []


def test_a_redeclared_typescript_variable_or_a_mypy_or_cpython_call_mismatch_reaches_the_entries_that_answer_it():
    from hybrid_lsp.normalise import alias_keys, message_keys

    redeclared = normalise("Cannot redeclare exported variable 'sendfile'.").text
    assert message_keys(redeclared, "typescript") == ["ts:2323"]
    assert alias_keys("ts:2323", redeclared) == ["ts:2451"]
    missing = normalise('Missing positional argument "fix" in call to "depr"').text
    assert [alias for own in message_keys(missing, "python") for alias in alias_keys(own, missing)] == ["pyright:reportCallIssue"]
    keyword = normalise("TypeError: fetch() got an unexpected keyword argument 'timeout'").text
    assert [alias for own in message_keys(keyword, "python") for alias in alias_keys(own, keyword)] == ["mypy:call-arg"]
    assert alias_keys("python:TypeError", normalise("TypeError: 'int' object is not iterable").text) == []


# -- compiler severity labels and quoted calls --------------------------------------------------------


def test_a_compiler_severity_label_is_not_part_of_the_message():
    assert normalise("error[E0382]: borrow of moved value: `v`").text == normalise("borrow of moved value: `w`").text
    assert normalise("warning: unused variable: `x`").text == "unused variable: <ID>"
    assert normalise("src/main.rs:3:5: error: could not compile").text == "could not compile"
    assert normalise("fatal error: all goroutines are asleep - deadlock!").text.startswith("fatal error:")


def test_a_quoted_call_keeps_its_parentheses_so_a_call_and_a_bare_name_stay_apart():
    from hybrid_lsp.relevance import template_match

    call = normalise("Unnecessary `dict()` call (rewrite as a literal)").text
    assert call == "Unnecessary 'dict'() call (rewrite as a literal)"
    assert template_match(call, normalise("Unnecessary `{kind}()` call (rewrite as a literal)").text) == 1.0
    assert template_match(call, normalise("Unnecessary `{literal_type}` call (rewrite as a literal)").text) == 0.0
    result = normalise("Call `client.fetch()` before `__init__()`")
    assert result.text == "Call <ID>() before '__init__'()"
    assert result.identifiers == ("client.fetch()",)
