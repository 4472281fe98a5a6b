"""What became of an offered fix: followed through the document's later edits and diagnostics.

offered -> accepted      the action's command ran, or the edit showed up in the document (clients
                         that apply only the edit)
accepted -> validated    the diagnostic is gone from the next diagnostics of the fixed document
accepted -> failed       it is still there in a round that reflects the fix
accepted/validated -> undone   the fixed lines went back to what they were, within the undo window
offered -> ignored       never applied before the document closed or a newer offer replaced it
Rejection comes from the user (hybridLsp.reject). Pure: the server feeds events in and writes
the transitions that come out.
"""

from __future__ import annotations

from dataclasses import dataclass

Transition = tuple[str, str]  # (interaction id, new outcome)
SEARCH_RADIUS = 20  # lines: edits elsewhere in the file shift the fixed lines


@dataclass(slots=True)
class PendingFix:
    interaction_id: str
    uri: str
    fingerprint: str
    message: str
    start: int
    old_lines: tuple[str, ...]
    new_lines: tuple[str, ...]
    offered_at: float
    state: str = "offered"
    accepted_at: float = 0.0
    accepted_version: int | None = None
    rounds: int = 0


def _block_near(lines: list[str], block: tuple[str, ...], start: int) -> bool:
    if not block:
        return False
    size = len(block)
    low, high = max(0, start - SEARCH_RADIUS), min(len(lines) - size, start + SEARCH_RADIUS)
    return any(tuple(lines[i : i + size]) == block for i in range(low, high + 1))


def _fixed(fix: PendingFix, lines: list[str]) -> bool:
    """The document shows the fix: its new lines are there (or, for a deletion, the old ones are gone)."""
    if fix.new_lines:
        return _block_near(lines, fix.new_lines, fix.start) and not _block_near(lines, fix.old_lines, fix.start)
    return not _block_near(lines, fix.old_lines, fix.start)


class OutcomeTracker:
    def __init__(self, undo_window: float) -> None:
        self.undo_window = undo_window
        self._fixes: dict[str, PendingFix] = {}

    def get(self, interaction_id: str) -> PendingFix | None:
        return self._fixes.get(interaction_id)

    def offered(self, fix: PendingFix) -> list[Transition]:
        """A newer offer for the same diagnostic replaces an older one that was never applied."""
        out = []
        for other in list(self._fixes.values()):
            if other.uri == fix.uri and other.message == fix.message and other.state == "offered":
                out.append((other.interaction_id, "ignored"))
                del self._fixes[other.interaction_id]
        self._fixes[fix.interaction_id] = fix
        return out

    def accepted(self, interaction_id: str, now: float, version: int | None) -> list[Transition]:
        fix = self._fixes.get(interaction_id)
        if fix is None or fix.state != "offered":
            return []
        fix.state, fix.accepted_at, fix.accepted_version, fix.rounds = "accepted", now, version, 0
        return [(interaction_id, "accepted")]

    def rejected(self, interaction_id: str) -> None:
        self._fixes.pop(interaction_id, None)

    def document_changed(self, uri: str, lines: list[str], version: int | None, now: float) -> list[Transition]:
        out: list[Transition] = []
        for fix in list(self._fixes.values()):
            if fix.uri != uri:
                continue
            if fix.state == "offered" and _fixed(fix, lines):
                out += self.accepted(fix.interaction_id, now, version)
            elif fix.state in ("accepted", "validated", "failed"):
                if now - fix.accepted_at > self.undo_window:
                    if fix.state != "accepted":
                        del self._fixes[fix.interaction_id]
                    continue
                if _block_near(lines, fix.old_lines, fix.start) and not (fix.new_lines and _block_near(lines, fix.new_lines, fix.start)):
                    fix.state = "undone"
                    del self._fixes[fix.interaction_id]
                    out.append((fix.interaction_id, "undone"))
        return out

    def diagnostics(self, uri: str, present: set[tuple[str, str]], version: int | None, complete: bool) -> list[Transition]:
        """A round of diagnostics for the document: (fingerprint, message) pairs.

        `complete` is True for the full list a plugin forwards, False for a code action context,
        which only holds the diagnostics of a range: there, only presence is evidence.
        """
        out: list[Transition] = []
        for fix in list(self._fixes.values()):
            if fix.uri != uri or fix.state != "accepted":
                continue
            if version is not None and fix.accepted_version is not None:
                if version < fix.accepted_version:
                    continue  # computed before the fix landed
                reflects_fix = True
            else:
                # Without versions the first round after the fix may be stale: absence counts at
                # once, presence only from the second round on.
                fix.rounds += 1
                reflects_fix = fix.rounds >= 2
            still_there = (fix.fingerprint, fix.message) in present
            if not still_there and complete:
                fix.state = "validated"
                out.append((fix.interaction_id, "validated"))
            elif still_there and reflects_fix:
                fix.state = "failed"
                out.append((fix.interaction_id, "failed"))
        return out

    def closed(self, uri: str | None = None) -> list[Transition]:
        """The document closed (or the server stops): offers never applied were ignored."""
        out = []
        for fix in list(self._fixes.values()):
            if uri is not None and fix.uri != uri:
                continue
            if fix.state == "offered":
                out.append((fix.interaction_id, "ignored"))
            del self._fixes[fix.interaction_id]
        return out
