"""routing.py: where an answer comes from, and the reason shown to the user."""

from __future__ import annotations

import pytest

from hybrid_lsp.config import Routing
from hybrid_lsp.query import ErrorQuery, Span
from hybrid_lsp.routing import (
    POLICY_RULES,
    Availability,
    Route,
    complexity,
    decide,
    should_use_local,
)

BOTH = Availability(local=True, remote=True)
LOCAL_ONLY = Availability(local=True, remote=False, remote_reason="ANTHROPIC_API_KEY is not set")
REMOTE_ONLY = Availability(local=False, remote=True, local_reason="the local model is disabled")
NEITHER = Availability(
    local=False,
    remote=False,
    local_reason="the local model is disabled",
    remote_reason="ANTHROPIC_API_KEY is not set",
)


def route(
    relevance,
    complexity_score,
    *,
    policy="default",
    availability=BOTH,
    known_edit=False,
    has_match=False,
    **settings,
) -> Route:
    return decide(
        relevance,
        complexity_score,
        Routing(policy=policy, **settings),
        availability,
        known_edit=known_edit,
        has_match=has_match,
    )


# -- complexity ----------------------------------------------------------------------------------


def test_a_one_line_diagnostic_alone_in_its_document_scores_two():
    assert complexity(ErrorQuery("`os` imported but unused", span=Span(3, 0, 3, 9))) == 2


def test_a_diagnostic_without_a_span_counts_as_one_line():
    assert complexity(ErrorQuery("`os` imported but unused")) == 2


def test_an_error_spanning_several_lines_scores_one_more():
    assert complexity(ErrorQuery("`os` imported but unused", span=Span(3, 0, 4, 0))) == 3


def test_an_error_spanning_more_than_five_lines_scores_two_more():
    assert complexity(ErrorQuery("`os` imported but unused", span=Span(3, 0, 8, 0))) == 4


@pytest.mark.parametrize(("in_document", "expected"), [(3, 2), (4, 3), (10, 3), (11, 4)])
def test_a_document_crowded_with_diagnostics_raises_the_score(in_document, expected):
    assert complexity(ErrorQuery("`os` imported but unused"), in_document) == expected


def test_a_long_message_scores_one_more():
    assert complexity(ErrorQuery("x " * 81)) == 3


def test_a_multi_line_message_scores_one_more():
    assert complexity(ErrorQuery("cannot call this\nnote: declared here")) == 3


@pytest.mark.parametrize(
    "word", ["type", "lifetime", "borrow", "generic", "trait", "overload", "incompatible"]
)
def test_errors_about_types_and_ownership_score_two_more(word):
    assert complexity(ErrorQuery(f"{word} mismatch at this call")) == 4


def test_several_type_words_still_add_two_only_once():
    assert complexity(ErrorQuery("Incompatible types in assignment")) == 4


def test_related_diagnostics_score_one_more():
    assert complexity(ErrorQuery("`x` is not defined", related=("`y` is not defined",))) == 3


def test_every_feature_at_once_scores_ten():
    query = ErrorQuery(
        "incompatible type " + "x" * 200, span=Span(0, 0, 9, 0), related=("another",)
    )

    assert complexity(query, diagnostics_in_document=20) == 10


# -- should_use_local ----------------------------------------------------------------------------


def test_should_use_local_when_any_rule_is_met():
    assert should_use_local(0.81, 3, POLICY_RULES["default"]) is True


def test_should_use_local_needs_relevance_strictly_above_the_rule():
    assert should_use_local(0.85, 5, ((0.85, 6),)) is False


def test_should_use_local_needs_complexity_strictly_below_the_rule():
    assert should_use_local(0.9, 6, ((0.85, 6),)) is False


def test_should_use_local_is_false_without_rules():
    assert should_use_local(1.0, 1, ()) is False


# -- decide: a stored fix that applies -----------------------------------------------------------


def test_a_close_match_with_an_applicable_stored_fix_is_served_as_known():
    result = route(0.95, 2, known_edit=True, has_match=True)

    assert result == Route("known", 0.95, 2, "relevance 0.95 >= 0.90 and a stored fix applies")


def test_the_known_threshold_is_inclusive():
    assert route(0.9, 2, known_edit=True, has_match=True).target == "known"


def test_a_match_below_the_known_threshold_is_not_served_as_known():
    assert route(0.89, 2, known_edit=True, has_match=True).target == "local"


def test_a_close_match_without_an_applicable_edit_goes_to_a_model():
    assert route(0.95, 2, known_edit=False, has_match=True).target == "local"


def test_a_known_fix_is_served_even_under_the_remote_first_policy():
    assert route(0.95, 9, policy="remote-first", known_edit=True, has_match=True).target == "known"


