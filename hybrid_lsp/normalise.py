"""Turn a raw diagnostic message into a stable, searchable form and a fingerprint.

Error messages are templates filled with names, paths and numbers. Replacing those with
placeholders makes one error look the same wherever it happens, so it can be matched against
the knowledge base and grouped in statistics. Pure functions, no I/O.
"""

from __future__ import annotations

import builtins
import functools
import hashlib
import json
import keyword
import re
from dataclasses import dataclass
from pathlib import Path

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

# Quoted words that carry meaning and must survive normalisation: type and keyword names of the
# languages, Python's keywords and builtins, and the fixed quoted parts of tools' message templates
# (quoted_literals.json: `os.chmod()`, `+`, `X | Y`), which tell apart rules worded alike.
_KEEP_QUOTED = frozenset(
    "NoneType None True False str int float bool bytes list dict tuple set object "
    "undefined null void any unknown never number string boolean self cls "
    # Rust and TypeScript keywords, which name what a message is about (`Self`, `dyn`, 'this').
    "Self crate super impl dyn mut ref static const unsafe move fn let loop mod pub struct enum trait use "
    "where extern this var new typeof keyof readonly interface extends implements".split()
) | frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(
    name for name in dir(builtins) if not name.startswith("_")
) | frozenset(json.loads((Path(__file__).with_name("quoted_literals.json")).read_text(encoding="utf-8"))["literals"])
_DUNDER = re.compile(r"__\w+__")
# `*args` / `**kwargs`: the stars are part of the message, the name is not.
_STARRED = re.compile(r"(\*{1,2})(?:[A-Za-z_]\w*|\{\w*\})")
# A template's own placeholder ("from {row}"), as in tools' message formats; quoted ones are names.
_PLACEHOLDER = re.compile(r"\{[a-z_]*\}")
_QUOTED_PLACEHOLDER = re.compile(r"\{\w*\}")
# A quoted call without arguments (`dict()`, `{kind}()`): the parentheses say a call is meant, not
# the name alone (`Unnecessary `dict()` call` and `Unnecessary `float` call` are two rules).
_QUOTED_CALL = re.compile(r"(?:[A-Za-z_]\w*|\{\w*\})(?:\.(?:[A-Za-z_]\w*|\{\w*\}))*\(\)")

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("<URL>", re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"`<>]+", re.I)),
    ("<UUID>", re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)),
    ("<HEX>", re.compile(r"\b0x[0-9a-f]+\b", re.I)),
    ("<HASH>", re.compile(r"\b[0-9a-f]{32,64}\b", re.I)),
    # Windows and POSIX paths, with an optional :line:col suffix.
    ("<PATH>", re.compile(r"(?:[A-Za-z]:\\|\\\\)[^\s'\"`:]+(?::\d+)*|(?<![\w<])(?:~|\.{1,2})?/(?:[\w.@+-]+/)*[\w.@+-]+(?::\d+)*")),
]
_LINE_PREFIX = re.compile(r"^\s*(?:[\w./\\-]+\.\w+)?:\d+(?::\d+)?:\s*")
# A compiler's severity label ("error[E0382]: ", "warning: "): the terminal prints it, an editor's
# diagnostic carries the same message without it, so neither form may differ from the other.
_SEVERITY_PREFIX = re.compile(r"^(?:error|warning)(?:\[[A-Za-z]*\d+\])?:\s+")
# A quote opens only where a word does not continue ("can't" is not a quote).
_QUOTED = re.compile(r"`([^`\n]{1,200})`|(?<!\w)'([^'\n]{1,200})'(?!\w)|(?<!\w)\"([^\"\n]{1,200})\"(?!\w)|‘([^’\n]{1,200})’|“([^”\n]{1,200})”")
_NUMBER = re.compile(r"(?<![\w<])[-+]?\d+(?:\.\d+)?(?![\w>])")
_SPACE = re.compile(r"\s+")
# A line that states an error: "error[E0308]: ...", "warning: ...", "TypeError: ...", "thread 'main' panicked".
_ERROR_LINE = re.compile(
    r"^\s*(?:(?:error|warning|fatal|panic)(?:\[[\w-]+\])?:|[\w.]*(?:Error|Exception|Warning)\b:?(?:\s|$)|thread '.*' panicked)",
    re.I)
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
    text = _SEVERITY_PREFIX.sub("", _LINE_PREFIX.sub("", text))
    identifiers: list[str] = []

    def quoted(match: re.Match[str]) -> str:
        # Quoted values first, so identifiers keep their original text, never a placeholder.
        value = next(group for group in match.groups() if group is not None)
        if _QUOTED_CALL.fullmatch(value):
            if value in _KEEP_QUOTED or value[:-2] in _KEEP_QUOTED or _DUNDER.fullmatch(value[:-2]):
                return f"'{value[:-2]}'()"
            if not _QUOTED_PLACEHOLDER.search(value):
                identifiers.append(value)
            return "<ID>()"
        if value in _KEEP_QUOTED or _DUNDER.fullmatch(value):
            return f"'{value}'"
        if starred := _STARRED.fullmatch(value):
            identifiers.append(value[len(starred.group(1)):])
            return f"{starred.group(1)}<ID>"
        if _QUOTED_PLACEHOLDER.search(value):
            return "<ID>"
        for placeholder, pattern in _PATTERNS:
            if pattern.fullmatch(value):
                return f"'{placeholder}'"
        identifiers.append(value)
        return "<ID>"

    text = _QUOTED.sub(quoted, text)
    text = _PLACEHOLDER.sub("<ARG>", text)
    for placeholder, pattern in _PATTERNS:
        text = pattern.sub(placeholder, text)
    text = _NUMBER.sub("<NUM>", text)
    text = _SPACE.sub(" ", text).strip()
    return Normalised(text=text, identifiers=tuple(identifiers), truncated=truncated)


