"""The outcome tracker and learned edits, directly (pure logic, no server)."""

from __future__ import annotations

import re

from hybrid_lsp.edits import from_pattern
from hybrid_lsp.history import Interaction
from hybrid_lsp.learning import demoted, learned_edit
from hybrid_lsp.outcomes import OutcomeTracker, PendingFix

BEFORE = ["import os", "", "def f():", "    return nmae", ""]
AFTER = ["import os", "", "def f():", "    return name", ""]
MESSAGE = "Undefined name `nmae`"


def tracker_with_fix(window: float = 60.0) -> OutcomeTracker:
    tracker = OutcomeTracker(window)
    tracker.offered(PendingFix("i1", "file:///a.py", "fp", MESSAGE, 3, ("    return nmae",), ("    return name",), 0.0))
    return tracker


def test_the_edit_appearing_in_the_document_counts_as_acceptance():
    tracker = tracker_with_fix()
    assert tracker.document_changed("file:///a.py", AFTER, 2, 1.0) == [("i1", "accepted")]


def test_unrelated_edits_do_not_accept_a_fix():
    tracker = tracker_with_fix()
    assert tracker.document_changed("file:///a.py", ["# comment", *BEFORE], 2, 1.0) == []


def test_the_old_lines_returning_within_the_window_undo_the_fix():
    tracker = tracker_with_fix()
    tracker.accepted("i1", 1.0, 2)
    assert tracker.document_changed("file:///a.py", ["# moved down", *BEFORE], 3, 5.0) == [("i1", "undone")]


def test_going_back_after_the_undo_window_is_a_new_change_not_an_undo():
    tracker = tracker_with_fix(window=10.0)
    tracker.accepted("i1", 1.0, 2)
    tracker.diagnostics("file:///a.py", set(), 2, complete=True)
    assert tracker.document_changed("file:///a.py", BEFORE, 3, 100.0) == []


def test_diagnostics_computed_before_the_fix_give_no_verdict():
    tracker = tracker_with_fix()
    tracker.accepted("i1", 1.0, 2)
    assert tracker.diagnostics("file:///a.py", {("fp", MESSAGE)}, 1, complete=True) == []
    assert tracker.diagnostics("file:///a.py", {("fp", MESSAGE)}, 2, complete=True) == [("i1", "failed")]


def test_the_error_gone_from_a_complete_round_validates_the_fix():
    tracker = tracker_with_fix()
    tracker.accepted("i1", 1.0, 2)
    assert tracker.diagnostics("file:///a.py", {("fp", "Undefined name `other`")}, 2, complete=True) == [("i1", "validated")]


def test_a_code_action_context_cannot_prove_an_error_is_gone():
    tracker = tracker_with_fix()
    tracker.accepted("i1", 1.0, 2)
    assert tracker.diagnostics("file:///a.py", set(), 2, complete=False) == []


def test_without_versions_presence_counts_only_from_the_second_round():
    tracker = tracker_with_fix()
    tracker.accepted("i1", 1.0, None)
    assert tracker.diagnostics("file:///a.py", {("fp", MESSAGE)}, None, complete=True) == []
    assert tracker.diagnostics("file:///a.py", {("fp", MESSAGE)}, None, complete=True) == [("i1", "failed")]


def test_a_newer_offer_for_the_same_error_makes_the_older_one_ignored():
    tracker = tracker_with_fix()
    newer = PendingFix("i2", "file:///a.py", "fp", MESSAGE, 3, ("    return nmae",), ("    return nam",), 2.0)
    assert tracker.offered(newer) == [("i1", "ignored")]


def test_closing_the_document_ignores_offers_never_applied_but_not_accepted_ones():
    tracker = tracker_with_fix()
    tracker.offered(PendingFix("i2", "file:///a.py", "fp2", "other", 0, ("import os",), (), 0.0))
    tracker.accepted("i2", 1.0, 2)
    assert tracker.closed("file:///a.py") == [("i1", "ignored")]


def interaction(**overrides) -> Interaction:
    values = dict(kind="fix", query=MESSAGE, fingerprint="fp", route="local", relevance=0.97, complexity=2,
                  reason="", span_start=3, span_end=3, edit_start=3,
                  old_lines=["    return nmae"], new_lines=["    return name"])
    values.update(overrides)
    return Interaction(**values)


def test_a_learned_edit_replays_on_the_same_code_and_names_the_identifier_by_placeholder():
    edit = learned_edit(interaction())
    assert "{id1}" in edit.pattern
    replayed = from_pattern("\n".join(BEFORE), 3, 3, edit.pattern, edit.replacement, ("nmae",))
    assert replayed.new_lines == ("    return name",)


def test_a_learned_edit_does_not_apply_to_different_code():
    edit = learned_edit(interaction())
    other = "def f():\n    return nmae + 1\n"
    assert re.search(edit.pattern.replace("{id1}", "nmae"), other, re.M) is None


def test_an_edit_outside_the_diagnostic_lines_is_not_learned_as_a_stored_fix():
    assert learned_edit(interaction(edit_start=1, old_lines=["", "def f():"], new_lines=["def f(x):"])) is None


def test_a_learned_deletion_removes_the_whole_line():
    edit = learned_edit(interaction(query="`os` imported but unused", old_lines=["import os"], new_lines=[],
                                    span_start=0, span_end=0, edit_start=0))
    replayed = from_pattern("\n".join(BEFORE), 0, 0, edit.pattern, edit.replacement, ("os",))
    assert replayed.new_lines == ()


def test_an_entry_is_demoted_once_failures_outnumber_successes_twice_over():
    assert not demoted({"rejected": 1})
    assert not demoted({"rejected": 2, "validated": 2})
    assert demoted({"rejected": 1, "undone": 1, "validated": 1})