def test_the_known_threshold_comes_from_settings():
    assert route(0.75, 2, known_edit=True, has_match=True, known_threshold=0.7).target == "known"


# -- decide: each policy with both models available ----------------------------------------------


@pytest.mark.parametrize(
    ("policy", "relevance", "complexity_score", "target"),
    [
        ("default", 0.86, 5, "local"),
        ("default", 0.81, 3, "local"),
        ("default", 0.71, 2, "local"),
        ("default", 0.85, 5, "remote"),
        ("default", 0.81, 4, "remote"),
        ("default", 0.7, 2, "remote"),
        ("critical", 0.96, 3, "local"),
        ("critical", 0.96, 4, "remote"),
        ("critical", 0.9, 2, "remote"),
        ("casual", 0.66, 6, "local"),
        ("casual", 0.65, 6, "remote"),
        ("casual", 0.9, 7, "remote"),
        ("local-only", 0.0, 10, "local"),
        ("local-only", 0.99, 1, "local"),
        ("remote-first", 0.99, 1, "remote"),
        ("remote-first", 0.1, 10, "remote"),
    ],
)
def test_each_policy_sends_a_query_where_its_rules_say(policy, relevance, complexity_score, target):
    assert route(relevance, complexity_score, policy=policy).target == target


def test_a_simple_close_query_explains_why_it_is_local():
    result = route(0.9, 3)

    assert result.reason == "relevance 0.90, complexity 3: simple enough for the local model"
    assert result.can_fix is True


def test_a_hard_query_explains_why_it_is_remote():
    assert route(0.5, 8).reason == "relevance 0.50, complexity 8: needs the remote model"


def test_the_remote_first_policy_is_named_as_the_reason():
    assert route(0.99, 1, policy="remote-first").reason == "remote-first policy"


def test_the_local_only_policy_is_named_as_the_reason_for_a_hard_query():
    # A complex, weakly matched query goes local only because of the policy; saying it is
    # "simple enough" would mislead the user.
    result = route(0.3, 9, policy="local-only")

    assert result.target == "local"
    assert "local-only policy" in result.reason
    assert "simple enough" not in result.reason


def test_custom_local_rules_replace_the_policy_rules():
    assert route(0.5, 2, local_rules=[(0.4, 3)]).target == "local"
    assert route(0.99, 5, local_rules=[(0.4, 3)]).target == "remote"


# -- decide: when a backend is missing -----------------------------------------------------------


def test_a_local_query_falls_back_to_remote_when_the_local_model_is_missing():
    result = route(0.95, 2, availability=REMOTE_ONLY)

    assert result.target == "remote"
    assert (
        result.reason
        == "local model unavailable (the local model is disabled); using the remote API"
    )
    assert result.can_fix is True


def test_a_remote_query_falls_back_to_local_when_the_remote_api_is_missing():
    result = route(0.5, 8, availability=LOCAL_ONLY)

    assert result.target == "local"
    assert (
        result.reason
        == "remote API unavailable (ANTHROPIC_API_KEY is not set); using the local model"
    )
    assert result.can_fix is True


def test_remote_first_falls_back_to_local_when_the_remote_api_is_missing():
    result = route(0.99, 1, policy="remote-first", availability=LOCAL_ONLY)

    assert result.target == "local"
    assert "remote API unavailable" in result.reason


def test_local_only_never_uses_the_remote_api_even_when_it_is_configured():
    result = route(0.5, 8, policy="local-only", availability=REMOTE_ONLY)

    assert result.target == "local"
    assert result.can_fix is False


def test_without_any_model_a_close_match_is_shown_as_a_stored_explanation():
    result = route(0.95, 8, availability=NEITHER, has_match=True)

    assert result.target == "known"
    assert result.can_fix is False
    assert result.reason == (
        "relevance 0.95; stored solution (no model configured: "
        "the local model is disabled; ANTHROPIC_API_KEY is not set)"
    )


def test_without_any_model_and_no_close_match_nothing_can_fix_it_and_the_reason_says_why():
    result = route(0.5, 8, availability=NEITHER, has_match=True)

    assert result.target == "remote"
    assert result.can_fix is False
    assert result.reason == (
        "relevance 0.50; no model available: the local model is disabled; ANTHROPIC_API_KEY is not set"
    )


def test_without_any_model_local_only_reports_the_local_target():
    result = route(0.5, 8, policy="local-only", availability=NEITHER)

    assert result.target == "local"
    assert result.can_fix is False


# -- Route ---------------------------------------------------------------------------------------


def test_route_to_dict_rounds_relevance_to_four_places():
    assert Route("local", 0.123456, 3, "why").to_dict() == {
        "target": "local",
        "relevance": 0.1235,
        "complexity": 3,
        "reason": "why",
    }
