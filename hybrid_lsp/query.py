"""What hybrid-lsp is asked about: a diagnostic with the code around it.

Built the same way by the language server and by `hybrid-lsp check`, so both take exactly the
same path through knowledge lookup, routing and models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePath

from .normalise import Normalised, canonical_code, canonical_source, fingerprint, normalise

_LANGUAGE_BY_SUFFIX = {
    ".py": "python", ".pyi": "python", ".ts": "typescript", ".tsx": "typescript",
    ".js": "javascript", ".jsx": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".rs": "rust", ".go": "go", ".sh": "shell", ".bash": "shell", ".zsh": "shell",
    ".nix": "nix", ".yml": "yaml", ".yaml": "yaml", ".toml": "toml", ".json": "json",
}
_LANGUAGE_ALIASES = {
    "typescriptreact": "typescript", "javascriptreact": "javascript", "sh": "shell",
    "bash": "shell", "zsh": "shell", "dockerfile": "dockerfile",
}
_LANGUAGE_BY_SOURCE = {
    "ruff": "python", "pyright": "python", "mypy": "python", "python": "python",
    "ts": "typescript", "rustc": "rust", "clippy": "rust", "go": "go", "go vet": "go",
    "staticcheck": "go", "shellcheck": "shell", "hadolint": "dockerfile", "nix": "nix",
}


def language_for(path_or_uri: str | None, language_id: str | None = None, source: str = "") -> str:
    if language_id:
        return _LANGUAGE_ALIASES.get(language_id, language_id)
    if path_or_uri:
        name = PurePath(path_or_uri.split("?", 1)[0])
        if name.name == "Dockerfile" or name.name.startswith("Dockerfile."):
            return "dockerfile"
        if name.suffix in _LANGUAGE_BY_SUFFIX:
            return _LANGUAGE_BY_SUFFIX[name.suffix]
    return _LANGUAGE_BY_SOURCE.get(canonical_source(source), "")


@dataclass(frozen=True, slots=True)
class Span:
    """Zero-based start and end positions (line, character), as in LSP."""

    start_line: int
    start_char: int
    end_line: int
    end_char: int


@dataclass(frozen=True, slots=True)
class CodeWindow:
    """Lines of the document around the diagnostic; first_line is zero-based."""

    first_line: int
    lines: tuple[str, ...]

    def numbered(self) -> str:
        return "\n".join(f"{self.first_line + i + 1:>5} | {line}" for i, line in enumerate(self.lines))


@dataclass(frozen=True, slots=True)
class ErrorQuery:
    message: str
    source: str = ""
    code: str = ""
    severity: int = 1
    language: str = ""
    span: Span | None = None
    window: CodeWindow | None = None
    related: tuple[str, ...] = ()
    normalised: Normalised = field(init=False)
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "source", canonical_source(self.source))
        object.__setattr__(self, "code", canonical_code(self.code))
        norm = normalise(self.message)
        object.__setattr__(self, "normalised", norm)
        object.__setattr__(self, "fingerprint", fingerprint(self.source, self.code, norm.text))

    @property
    def key(self) -> str:
        """The exact lookup key for tools that give rule codes, e.g. "ruff:F401"."""
        return f"{self.source}:{self.code}" if self.source and self.code else ""

    def search_text(self) -> str:
        return self.normalised.text


def code_window(lines: list[str], span: Span, context: int) -> CodeWindow:
    """The diagnostic's lines plus `context` lines either side, clamped to the document."""
    if not lines:
        return CodeWindow(0, ())
    start = max(0, min(span.start_line, len(lines) - 1) - context)
    end = min(len(lines), max(span.end_line, span.start_line) + context + 1)
    return CodeWindow(start, tuple(lines[start:end]))
