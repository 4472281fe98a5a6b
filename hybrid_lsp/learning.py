"""What outcomes teach the knowledge base: promotion of validated fixes, demotion of bad ones.

Every outcome is first written to interaction-history (the record of truth), then its effects are
applied to the entries: each entry keeps a map interaction id -> outcome, so re-applying an effect
changes nothing, and an interaction is marked `effects_applied` last. A crash between the writes
leaves an interaction whose effects `reconcile()` applies again at the next start.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable

from .history import History, Interaction
from .knowledge import Entry, KnowledgeBase, StoredEdit
from .normalise import normalise
from .relevance import FAILURES, SUCCESSES

log = logging.getLogger(__name__)
FINAL = ("accepted", "rejected", "undone", "validated", "failed", "ignored")
GOOD, BAD = SUCCESSES, FAILURES
PATTERN_AFTER_VALIDATIONS = 2


def outcome_counts(outcomes: dict[str, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def demoted(counts: dict[str, int]) -> bool:
    """A stored fix that keeps failing the user stops being served as a known fix."""
    good = sum(counts.get(o, 0) for o in GOOD)
    bad = sum(counts.get(o, 0) for o in BAD)
    return bad >= 2 and bad > good


def _with_placeholders(text: str, identifiers: tuple[str, ...], escape: bool) -> str:
    out = re.escape(text) if escape else text.replace("\\", "\\\\")
    for index, identifier in enumerate(identifiers, start=1):
        needle = re.escape(identifier) if escape else identifier.replace("\\", "\\\\")
        if identifier and needle in out:
            out = out.replace(needle, f"{{id{index}}}")
    return out


def learned_edit(interaction: Interaction) -> StoredEdit | None:
    """The model's edit as a stored fix, applicable where the same code shows the same error.

    Only edits inside the diagnostic's own lines can be replayed (stored fixes rewrite those lines);
    the old lines must match exactly, names of the message aside, so a learned fix is never
    applied to code it was not made for.
    """
    old, new = tuple(interaction.old_lines), tuple(interaction.new_lines)
    if not old or interaction.edit_start < interaction.span_start:
        return None
    if interaction.edit_start + len(old) - 1 > interaction.span_end:
        return None
    identifiers = normalise(interaction.query).identifiers
    pattern = "^" + "\n".join(_with_placeholders(line, identifiers, escape=True) for line in old) + "$"
    replacement = "\n".join(_with_placeholders(line, identifiers, escape=False) for line in new)
    if not new:
        pattern += "\n"
    return StoredEdit(pattern, replacement)


class Learning:
    def __init__(self, knowledge: KnowledgeBase, history: History) -> None:
        self.knowledge = knowledge
        self.history = history
        # Routing adaptation hooks in here: called with the interaction and the outcome it had before.
        self.on_outcome: Callable[[Interaction, str], None] | None = None

    def record(self, interaction_id: str, outcome: str, reason: str = "") -> Interaction:
        """Write the outcome (durable before this returns), then apply what it teaches."""
        previous, interaction = self.history.change_outcome(interaction_id, outcome, reason)
        self.apply_effects(interaction)
        if self.on_outcome is not None and interaction.outcome != previous:
            self.on_outcome(interaction, previous)
        return interaction

    def apply_effects(self, interaction: Interaction) -> None:
        if interaction.outcome not in FINAL:
            return
        if interaction.outcome == "ignored":
            # Weak evidence: it changes no entry, and nothing needs syncing for it.
            self.history.mark(interaction.id, sync=False, effects_applied="ignored")
            return
        if interaction.served_entry:
            self.knowledge.record_outcome(interaction.served_entry, interaction.id, interaction.outcome)
        if interaction.outcome == "validated" and interaction.route in ("local", "remote") and interaction.has_edit:
            self._promote(interaction)
        elif interaction.learned_entry:
            # A promoted fix later undone or rejected: its entry hears about it too.
            self.knowledge.record_outcome(interaction.learned_entry, interaction.id, interaction.outcome)
        self.history.mark(interaction.id, effects_applied=interaction.outcome)

    def _promote(self, interaction: Interaction) -> None:
        edit = learned_edit(interaction)
        digest = hashlib.sha256(((edit.pattern + "\x00" + edit.replacement) if edit else interaction.explanation).encode()).hexdigest()[:10]
        entry_id = f"learned:{interaction.fingerprint}:{digest}"
        if self.knowledge.get(entry_id) is None:
            self.knowledge.add([Entry(
                id=entry_id,
                error=interaction.query,
                solution=interaction.explanation,
                title="Learned fix" + (f" for {interaction.source} {interaction.code}".rstrip() if interaction.source else ""),
                fix="\n".join(interaction.new_lines),
                language=interaction.language,
                source=interaction.source,
                code=interaction.code,
                tags=("learned", interaction.route),
                edit=edit,
            )])
            log.info("promoted interaction %s to %s", interaction.id, entry_id)
        counts = self.knowledge.record_outcome(entry_id, interaction.id, "validated")
        # Worth: it worked (1), it was reused (each further validation of the same fix), and it
        # saved remote tokens every time (per thousand).
        value = 1.0 + (counts.get("validated", 1) - 1) + interaction.saved_tokens / 1000
        self.history.mark(interaction.id, learned_entry=entry_id, value=round(value, 3))
        interaction.learned_entry = entry_id
        if counts.get("validated", 0) >= PATTERN_AFTER_VALIDATIONS:
            self._extract_pattern(interaction, counts)

    def _extract_pattern(self, interaction: Interaction, counts: dict[str, int]) -> None:
        """A fix that keeps working becomes a reusable pattern in skills-patterns."""
        template = normalise(interaction.query).text
        before, after = "\n".join(interaction.old_lines), "\n".join(interaction.new_lines)
        self.knowledge.add([Entry(
            id=f"pattern:{interaction.fingerprint}",
            error=template,
            solution=f"{interaction.explanation} (validated {counts.get('validated', 0)} times)",
            title=f"Pattern: {template[:80]}",
            fix=f"Before:\n{before}\nAfter:\n{after}",
            language=interaction.language,
            source=interaction.source,
            code=interaction.code,
            tags=("pattern", "learned"),
            collection="skills-patterns",
        )])

    def reconcile(self) -> int:
        """Apply the effects of outcomes written just before a crash."""
        pending = [i for i in self.history.list() if i.outcome in FINAL and i.effects_applied != i.outcome]
        for interaction in pending:
            self.apply_effects(interaction)
        return len(pending)