# A quoted value kept verbatim ('float', 'key in dict', 'len'()) or a quoted call: in a wording, any quoted value.
_ANY_QUOTED = re.compile(r"'[^'\n]*'(?:\(\))?|<ID>\(\)")


def wording(normalised_text: str) -> str:
    """What messages worded alike share, whatever they quote: a rule's format ("Use `{expected}`
    instead of `{actual}`") and its diagnostics ("Use `float` instead of `int | float`", whose
    builtin normalise() keeps) have the same wording. A message without its tool and code is
    looked up by it, to find every entry a score could not tell apart (knowledge._search)."""
    return fingerprint("", "", _ANY_QUOTED.sub("<ID>", normalised_text))


# What a stored entry keeps of this module's work (knowledge.Entry.derived): a new field here, as
# any change to this file, gives a new version(), and stored entries are derived again.
DERIVED_FIELDS = ("normalised", "fingerprint", "wording")


@functools.cache
def version() -> str:
    """Stands for this module's behaviour: stored entries carry normalised text and fingerprints
    made by it, and are derived again when it changes (KnowledgeBase.renormalise)."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def fingerprint(source: str, code: str, normalised_text: str) -> str:
    """One diagnostic, one fingerprint: stable across identifiers, paths and locations."""
    key = f"{canonical_source(source)}|{canonical_code(code)}|{normalised_text}"
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:20]


# One problem, one fix, reported by several tools of a language under their own rule codes: where a
# diagnostic's own tool+code has no entry, the entries of its equivalents answer it. A pattern, when
# given, must be found in the normalised message (the rule also reports other problems).
KEY_ALIASES: dict[str, tuple[tuple[str, str], ...]] = {
    "mypy:no-redef": (("ruff:F811", ""),),
    "pyright:reportRedeclaration": (("ruff:F811", ""),),
    "pyright:reportUnsupportedDunderAll": (("ruff:F822", r"is specified in '?__all__'? but is not present"),),
    "pyright:reportSelfClsParameterName": (("ruff:N805", r"^Instance methods"), ("ruff:N804", r"^Class methods")),
    "pyright:reportInvalidStringEscapeSequence": (("ruff:W605", ""),),
    "pyright:reportOptionalIterable": (("pyright:reportOptionalMemberAccess", ""),),
    "pyright:reportOptionalCall": (("pyright:reportOptionalMemberAccess", ""),),
    "pyright:reportOptionalOperand": (("pyright:reportOptionalMemberAccess", ""),),
    "pyright:reportGeneralTypeIssues": (("pyright:reportOptionalMemberAccess", r"^'None' is not iterable"),),
    # A call that does not fit the signature: mypy's entry names every way it does not.
    "mypy:call-arg": (("pyright:reportCallIssue", r"^Missing positional arguments? "),),
    "python:TypeError": (("mypy:call-arg", r"got an unexpected keyword argument"),),
    "ts:2323": (("ts:2451", ""),),
    "ts:2300": (("ts:2451", ""),),
    "ts:2375": (("ts:2322", ""),),
    "ts:2412": (("ts:2322", ""),),
    "ts:7005": (("ts:7006", ""),),
    "ts:7008": (("ts:7006", ""),),
    "ts:7019": (("ts:7006", ""),),
    "ts:7031": (("ts:7006", ""),),
    "ts:7034": (("ts:7006", ""),),
    "ts:2552": (("ts:2304", ""),),
    "ts:2591": (("ts:2580", ""),),
    "ts:7030": (("ts:2366", ""),),
    "ts:2721": (("ts:18048", ""),),
    "ts:2722": (("ts:18048", ""),),
    "shellcheck:SC2153": (("shellcheck:SC2154", ""),),
    "node:MODULE_NOT_FOUND": (("node:ERR_MODULE_NOT_FOUND", ""),),
    "rustc:E0592": (("rustc:E0428", ""),),
}


def alias_keys(key: str, normalised_text: str) -> list[str]:
    """The tool+code keys whose entries answer a diagnostic of `key` that has none of its own."""
    return [other for other, pattern in KEY_ALIASES.get(key, ()) if not pattern or re.search(pattern, normalised_text)]


# The tools' own wordings of those rules (normalised), so that a pasted message without its tool
# and code still reaches their equivalents: (language family, wording, tool+code).
_MESSAGE_KEYS: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (family, re.compile(wording), key) for family, wording, key in (
        ("python", r"^Name <ID> already defined (?:\(possibly by an import\)|on line <NUM>)$", "mypy:no-redef"),
        ("python", r"^(?:Class |Function |Method )?[Dd]eclaration <ID> is obscured by a declaration of the same name$",
         "pyright:reportRedeclaration"),
        ("python", r"^<ID> is specified in '?__all__'? but is not present in module$", "pyright:reportUnsupportedDunderAll"),
        ("python", r"^(?:Instance|Class) methods should take a '(?:self|cls)' parameter$", "pyright:reportSelfClsParameterName"),
        ("python", r"^Unsupported escape sequence in string literal$", "pyright:reportInvalidStringEscapeSequence"),
        ("python", r"^Object of type 'None' cannot be used as iterable value$", "pyright:reportOptionalIterable"),
        ("python", r"^Object of type 'None' cannot be called$", "pyright:reportOptionalCall"),
        ("python", r"^Operator '[^']+' not supported for 'None'$", "pyright:reportOptionalOperand"),
        ("python", r"^'None' is not iterable$", "pyright:reportGeneralTypeIssues"),
        ("python", r"^Missing positional arguments? .* in call to <ID>$", "mypy:call-arg"),
        ("python", r"^TypeError: \S+ got an unexpected keyword argument <ID>$", "python:TypeError"),
        ("typescript", r"^Cannot redeclare exported variable <ID>\.$", "ts:2323"),
        ("typescript", r"^Duplicate identifier <ID>\.$", "ts:2300"),
        ("typescript", r"^Type <ID> is not assignable to type <ID> with <ID>\. Consider adding 'undefined' to the types? of the target",
         "ts:2375"),
        ("typescript", r"^(?:Variable|Member) <ID> implicitly has an (?:'any'|<ID>) type\.$", "ts:7005"),
        ("typescript", r"^Rest parameter <ID> implicitly has an (?:'any'|<ID>) type\.$", "ts:7019"),
        ("typescript", r"^Binding element <ID> implicitly has an (?:'any'|<ID>) type\.$", "ts:7031"),
        ("typescript", r"^Variable <ID> implicitly has type 'any' in some locations where its type cannot be determined\.$",
         "ts:7034"),
        ("typescript", r"^Cannot find name <ID>\. Did you mean <ID>\?$", "ts:2552"),
        ("typescript", r"^Cannot find name <ID>\. Do you need to install type definitions for node\?", "ts:2591"),
        ("typescript", r"^Not all code paths return a value\.$", "ts:7030"),
        ("typescript", r"^Cannot invoke an object which is possibly '(?:null|undefined)'\.$", "ts:2722"),
        ("typescript", r"^Error: Cannot find module <ID>$", "node:MODULE_NOT_FOUND"),
        ("shell", r"^Possible misspelling: \S+ may not be assigned\.", "shellcheck:SC2153"),
        ("rust", r"^duplicate definitions with name (?:<ID>|'[^']*')$", "rustc:E0592"),
    )
)


def message_keys(normalised_text: str, language: str) -> list[str]:
    """Tool+code keys whose own wording the normalised message follows (for a message without its code)."""
    family = "typescript" if language == "javascript" else language
    return [key for lang, wording, key in _MESSAGE_KEYS if lang == family and wording.search(normalised_text)]
