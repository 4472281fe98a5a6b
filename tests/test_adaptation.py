"""Routing adaptation follows outcomes from counts kept as they happen, not from re-reading history."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from hybrid_lsp.config import Settings
from hybrid_lsp.history import Interaction
from hybrid_lsp.pipeline import Pipeline
from hybrid_lsp.routing import OutcomeWindow

HOUR = 3600.0


def test_the_window_counts_answers_and_moves_one_count_when_an_outcome_changes():
    window = OutcomeWindow(days=7)
    now = 1_000_000 * HOUR
    for route in ("known", "local", "local", "remote"):
        window.answered(now - 2 * HOUR, route)
    window.settled(now - 2 * HOUR, "local", "offered", "accepted")
    window.settled(now - 2 * HOUR, "local", "offered", "rejected")
    window.settled(now - 2 * HOUR, "remote", "offered", "accepted")
    figures = window.figures(now)
    assert figures["share_without_remote"] == 0.75
    assert figures["decided_by_route"] == {"known": 0, "local": 2, "remote": 1}
    assert figures["accept_rate_by_route"] == {"known": None, "local": 0.5, "remote": 1.0}

    window.settled(now - 2 * HOUR, "local", "accepted", "undone")  # accepted, then taken back
    window.settled(now - 2 * HOUR, "remote", "accepted", "validated")  # still a success
    window.settled(now - 2 * HOUR, "known", "offered", "ignored")  # says nothing
    figures = window.figures(now)
    assert figures["decided_by_route"] == {"known": 0, "local": 2, "remote": 1}
    assert figures["accept_rate_by_route"] == {"known": None, "local": 0.0, "remote": 1.0}


def test_the_window_forgets_what_is_older_than_its_days():
    window = OutcomeWindow(days=7)
    now = 1_000_000 * HOUR
    window.answered(now - 8 * 24 * HOUR, "remote")
    window.settled(now - 8 * 24 * HOUR, "remote", "offered", "rejected")
    window.answered(now - HOUR, "local")
    figures = window.figures(now)
    assert figures["share_without_remote"] == 1.0
    assert figures["decided_by_route"]["remote"] == 0
    assert window.figures(now + 8 * 24 * HOUR)["share_without_remote"] is None


def _record(pipeline: Pipeline, route: str, ts: float) -> str:
    return pipeline.history.record(Interaction(
        kind="fix", query="Undefined name `x`", fingerprint=f"f-{route}", route=route, relevance=0.8,
        complexity=2, reason="", ts=ts))


@pytest.fixture
def pipeline(tmp_path: Path):
    data = tmp_path / "data"
    first = Pipeline(data, Settings(), starter=False)
    now = time.time()
    ids = {"local": [], "remote": []}
    try:
        for n in range(30):
            ids["local"].append(_record(first, "local", now - 3600 - n))
            ids["remote"].append(_record(first, "remote", now - 7200 - n))
        _record(first, "remote", now - 10 * 86400)  # outside the week: must not count
    finally:
        first.close()
    second = Pipeline(data, Settings(), starter=False)  # reads the week once, at start
    second.test_ids = ids
    yield second
    second.close()


def _figures(stats: dict) -> tuple:
    return (round(stats["share_without_remote"], 4), stats["decided_by_route"],
            {k: None if v is None else round(v, 4) for k, v in stats["accept_rate_by_route"].items()})


def test_outcomes_move_the_routing_offset_and_the_counts_match_the_history(pipeline: Pipeline):
    ids = pipeline.test_ids
    assert _figures(pipeline.window.figures(time.time())) == _figures(pipeline.history.stats(7))
    start = pipeline.routing_offset

    # Ignored offers and nine real outcomes: no adaptation step yet.
    for interaction_id in ids["local"][:9]:
        pipeline.learning.record(interaction_id, "ignored")
    for interaction_id in ids["local"][:9]:
        pipeline.learning.record(interaction_id, "rejected")
    assert pipeline.routing_offset == start
    # The tenth: half the answers came from the remote API, below the 70% target: bars go down.
    pipeline.learning.record(ids["local"][9], "rejected")
    assert pipeline.routing_offset > start

    # Once both routes have enough outcomes, local answers rejected while remote ones are
    # accepted raise the bars again.
    for interaction_id in ids["local"][10:25]:
        pipeline.learning.record(interaction_id, "rejected")
    for interaction_id in ids["remote"][:24]:
        pipeline.learning.record(interaction_id, "accepted")
    before = pipeline.routing_offset
    pipeline.learning.record(ids["remote"][24], "accepted")  # the 50th outcome: a step
    assert pipeline.routing_offset < before
    pipeline.learning.record(ids["remote"][0], "undone")
    assert float(pipeline.store.read_meta()["routing_offset"]) == pipeline.routing_offset
    assert _figures(pipeline.window.figures(time.time())) == _figures(pipeline.history.stats(7))


def test_ignored_offers_never_trigger_a_read_of_the_history(pipeline: Pipeline, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("adaptation re-read the history")

    monkeypatch.setattr(pipeline.history, "stats", forbidden)
    monkeypatch.setattr(pipeline.history, "list", forbidden)
    for interaction_id in pipeline.test_ids["local"] + pipeline.test_ids["remote"]:
        pipeline.learning.record(interaction_id, "rejected")
    assert pipeline.routing_offset != 0.0
