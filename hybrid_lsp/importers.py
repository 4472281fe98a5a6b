"""Knowledge from the tools' own documentation: `hybrid-lsp kb import --from ruff|rustc`.

Each importer runs the installed tool, reads its rule documentation and turns every rule into an
entry keyed by tool and code, with a short link-free solution and, where the docs show one, the
corrected code. Parsing is pure; only `collect()` runs the tool.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from .knowledge import MAX_VARIANTS, Entry

_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)|\[([^\]]+)\]\[[^\]]*\]")
_URL = re.compile(r"https?://\S+")
_FENCE = re.compile(r"```[^\n]*\n(.*?)```", re.S)
# Examples of an explanation compiled to learn its messages (few have more; each is a rustc run).
MAX_EXAMPLES = 6


class ImporterError(RuntimeError):
    pass


def _plain(text: str) -> str:
    """Markdown prose without links, URLs or reference definitions."""
    text = re.sub(r"^\[[^\]]+\]:\s*\S+.*$", "", text, flags=re.M)
    text = _LINK.sub(lambda m: m.group(1) or m.group(2), text)
    text = _URL.sub("", text)
    return re.sub(r"[ \t]+", " ", re.sub(r"\n(?!\n)", " ", text)).strip()


def _sections(markdown: str) -> dict[str, str]:
    parts = re.split(r"^## +(.+)$", markdown, flags=re.M)
    return {parts[i].strip().lower(): parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def _sentences(text: str, limit: int) -> str:
    found = re.split(r"(?<=[.!?])\s+", text)
    return " ".join(found[:limit]).strip()


def ruff_entries(rules: list[dict]) -> list[Entry]:
    entries = []
    for rule in rules:
        code, name = rule.get("code"), rule.get("name", "")
        # A rule's message formats come in the order its check writes them: the first is the rule's
        # own message, later ones its variants (`tzinfo=None` passed, a blanket `noqa`): the entry
        # keeps them all, so each finds it.
        formats = rule.get("message_formats") or [rule.get("summary") or ""]
        if not code or not formats[0] or "Removed" in (rule.get("status") or {}):
            continue  # a removed rule is never reported: its entry could only be a wrong match
        sections = _sections(rule.get("explanation") or "")
        why = _plain(_FENCE.sub("", sections.get("why is this bad?", "")))
        what = _plain(sections.get("what it does", ""))
        fixable = rule.get("fix_availability") in ("Always", "Sometimes")
        solution = " ".join(part for part in (
            _sentences(what, 1), _sentences(why, 2),
            "`ruff check --fix` can fix it." if fixable else "") if part)
        example = sections.get("example", "")
        fixes = _FENCE.findall(example.split("Use instead:", 1)[1]) if "Use instead:" in example else []
        entries.append(Entry(
            id=f"ruff:{code}", error=formats[0], solution=solution or _plain(rule.get("summary", "")),
            title=name.replace("-", " ").capitalize(), fix=fixes[0].rstrip() if fixes else "",
            language="python", source="ruff", code=code, tags=("ruff-docs", rule.get("linter", "").lower()),
            variants=tuple(f for f in formats[1:] if f and f != formats[0]),
        ))
    return entries


def rustc_entry(code: str, explanation: str, messages: list[str] | tuple[str, ...] = ()) -> Entry | None:
    """An entry from `rustc --explain CODE`; `messages` are what rustc says when it compiles the
    explanation's erroneous examples (see rustc_messages): the words users will see in the editor,
    the first as the error and the others as its variants. Without them the explanation's first
    paragraph stands in (tagged rustc-prose)."""
    prose = [p.strip() for p in _FENCE.sub("", explanation).split("\n\n")
             if p.strip() and not p.startswith("#") and not p.strip().endswith(":")]
    if not prose:
        return None
    blocks = _FENCE.findall(explanation)
    solution = _sentences(_plain(" ".join(prose[1:3])), 3) or _plain(prose[0])
    if messages:
        solution = _sentences(_plain(prose[0]) + " " + solution, 4)
    return Entry(
        id=f"rustc:{code}", error=messages[0] if messages else _plain(prose[0]), solution=solution,
        title=f"rustc {code}", fix=blocks[-1].rstrip() if len(blocks) > 1 else "",
        language="rust", source="rustc", code=code, tags=("rustc-docs",) if messages else ("rustc-docs", "rustc-prose"),
        variants=tuple(messages[1:1 + MAX_VARIANTS]),
    )


def rustc_messages(code: str, explanation: str) -> list[str]:
    """Every error message rustc gives under this code for the explanation's examples, in their
    order: one rule has several wordings ("expected value, found module `a`", "expected function,
    found macro `println`"), and each is a way users will see it."""
    messages: list[str] = []
    for example in _FENCE.findall(explanation)[:MAX_EXAMPLES]:
        found = _compiled_messages(code, example)
        if found is None:
            break  # rustc cannot be run
        if not found and "fn main" not in example:
            # As rustdoc runs them: a snippet without its own `main` is the body of one.
            found = _compiled_messages(code, f"fn main() {{\n{example}\n}}\n") or []
        messages += found
    return list(dict.fromkeys(message for message in messages if message))


def _compiled_messages(code: str, source: str) -> list[str] | None:
    """The messages of the errors under `code` that rustc reports for `source` (None if it cannot run)."""
    try:
        result = _run(["rustc", "--edition", "2021", "--crate-type", "lib", "--emit", "metadata", "--error-format",
                       "json", "--crate-name", "example", "-o", os.devnull, "-"], stdin=source)
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = []
    for line in result.stderr.splitlines():
        try:
            diagnostic = json.loads(line)
        except ValueError:
            continue
        if isinstance(diagnostic, dict) and diagnostic.get("level") == "error" \
                and (diagnostic.get("code") or {}).get("code") == code:
            found.append(str(diagnostic.get("message", "")).strip())
    return found


def _run(command: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, input=stdin, capture_output=True, text=True, check=False, timeout=120)


def _collect_ruff() -> list[Entry]:
    result = _run([sys.executable, "-m", "ruff", "rule", "--all", "--output-format", "json"])
    if result.returncode != 0:
        raise ImporterError(f"`ruff rule --all` failed: {result.stderr.strip()}")
    return ruff_entries(json.loads(result.stdout))


def _collect_rustc() -> list[Entry]:
    if shutil.which("rustc") is None:
        raise ImporterError("rustc is not installed (install Rust with rustup or your package manager)")
    def one(number: int) -> Entry | None:
        code = f"E{number:04d}"
        result = _run(["rustc", "--explain", code])
        if result.returncode != 0:
            return None
        return rustc_entry(code, result.stdout, rustc_messages(code, result.stdout))

    # Each explanation's examples are compiled to learn the real messages: about a thousand rustc runs.
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        entries = [entry for entry in pool.map(one, range(1, 1000)) if entry is not None]
    if not entries:
        raise ImporterError("`rustc --explain` gave no explanations")
    return entries


IMPORTERS: dict[str, Callable[[], list[Entry]]] = {"ruff": _collect_ruff, "rustc": _collect_rustc}


def keep_existing(imported: list[Entry], existing: dict[str, Entry]) -> tuple[list[Entry], int]:
    """What a docs import stores without --overwrite: new entries, and the existing (curated) ones
    it would replace kept as they are, but given the docs' wordings they lack as variants, so that
    every message format of the rule still finds them. Also returns how many were kept."""
    stored, kept = [], 0
    for entry in imported:
        own = existing.get(entry.id)
        if own is None:
            stored.append(entry)
            continue
        kept += 1
        missing = tuple(w for w in entry.wordings if w not in own.wordings)
        if missing:
            stored.append(replace(own, variants=(*own.variants, *missing)))
    return stored, kept


def collect(tool: str) -> list[Entry]:
    if tool not in IMPORTERS:
        raise ImporterError(f"no importer for {tool!r}; available: {', '.join(sorted(IMPORTERS))}")
    return IMPORTERS[tool]()


def ruff_literals(rules: list[dict]) -> list[str]:
    """The fixed quoted parts of ruff's message formats that are not plain names (`os.chmod()`, `+`).

    normalise() keeps them verbatim (hybrid_lsp/quoted_literals.json), so rules whose messages differ
    only there stay apart. Regenerate that file with `python -m hybrid_lsp.importers --literals` after
    upgrading ruff.
    """
    found = set()
    for rule in rules:
        for text in rule.get("message_formats") or []:
            for value in re.findall(r"`([^`\n]+)`", text):
                if "{" not in value and not re.fullmatch(r"[A-Za-z_]\w*", value):
                    found.add(value)
    return sorted(found)


def _write_literals() -> None:
    from pathlib import Path

    result = _run([sys.executable, "-m", "ruff", "rule", "--all", "--output-format", "json"])
    version = _run([sys.executable, "-m", "ruff", "--version"]).stdout.strip()
    data = {"source": f"{version}: `ruff rule --all --output-format json`, the backticked parts of every message "
                      "format that are not a plain name and hold no {placeholder}",
            "literals": ruff_literals(json.loads(result.stdout))}
    path = Path(__file__).with_name("quoted_literals.json")
    path.write_text(json.dumps(data, indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(data['literals'])} literals to {path}")


if __name__ == "__main__" and sys.argv[1:] == ["--literals"]:
    _write_literals()
