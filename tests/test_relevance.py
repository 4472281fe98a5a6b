"""relevance.py: template matching of normalised messages."""

from __future__ import annotations

from hybrid_lsp.normalise import normalise
from hybrid_lsp.relevance import literal_fit, template_match, template_words


def n(text: str) -> str:
    return normalise(text).text


def test_a_message_matches_the_template_it_was_formatted_from():
    assert template_match(n("Redefinition of unused `load` from line 3"), n("Redefinition of unused `{name}` from {row}")) == 1.0
    assert template_match(n("Line too long (95 > 88)"), n("Line too long ({width} > {limit})")) == 1.0


def test_a_name_slot_takes_a_kept_builtin_but_fixed_words_must_agree():
    assert template_match(n("Unnecessary `float` call (rewrite as a literal)"),
                          n("Unnecessary `{literal_type}` call (rewrite as a literal)")) == 1.0
    assert template_match(n("Missing type annotation for `**kwargs`"), n("Missing type annotation for `*{name}`")) == 0.0
    assert template_match(n("Logging statement uses `+`"), n("Logging statement uses `%`")) == 0.0


def test_a_template_with_hardly_any_fixed_words_matches_nothing():
    assert template_match("<ID>", "<ID>") == 0.0
    assert template_match("error <ID>", "<ID> <ARG>") == 0.0


def test_a_more_specific_template_has_more_fixed_words():
    assert template_words(n("AttributeError: 'NoneType' object has no attribute 'x'")) > template_words(
        n("AttributeError: 'Stack' object has no attribute 'push'"))


def test_the_raw_message_tells_apart_formats_that_normalise_alike():
    ne, eq = "Use `{left} != {right}` instead of `not {left} == {right}`", "Use `{left} == {right}` instead of `not {left} != {right}`"
    message = "Use `tz.tzlocal() != tzoff` instead of `not tz.tzlocal() == tzoff`"
    assert n(ne) == n(eq)  # what normalisation leaves of them
    assert literal_fit(message, ne) > 0
    assert literal_fit(message, eq) == -1
    # The generic format fits as well, less closely: fewer fixed characters.
    assert 0 <= literal_fit(message, "Use `{expected}` instead of `{actual}`") < literal_fit(message, ne)


def test_a_named_placeholder_used_twice_is_filled_twice_with_the_same_text():
    supertype = "Use `{supertype}` instead of `{subtype} | {supertype}`"
    assert literal_fit("Use `float` instead of `int | float`", supertype) > 0
    assert literal_fit("Use `float` instead of `int | str`", supertype) == -1


def test_a_wording_without_placeholders_fits_only_its_very_words():
    assert literal_fit("Subclasses of `str` should define `__slots__`.", "Subclasses of `str` should define `__slots__`") > 0
    assert literal_fit("Subclasses of `tuple` should define `__slots__`", "Subclasses of `str` should define `__slots__`") == -1
