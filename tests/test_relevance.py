"""relevance.py: template matching of normalised messages."""

from __future__ import annotations

from hybrid_lsp.normalise import normalise
from hybrid_lsp.relevance import template_match, template_words


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
