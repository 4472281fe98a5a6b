"""Routing that learns, and honest accounting (pure parts)."""

from __future__ import annotations

from hybrid_lsp.accounting import RemoteUsage, cost
from hybrid_lsp.chart import svg
from hybrid_lsp.config import Routing
from hybrid_lsp.routing import Availability, adapt_offset, ask_complexity, decide, worse_beyond_margin

BOTH = Availability(True, True)


def test_the_counterfactual_uses_the_ratio_measured_on_remote_calls():
    usage = RemoteUsage.measure([(4000, 1000, 300), (2000, 500, 100), (0, 0, 0)])
    assert usage.chars_per_token == 4.0 and usage.completion_tokens == 200 and usage.samples == 2
    assert usage.estimate(8000) == (2000, 200)


def test_without_remote_calls_the_counterfactual_falls_back_to_a_stated_default():
    assert RemoteUsage.measure([]).estimate(700) == (200, 200)
    assert RemoteUsage().estimate(0) == (0, 0)


def test_cost_comes_from_the_price_table_and_dated_names_price_like_their_family():
    prices = {"claude-sonnet-5-5": (3.0, 15.0)}
    assert cost(prices, "claude-sonnet-5-5", 1_000_000, 0) == 3.0
    assert cost(prices, "claude-sonnet-5-5-20261001", 0, 1_000_000) == 15.0
    assert cost(prices, "unknown-model", 10, 10) == 0.0


def test_local_answers_accepted_less_than_remote_ones_raise_the_bar():
    assert adapt_offset(0.0, local_share=0.5, local_accept=0.6, remote_accept=0.9, local_decided=25,
                        remote_decided=25, target=0.7, margin=0.05) == -0.02


def test_local_answers_at_the_margin_by_chance_do_not_raise_the_bars():
    # A replayed stream: the local model with the right stored solution in its prompt is accepted
    # 90% of the time, the remote one 95%, so 500 local outcomes land at 88% about as often as 92%.
    # Raising the bars would send good local answers to the remote API and improve nothing.
    assert adapt_offset(0.0, local_share=0.86, local_accept=0.88, remote_accept=0.95, local_decided=500,
                        remote_decided=60, target=0.7, margin=0.05) == 0.0
    assert adapt_offset(-0.1, local_share=0.86, local_accept=0.88, remote_accept=0.95, local_decided=500,
                        remote_decided=60, target=0.7, margin=0.05) == -0.08  # raised on noise: they come back


def test_local_answers_clearly_worse_beyond_the_margin_raise_the_bars():
    assert worse_beyond_margin(0.80, 500, 0.95, 200, margin=0.05)
    assert not worse_beyond_margin(0.80, 25, 0.95, 20, margin=0.05)  # the same rates on a few outcomes
    assert not worse_beyond_margin(0.92, 5000, 0.95, 5000, margin=0.05)  # within the margin
    assert not worse_beyond_margin(0.0, 20, 0.0, 20, margin=0.05)  # no better than remote, but not worse
    assert adapt_offset(0.0, local_share=0.8, local_accept=0.80, remote_accept=0.95, local_decided=500,
                        remote_decided=200, target=0.7, margin=0.05) == -0.02


def test_raised_bars_come_back_once_local_answers_do_as_well_as_remote_ones():
    assert adapt_offset(-0.1, local_share=0.8, local_accept=0.9, remote_accept=0.92, local_decided=30,
                        remote_decided=30, target=0.7, margin=0.05) == -0.08


def test_a_handful_of_remote_outcomes_is_not_evidence_against_local():
    assert adapt_offset(0.0, local_share=0.8, local_accept=0.8, remote_accept=1.0, local_decided=40,
                        remote_decided=4, target=0.7, margin=0.05) == 0.0


def test_below_the_target_share_with_good_local_answers_lowers_the_bar():
    assert adapt_offset(0.0, local_share=0.5, local_accept=0.88, remote_accept=0.9, local_decided=10,
                        target=0.7, margin=0.05) == 0.02


def test_the_learned_offset_is_bounded():
    assert adapt_offset(0.15, local_share=0.1, local_accept=None, remote_accept=None, local_decided=0,
                        target=0.7, margin=0.05) == 0.15


def test_too_few_local_outcomes_do_not_count_as_evidence_against_local():
    assert adapt_offset(0.0, local_share=0.9, local_accept=0.0, remote_accept=1.0, local_decided=2,
                        target=0.7, margin=0.05) == 0.0


def test_a_learned_offset_moves_a_query_from_remote_to_local():
    routing = Routing()
    assert decide(0.8, 5, routing, BOTH, known_edit=False, has_match=True).target == "remote"
    assert decide(0.8, 5, routing, BOTH, known_edit=False, has_match=True, offset=0.06).target == "local"


def test_a_policy_can_be_chosen_per_language():
    routing = Routing(languages={"rust": "critical"})
    assert decide(0.9, 3, routing, BOTH, known_edit=False, has_match=True, language="python").target == "local"
    assert decide(0.9, 3, routing, BOTH, known_edit=False, has_match=True, language="rust").target == "remote"


def test_ask_complexity_grows_with_the_question_and_the_code():
    assert ask_complexity("What does this do?", None) == 2
    long_question = " ".join(["word"] * 90) + "? and why? and how?"
    assert ask_complexity(long_question, "\n".join(["x = 1"] * 200)) == 8


def test_the_chart_draws_one_bar_segment_per_route_and_day():
    stats = {"share_without_remote": 0.75, "tokens": {"saved": 1200},
             "days": [{"day": "2026-11-23", "known": 2, "local": 1, "remote": 1, "remote_tokens": 500, "saved_tokens": 900}]}
    drawing = svg(stats)
    assert drawing.count("<rect") == 3 + 3  # three segments, three legend boxes
    assert "share without remote: 75%" in drawing
