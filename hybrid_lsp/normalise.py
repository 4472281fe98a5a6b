"""Turn a raw diagnostic message into a stable, searchable form and a fingerprint.

Error messages are templates filled with names, paths and numbers. Replacing those with
placeholders makes one error look the same wherever it happens, so it can be matched against
the knowledge base and grouped in statistics. Pure functions, no I/O.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

MAX_MESSAGE_CHARS = 2000

# Canonical tool names: editors report the same producer under several names.
_SOURCE_ALIASES = {
    "pylance": "pyright",
    "basedpyright": "pyright",
    "pyright": "pyright",
    "ruff": "ruff",
    "ruff-lsp": "ruff",
    "mypy": "mypy",
    "typescript": "ts",
    "ts": "ts",
    "tsserver": "ts",
    "deno-ts": "ts",
    "eslint": "eslint",
    "rustc": "rustc",
    "rust-analyzer": "rustc",
    "clippy": "clippy",
    "compiler": "go",
    "go": "go",
    "gopls": "go",
    "go vet": "go vet",
    "staticcheck": "staticcheck",
    "shellcheck": "shellcheck",
    "bash-language-server": "shellcheck",
    "hadolint": "hadolint",
    "nix": "nix",
    "nil": "nix",
    "python": "python",
}

# Quoted words that carry meaning and must survive normalisation.
_KEEP_QUOTED = frozenset(
    "NoneType None True False str int float bool bytes list dict tuple set object "
    "undefined null void any unknown never number string boolean self cls".split()
)

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("<URL>", re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"`<>]+", re.I)),
    ("<UUID>", re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)),
    ("<HEX>", re.compile(r"\b0x[0-9a-f]+\b", re.I)),
    ("<HASH>", re.compile(r"\b[0-9a-f]{32,64}\b", re.I)),
    # Windows and POSIX paths, with an optional :line:col suffix.
    ("<PATH>", re.compile(r"(?:[A-Za-z]:\\|\\\\)[^\s'\"`:]+(?::\d+)*|(?<![\w<])(?:~|\.{1,2})?/(?:[\w.@+-]+/)*[\w.@+-]+(?::\d+)*")),
]
_LINE_PREFIX = re.compile(r"^\s*(?:[\w./\\-]+\.\w+)?:\d+(?::\d+)?:\s*")
# A quote opens only where a word does not continue ("can't" is not a quote).
_QUOTED = re.compile(r"`([^`\n]{1,200})`|(?<!\w)'([^'\n]{1,200})'(?!\w)|(?<!\w)\"([^\"\n]{1,200})\"(?!\w)|‘([^’\n]{1,200})’|“([^”\n]{1,200})”")
_NUMBER = re.compile(r"(?<![\w<])[-+]?\d+(?:\.\d+)?(?![\w>])")
_SPACE = re.compile(r"\s+")
_ERROR_LINE = re.compile(r"\b(?:error|exception|fatal|panic|warning)\b|^\w*(?:Error|Exception|Warning)\b", re.I)
_TRACEBACK_HEAD = re.compile(r"^Traceback \(most recent call last\):")


@dataclass(frozen=True, slots=True)
class Normalised:
    """A message reduced to its template, with the values taken out in order."""

    text: str
    identifiers: tuple[str, ...]
    truncated: bool


def canonical_source(source: str | None) -> str:
    if not source:
        return ""
    key = source.strip().lower()
    return _SOURCE_ALIASES.get(key, key)


def canonical_code(code: object) -> str:
    """Codes arrive as ints (TypeScript) or strings, sometimes with a tool prefix."""
    if code is None or isinstance(code, bool):
        return ""
    text = str(code).strip()
    if re.fullmatch(r"TS\d+", text, re.I):
        return text[2:]
    return text


def error_line(message: str) -> str:
    """Reduce multi-line output (tracebacks, compiler notes) to the line that carries the error."""
    lines = [line.rstrip() for line in message.splitlines() if line.strip()]
    if not lines:
        return ""
    if len(lines) == 1:
        return lines[0]
    if _TRACEBACK_HEAD.match(lines[0]):
        # A Python traceback names the exception on its last line.
        return lines[-1]
    for line in lines:
        if _ERROR_LINE.search(line):
            return line
    return lines[0]


def normalise(message: str) -> Normalised:
    """Replace paths, URLs, numbers, addresses and quoted identifiers with placeholders."""
    truncated = len(message) > MAX_MESSAGE_CHARS
    text = error_line(message[:MAX_MESSAGE_CHARS])
    text = _LINE_PREFIX.sub("", text)
    identifiers: list[str] = []

    def quoted(match: re.Match[str]) -> str:
        # Quoted values first, so identifiers keep their original text, never a placeholder.
        value = next(group for group in match.groups() if group is not None)
        if value in _KEEP_QUOTED:
            return f"'{value}'"
        for placeholder, pattern in _PATTERNS:
            if pattern.fullmatch(value):
                return f"'{placeholder}'"
        identifiers.append(value)
        return "<ID>"

    text = _QUOTED.sub(quoted, text)
    for placeholder, pattern in _PATTERNS:
        text = pattern.sub(placeholder, text)
    text = _NUMBER.sub("<NUM>", text)
    text = _SPACE.sub(" ", text).strip()
    return Normalised(text=text, identifiers=tuple(identifiers), truncated=truncated)


def fingerprint(source: str, code: str, normalised_text: str) -> str:
    """One diagnostic, one fingerprint: stable across identifiers, paths and locations."""
    key = f"{canonical_source(source)}|{canonical_code(code)}|{normalised_text}"
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:20]
