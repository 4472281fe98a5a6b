"""Prompts for both model routes, and the parser for the structured fix they must return.

The prompt carries the numbered code window, the diagnostic and the closest stored solutions (the
reference design's context-augmented prompt). The model answers with one JSON object; anything
else is refused with a reason, so a garbled answer never becomes an edit. Pure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace

from .edits import LineEdit
from .query import CodeWindow, ErrorQuery

SYSTEM = (
    "You fix one diagnostic in a source file. Reply with exactly one JSON object and nothing else:\n"
    '{"explanation": "<why the error happens and what the fix does, at most 3 sentences>",\n'
    ' "edit": {"start_line": <first line to replace>, "end_line": <last line to replace>,\n'
    '          "replacement": "<the new text for those lines, without line numbers>"}}\n'
    "Line numbers are the ones shown in the code. Replace as few lines as possible and keep the "
    'indentation. If no safe edit exists, use "edit": null and explain what the user should do.'
)

ASK_SYSTEM = (
    "You are a concise programming assistant inside a code editor. Answer the question directly, "
    "in Markdown, using the given code and context where they help."
)


FIX_SCHEMA: dict = {
    "type": "object",
    "properties": {
        "explanation": {"type": "string"},
        "edit": {
            "anyOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "properties": {
                        "start_line": {"type": "integer"},
                        "end_line": {"type": "integer"},
                        "replacement": {"type": "string"},
                    },
                    "required": ["start_line", "end_line", "replacement"],
                },
            ]
        },
    },
    "required": ["explanation", "edit"],
}


def estimate_tokens(text: str) -> int:
    """About 3.5 characters a token for code and English: a budget guard, not billing."""
    return int(len(text) / 3.5) + 1


@dataclass(frozen=True, slots=True)
class Context:
    """A stored solution offered to the model as background."""

    title: str
    error: str
    solution: str
    fix: str
    relevance: float


@dataclass(frozen=True, slots=True)
class ProposedFix:
    explanation: str
    edit: LineEdit | None


class FixFormatError(ValueError):
    """The model's answer is not the JSON object the prompt asked for."""


def _contexts_block(contexts: list[Context]) -> str:
    parts = []
    for ctx in contexts:
        text = f"- {ctx.title or ctx.error} (relevance {ctx.relevance:.2f})\n  Error: {ctx.error}\n  Solution: {ctx.solution}"
        if ctx.fix:
            text += f"\n  Example fix:\n{_indent(ctx.fix, '    ')}"
        parts.append(text)
    return "Known solutions that may apply:\n" + "\n".join(parts)


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def fix_prompt(query: ErrorQuery, contexts: list[Context], path: str, budget: int | None = None) -> str:
    """The prompt, trimmed to `budget` tokens: stored solutions go first, then code far from the error."""
    prompt = _fix_prompt(query, contexts, path)
    if budget is None:
        return prompt
    contexts = list(contexts)
    while estimate_tokens(prompt) > budget and contexts:
        contexts.pop()
        prompt = _fix_prompt(query, contexts, path)
    window = query.window
    while estimate_tokens(prompt) > budget and window is not None and len(window.lines) > 1 and query.span is not None:
        lines = list(window.lines)
        first = window.first_line
        # Drop the line farthest from the diagnostic.
        if query.span.start_line - first >= first + len(lines) - 1 - query.span.end_line:
            lines.pop(0)
            first += 1
        else:
            lines.pop()
        window = CodeWindow(first, tuple(lines))
        query = replace(query, window=window)
        prompt = _fix_prompt(query, contexts, path)
    return prompt


def _fix_prompt(query: ErrorQuery, contexts: list[Context], path: str) -> str:
    head = f"File: {path}" + (f" ({query.language})" if query.language else "")
    where = ""
    if query.span is not None:
        where = f" at line {query.span.start_line + 1}"
    tool = f"{query.source} {query.code}".strip()
    parts = [head, f"Diagnostic{where}: {query.message.strip()}" + (f" [{tool}]" if tool else "")]
    if query.related:
        parts.append("Other diagnostics in this file:\n" + "\n".join(f"- {r}" for r in query.related[:5]))
    if query.window is not None:
        parts.append("Code:\n" + query.window.numbered())
    if contexts:
        parts.append(_contexts_block(contexts))
    parts.append("Reply with the JSON object only.")
    return "\n\n".join(parts)


def ask_prompt(question: str, code: str | None, contexts: list[Context]) -> str:
    parts = []
    if contexts:
        parts.append(_contexts_block(contexts))
    if code:
        parts.append("Code:\n```\n" + code + "\n```")
    parts.append("Question: " + question.strip())
    return "\n\n".join(parts)


_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.S)


def _json_object(reply: str) -> dict:
    candidates = [m.group(1) for m in _FENCE.finditer(reply)]
    start, end = reply.find("{"), reply.rfind("}")
    if start != -1 and end > start:
        candidates.append(reply[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise FixFormatError("the answer holds no JSON object")


def parse_fix(reply: str, window_first_line: int, window_len: int) -> ProposedFix:
    """Read the model's JSON answer; the edit must stay inside the code window it was shown."""
    data = _json_object(reply)
    explanation = data.get("explanation")
    if not isinstance(explanation, str) or not explanation.strip():
        raise FixFormatError('"explanation" is missing or not text')
    raw = data.get("edit")
    if raw is None:
        return ProposedFix(explanation.strip(), None)
    if not isinstance(raw, dict):
        raise FixFormatError('"edit" must be an object or null')
    start, end, replacement = raw.get("start_line"), raw.get("end_line"), raw.get("replacement")
    if not (isinstance(start, int) and isinstance(end, int) and not isinstance(start, bool) and not isinstance(end, bool)):
        raise FixFormatError('"start_line" and "end_line" must be whole numbers')
    if not isinstance(replacement, str):
        raise FixFormatError('"replacement" must be text')
    first, last = window_first_line + 1, window_first_line + window_len
    if not (first <= start <= end <= last):
        raise FixFormatError(f"the edit covers lines {start}-{end}, outside the code shown ({first}-{last})")
    new_lines = tuple(replacement.split("\n")) if replacement != "" else ()
    if replacement.endswith("\n"):
        new_lines = new_lines[:-1]
    return ProposedFix(explanation.strip(), LineEdit(start - 1, end, new_lines))
