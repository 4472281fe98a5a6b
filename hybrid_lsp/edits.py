"""Edits as whole-line replacements: validated against the document, rendered as diffs.

Models and stored fixes both propose "replace lines a..b with this text". Working in whole lines
keeps validation simple and the result predictable: an edit that does not fit the document it was
made for is refused here, never sent to the editor half-applied. Pure functions.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass


class EditError(ValueError):
    """A proposed edit that cannot be applied to the document as it is."""


@dataclass(frozen=True, slots=True)
class LineEdit:
    """Replace lines [start, end) (zero-based, end exclusive) with new_lines."""

    start: int
    end: int
    new_lines: tuple[str, ...]

    def check(self, line_count: int) -> None:
        if not (0 <= self.start <= self.end <= line_count):
            raise EditError(
                f"edit covers lines {self.start + 1}-{self.end} but the document has {line_count} lines"
            )


def split_lines(text: str) -> list[str]:
    return text.split("\n") if text else []


def apply(text: str, edit: LineEdit) -> str:
    lines = split_lines(text)
    edit.check(len(lines))
    return "\n".join(lines[: edit.start] + list(edit.new_lines) + lines[edit.end :])


def unified_diff(text: str, edit: LineEdit, path: str) -> str:
    def lines(value: str) -> list[str]:
        # difflib needs every line terminated, or the last removed and added lines run together.
        return [line if line.endswith("\n") else line + "\n" for line in value.splitlines(keepends=True)]

    return "".join(difflib.unified_diff(lines(text), lines(apply(text, edit)), f"a/{path}", f"b/{path}", n=2))


def lsp_range(text: str, edit: LineEdit) -> tuple[tuple[int, int], tuple[int, int], str]:
    """The LSP range (start, end as (line, character)) and new text that perform the edit."""
    lines = split_lines(text)
    edit.check(len(lines))
    new_text = "\n".join(edit.new_lines)
    if lines and edit.start == edit.end == len(lines):
        # Appending after the last line: insert at its end, starting a new line.
        end = (len(lines) - 1, len(lines[-1]))
        return end, end, ("\n" + new_text) if edit.new_lines else ""
    if edit.end < len(lines):
        if edit.new_lines:
            new_text += "\n"
        return (edit.start, 0), (edit.end, 0), new_text
    # The edit reaches the last line: end at its last character, keep whatever follows.
    end = (len(lines) - 1, len(lines[-1])) if lines else (0, 0)
    if not edit.new_lines and edit.start > 0:
        # Deleting trailing lines also removes the newline before them.
        return (edit.start - 1, len(lines[edit.start - 1])), end, ""
    return (edit.start, 0), end, new_text


def from_pattern(
    text: str,
    first_line: int,
    last_line: int,
    pattern: str,
    replacement: str,
    identifiers: tuple[str, ...],
) -> LineEdit:
    """A stored fix: a regular expression rewritten over the diagnostic's lines.

    `{id1}`, `{id2}`... in the pattern and replacement stand for the quoted identifiers of the
    diagnostic message, in order, so one stored fix serves every name it is reported for.
    """
    lines = split_lines(text)
    if not lines or not (0 <= first_line <= last_line < len(lines)):
        raise EditError(f"the diagnostic's lines {first_line + 1}-{last_line + 1} are outside the document")

    def fill(template: str, escape: bool) -> str:
        def value(match: re.Match[str]) -> str:
            index = int(match.group(1)) - 1
            if index >= len(identifiers):
                raise EditError(f"the stored fix needs identifier {{id{index + 1}}} but the message has {len(identifiers)}")
            raw = identifiers[index]
            return re.escape(raw) if escape else raw.replace("\\", "\\\\")
        return re.sub(r"\{id(\d)\}", value, template)

    try:
        compiled = re.compile(fill(pattern, escape=True), re.MULTILINE)
    except re.error as exc:
        raise EditError(f"the stored fix's pattern is not a valid regular expression: {exc}") from exc
    region = "\n".join(lines[first_line : last_line + 1]) + "\n"
    rewritten, count = compiled.subn(fill(replacement, escape=False), region, count=1)
    if count == 0:
        raise EditError("the stored fix does not match the code at the diagnostic")
    new_lines = rewritten[:-1].split("\n") if rewritten.endswith("\n") else rewritten.split("\n")
    if rewritten == "":
        new_lines = []
    if new_lines == lines[first_line : last_line + 1]:
        raise EditError("the stored fix would not change anything")
    return LineEdit(first_line, last_line + 1, tuple(new_lines))
