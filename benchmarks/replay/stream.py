"""The replayed stream: diagnostics as a developer's editor produces them, with their ground truth.

Known errors come from the starter knowledge base's `error-solutions` entries: each entry's example
message with its quoted names, a few unquoted names, numbers and paths replaced by realistic ones
(so the same error shows up with different names), under the entry's own tool, rule code and
language. Unknown errors are real messages of tools and rules the starter does not cover
(UNKNOWN below), about 15% of the stream. Every error has a truth id: the starter entry id, or its
own `unknown:...` id. Entries from different tools that describe the same error are treated as
equivalent only through the explicit EQUIVALENT classes.

Frequencies: which error comes next follows Zipf's law over a popularity order (a hand-written head
of everyday diagnostics, then the rest in a seeded order); where it comes from (the code site)
follows a Pitman-Yor process per error, so a few sites repeat often (a diagnostic comes back until
its code is fixed, copy-pasted code repeats it) and new sites keep appearing (a long tail).

Every site is a small document (6-8 lines) in the error's language whose line 3 holds the error;
its correct fix is a known replacement of that line: for the starter entries with a stored edit, the
real fix (checked against the stored edit at build time); otherwise the line with a marker comment
`fixed:<truth id>`. Deterministic for a given seed.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hybrid_lsp import edits
from hybrid_lsp.knowledge import parse_entry
from hybrid_lsp.normalise import normalise

STARTER_DIR = Path(__file__).resolve().parents[2] / "hybrid_lsp" / "starter"
LINE = 2  # zero-based line of the diagnostic in every document (line 3 as editors number it)
UNKNOWN_SHARE = 0.15
ZIPF_S = 1.0  # Zipf exponent over errors (rank r has weight 1 / r^s)
SITE_DISCOUNT, SITE_CONCENTRATION = 0.5, 1.0  # Pitman-Yor process over the code sites of one error

# -- ground truth ------------------------------------------------------------------------------

# Entries of different tools that describe the same error: a fix or stored solution of one is right
# for the others. Nothing else is equivalent.
EQUIVALENT: dict[str, tuple[str, ...]] = {
    "python undefined name": ("ruff:F821", "pyright:reportUndefinedVariable", "mypy:name-defined", "python:NameError"),
    "python missing module": ("pyright:reportMissingImports", "mypy:import-not-found", "python:ModuleNotFoundError"),
    "python missing stubs": ("pyright:reportMissingModuleSource", "mypy:import-untyped"),
    "python member of None": ("pyright:reportOptionalMemberAccess", "mypy:union-attr", "python:AttributeError:NoneType"),
    "python None subscripted": ("pyright:reportOptionalSubscript", "python:TypeError:not-subscriptable"),
    "python unknown module attribute": ("pyright:reportAttributeAccessIssue:module", "python:AttributeError:module"),
    "ts possibly null": ("ts:2531", "ts:18047"),
    "ts possibly undefined": ("ts:2532", "ts:18048"),
    "js unused binding": ("ts:6133", "eslint:no-unused-vars"),
    "js undefined name": ("ts:2304", "eslint:no-undef", "node:ReferenceError"),
}
_CLASS_OF = {member: members for members in EQUIVALENT.values() for member in members}


def equivalent(entry_id: str, truth: str) -> bool:
    """Does the stored entry `entry_id` apply to an error whose truth is `truth`?"""
    return entry_id == truth or entry_id in _CLASS_OF.get(truth, ())


def truth_class(truth: str) -> tuple[str, ...]:
    return _CLASS_OF.get(truth, (truth,))


# -- errors the starter knowledge base does not know -----------------------------------------------

# (truth id, source, code, language, message): tools it does not cover, rules it has no entry for,
# and runtime errors it has not seen (two of which share a tool+rule key with known entries).
UNKNOWN: tuple[tuple[str, str, str, str, str], ...] = (
    ("unknown:ruff:PLR2004", "ruff", "PLR2004", "python", "Magic value used in comparison, consider replacing `3600` with a constant variable"),
    ("unknown:ruff:RUF012", "ruff", "RUF012", "python", "Mutable class attributes should be annotated with `typing.ClassVar`"),
    ("unknown:ruff:SIM108", "ruff", "SIM108", "python", "Use ternary operator `mode = \"fast\" if quick else \"full\"` instead of `if`-`else`-block"),
    ("unknown:ruff:C408", "ruff", "C408", "python", "Unnecessary `dict()` call (rewrite as a literal)"),
    ("unknown:ruff:PERF401", "ruff", "PERF401", "python", "Use a list comprehension to create a transformed list"),
    ("unknown:ruff:N802", "ruff", "N802", "python", "Function name `getUser` should be lowercase"),
    ("unknown:ruff:ARG001", "ruff", "ARG001", "python", "Unused function argument: `request`"),
    ("unknown:ruff:PTH123", "ruff", "PTH123", "python", "`open()` should be replaced by `Path.open()`"),
    ("unknown:ruff:RET504", "ruff", "RET504", "python", "Unnecessary assignment to `result` before `return` statement"),
    ("unknown:pylint:W1514", "pylint", "W1514", "python", "Using open without explicitly specifying an encoding"),
    ("unknown:pylint:C0200", "pylint", "C0200", "python", "Consider using enumerate instead of iterating with range and len"),
    ("unknown:pyright:reportRedeclaration", "pyright", "reportRedeclaration", "python", "Class declaration \"Config\" is obscured by a declaration of the same name"),
    ("unknown:mypy:no-any-return", "mypy", "no-any-return", "python", "Returning Any from function declared to return \"int\""),
    ("unknown:python:TypeError:json-serializable", "python", "TypeError", "python", "TypeError: Object of type datetime is not JSON serializable"),
    ("unknown:python:RuntimeError:event-loop-closed", "python", "RuntimeError", "python", "RuntimeError: Event loop is closed"),
    ("unknown:python:PermissionError", "python", "PermissionError", "python", "PermissionError: [Errno 13] Permission denied: '/var/log/app/service.log'"),
    ("unknown:ts:2739", "ts", "2739", "typescript", "Type '{ id: number; }' is missing the following properties from type 'User': name, email"),
    ("unknown:ts:2571", "ts", "2571", "typescript", "Object is of type 'unknown'."),
    ("unknown:ts:2349", "ts", "2349", "typescript", "This expression is not callable. Type 'String' has no call signatures."),
    ("unknown:ts:2451", "ts", "2451", "typescript", "Cannot redeclare block-scoped variable 'count'."),
    ("unknown:eslint:no-console", "eslint", "no-console", "javascript", "Unexpected console statement."),
    ("unknown:eslint:curly", "eslint", "curly", "javascript", "Expected { after 'if' condition."),
    ("unknown:eslint:no-prototype-builtins", "eslint", "no-prototype-builtins", "javascript", "Do not access Object.prototype method 'hasOwnProperty' from target object."),
    ("unknown:eslint:no-non-null-assertion", "eslint", "@typescript-eslint/no-non-null-assertion", "typescript", "Forbidden non-null assertion."),
    ("unknown:node:ENOENT", "node", "ENOENT", "javascript", "Error: ENOENT: no such file or directory, open '/app/config/settings.json'"),
    ("unknown:rustc:E0560", "rustc", "E0560", "rust", "error[E0560]: struct `Config` has no field named `timeout`"),
    ("unknown:rustc:E0658", "rustc", "E0658", "rust", "error[E0658]: use of unstable library feature `let_chains`"),
    ("unknown:clippy:needless_borrow", "clippy", "clippy::needless_borrow", "rust", "warning: this expression creates a reference which is immediately dereferenced by the compiler"),
    ("unknown:clippy:single_match", "clippy", "clippy::single_match", "rust", "warning: you seem to be trying to use `match` for destructuring a single pattern. Consider using `if let`"),
    ("unknown:staticcheck:SA1019", "staticcheck", "SA1019", "go", "strings.Title has been deprecated since Go 1.18 and an alternative has been available since Go 1.0: The rule Title uses for word boundaries does not handle Unicode punctuation properly. Use golang.org/x/text/cases instead."),
    ("unknown:staticcheck:S1002", "staticcheck", "S1002", "go", "should omit comparison to bool constant, can be simplified to `ok`"),
    ("unknown:errcheck", "errcheck", "errcheck", "go", "Error return value of `f.Close` is not checked"),
    ("unknown:govet:loopclosure", "go vet", "loopclosure", "go", "loop variable v captured by func literal"),
    ("unknown:shellcheck:SC2116", "shellcheck", "SC2116", "shell", "Useless echo? Instead of 'cmd $(echo foo)', just use 'cmd foo'."),
    ("unknown:shellcheck:SC2012", "shellcheck", "SC2012", "shell", "Use find instead of ls to better handle non-alphanumeric filenames."),
    ("unknown:shellcheck:SC2236", "shellcheck", "SC2236", "shell", "Use -n instead of ! -z."),
    ("unknown:hadolint:DL3013", "hadolint", "DL3013", "dockerfile", "Pin versions in pip. Instead of `pip install <package>` use `pip install <package>==<version>` or `pip install --requirement <requirements file>`"),
    ("unknown:hadolint:DL3018", "hadolint", "DL3018", "dockerfile", "Pin versions in apk add. Instead of `apk add <package>` use `apk add <package>=<version>`"),
    ("unknown:yamllint:truthy", "yamllint", "truthy", "yaml", "truthy value should be one of [false, true]"),
    ("unknown:javac:lossy-conversion", "javac", "compiler.err.prob.found.req", "java", "error: incompatible types: possible lossy conversion from double to int"),
    ("unknown:kotlin:UNRESOLVED_REFERENCE", "kotlin", "UNRESOLVED_REFERENCE", "kotlin", "Unresolved reference: fetchOrders"),
    ("unknown:clang:undeclared-identifier", "clang", "undeclared_var_use", "cpp", "use of undeclared identifier 'buffer_size'"),
    ("unknown:terraform:unsupported-argument", "terraform", "", "hcl", "Unsupported argument: An argument named \"instance_typ\" is not expected here."),
    ("unknown:markdownlint:MD013", "markdownlint", "MD013", "markdown", "Line length [Expected: 80; Actual: 112]"),
)

# Everyday diagnostics first (a Python/TypeScript-heavy developer who also writes Rust, Go and
# shell); the rest of the starter follows in a seeded order.
POPULAR = (
    "ruff:F401", "ts:2339", "ruff:F841", "ts:2322", "ruff:E501", "pyright:reportAttributeAccessIssue",
    "ts:2304", "ruff:F821", "ts:2345", "pyright:reportOptionalMemberAccess", "ts:6133", "eslint:no-unused-vars",
    "ruff:I001", "mypy:arg-type", "rustc:E0382", "rustc:E0308", "ts:2532", "ts:7006", "python:KeyError",
    "python:AttributeError:NoneType", "pyright:reportArgumentType", "ruff:W291", "go:unused-import",
    "go:unused-variable", "shellcheck:SC2086", "ts:18048", "rustc:unused_variables", "ruff:E711",
    "python:ModuleNotFoundError", "ruff:B006", "mypy:union-attr", "node:TypeError:cannot-read-properties",
    "rustc:E0502", "ts:2307", "git:merge-conflict", "python:TypeError:not-subscriptable", "ruff:UP006",
    "eslint:react-hooks/exhaustive-deps", "pyright:reportMissingImports", "ruff:E722",
)

# -- vocabularies ------------------------------------------------------------------------------

def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_NOUNS = _words(
    "user order config session request response cache item token account payload invoice customer "
    "product cart price address report job task queue event message record row column field schema "
    "model view form query result batch chunk buffer stream socket client server handler route path "
    "file image page widget layout locale metric counter span trace logger context state store "
    "action hook signal channel worker pool lock tenant")
_VERBS = _words(
    "load save fetch parse build render send read write update delete create validate convert format "
    "compute resolve merge split flush close open start stop retry handle dispatch encode decode")
_QUALIFIERS = _words("raw parsed cached pending active default current next last total max min new old base local remote")
_CLASS_SUFFIXES = _words("Service Client Config Handler Repository Manager Schema Model Request Response Error Props "
                         "State Store")
_PY_MODULES = _words(
    "json re typing pathlib datetime collections itertools functools subprocess logging asyncio dataclasses "
    "requests numpy pandas httpx pydantic sqlalchemy yaml click attrs boto3 redis pytest toml shutil "
    "tempfile uuid hashlib csv")
_TS_MODULES = _words("react lodash axios express zod date-fns uuid rxjs ./api ./utils ../models/user @/lib/http "
                     "@tanstack/react-query vitest prisma")
_RUST_CRATES = _words("serde serde_json tokio anyhow thiserror reqwest clap tracing chrono regex rand")
_GO_PACKAGES = _words("fmt os io strings strconv context errors net/http encoding/json time sync log sort")
_CLI_TOOLS = _words("jq rg fd yq kubectl terraform helm aws gcloud node npm pnpm cargo poetry uv make gh")
_BRANCHES = _words("main develop release/2.4 feature/login feature/checkout fix/timeout hotfix/auth "
                   "feature/search chore/deps")
_IMAGES = _words("nginx postgres redis python node alpine ubuntu golang rust grafana/grafana")
_NIX_PKGS = _words("nodejs_20 python312 ripgrep jq git curl openssl postgresql_16 go rustc cargo")

# Quoted words that carry meaning (types, literals): kept as they are (as hybrid-lsp's normaliser does).
_KEEP = frozenset(_words(
    "NoneType None True False str int float bool bytes list dict tuple set object undefined null void any "
    "unknown never number string boolean self cls"))
_QUOTED = re.compile(r"`([^`\n]{1,200})`|(?<!\w)'([^'\n]{1,200})'(?!\w)|(?<!\w)\"([^\"\n]{1,200})\"(?!\w)"
                     r"|‘([^’\n]{1,200})’|“([^”\n]{1,200})”")
_WORD = re.compile(r"[A-Za-z_$][\w$]*")
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
_MODULE_CONTEXT = re.compile(r"\bimport|module|package|crate|stubs?\b|declaration file", re.IGNORECASE)

# Unquoted names some tools print: (regex of the name, kind). Varied like the quoted ones.
_UNQUOTED: dict[str, tuple[tuple[str, str], ...]] = {
    "go:unused-variable": ((r"(?<=used: )\w+", "var"),),
    "go:undefined": ((r"(?<=undefined: )\w+", "var"),),
    "go:redeclared": ((r"^\w+(?= redeclared)", "var"),),
    "shellcheck:SC2034": ((r"^\w+(?= appears unused)", "shvar"),),
    "shellcheck:SC2154": ((r"^\w+(?= is referenced)", "shvar"),),
    "bash:command-not-found": ((r"(?<=bash: )[\w-]+(?=: command)", "cli"),),
    "bash:unbound-variable": ((r"\w+(?=: unbound)", "const"), (r"(?<=line )\d+", "num")),
    "bash:bad-substitution": ((r"(?<=line )\d+", "num"),),
    "bash:unary-operator-expected": ((r"(?<=line )\d+", "num"),),
    "node:ReferenceError": ((r"(?<=ReferenceError: )\w+(?= is not)", "var"),),
    "node:TypeError:not-a-function": ((r"(?<=TypeError: )[\w.]+(?= is not a function)", "member"),),
    "node:EADDRINUSE": ((r"(?<=:::)\d+", "port"),),
    "docker:port-already-allocated": ((r"(?<=0\.0\.0\.0:)\d+", "port"),),
    "git:src-refspec": ((r"(?<=refspec )\S+", "branch"),),
    "git:no-upstream": ((r"(?<=branch )\S+(?= has no)", "branch"),),
    "git:detached-head": ((r"(?<=detached at )\w+", "sha"),),
    "ruff:E501": ((r"(?<=\()\d+(?= > )", "long"),),
    "ruff:F811": ((r"(?<=from line )\d+", "num"),),
    "unknown:kotlin:UNRESOLVED_REFERENCE": ((r"(?<=reference: )\w+", "var"),),
    "unknown:govet:loopclosure": ((r"(?<=variable )\w+(?= captured)", "var"),),
    "unknown:markdownlint:MD013": ((r"(?<=Actual: )\d+", "long"),),
}

_COMMENT = {"python": "#", "shell": "#", "git": "#", "dockerfile": "#", "nix": "#", "yaml": "#", "hcl": "#",
            "typescript": "//", "javascript": "//", "rust": "//", "go": "//", "java": "//", "kotlin": "//",
            "cpp": "//", "markdown": "<!--"}


def _cap(word: str) -> str:
    return word[:1].upper() + word[1:]


class Names:
    """Realistic names for one site, drawn from its own random generator."""

    def __init__(self, rng: random.Random, language: str) -> None:
        self.rng, self.language = rng, language

    def pick(self, items):
        return self.rng.choice(items)

    def var(self) -> str:
        words = [self.pick(_QUALIFIERS), self.pick(_NOUNS)] if self.rng.random() < 0.5 else [self.pick(_NOUNS)]
        if self.rng.random() < 0.3:
            words.append(self.pick(("id", "ids", "map", "list", "count", "path", "name")))
        if self.language in ("typescript", "javascript", "go", "java", "kotlin"):
            return words[0] + "".join(_cap(w) for w in words[1:])
        return "_".join(words)

    def func(self) -> str:
        verb, noun = self.pick(_VERBS), self.pick(_NOUNS)
        return f"{verb}{_cap(noun)}" if self.language in ("typescript", "javascript", "java", "kotlin") else (
            f"{_cap(verb)}{_cap(noun)}" if self.language == "go" else f"{verb}_{noun}")

    def cls(self) -> str:
        return _cap(self.pick(_NOUNS)) + self.pick(_CLASS_SUFFIXES)

    def const(self) -> str:
        return f"{self.pick(_QUALIFIERS)}_{self.pick(_NOUNS)}".upper()

    def module(self) -> str:
        pools = {"python": _PY_MODULES, "dockerfile": _PY_MODULES, "rust": _RUST_CRATES, "go": _GO_PACKAGES}
        return self.pick(pools.get(self.language, _TS_MODULES))

    def number(self, low: int = 2, high: int = 400) -> str:
        return str(self.rng.randint(low, high))

    def path(self, original: str) -> str:
        suffix = Path(original.rstrip("/")).suffix or ""
        stem = f"{self.pick(_NOUNS)}_{self.pick(_NOUNS)}" if self.rng.random() < 0.5 else self.pick(_NOUNS)
        folder = self.pick(("src", "app", "lib", "config", "data", "services/api", "pkg/core"))
        if original.startswith("/"):
            return f"/{self.pick(('srv', 'app', 'opt', 'home/dev/project'))}/{folder}/{stem}{suffix}"
        if original.startswith("./"):
            return f"./{stem}{suffix}"
        return f"{folder}/{stem}{suffix}"

    def of_kind(self, kind: str) -> str:
        return {
            "var": self.var, "const": self.const, "cli": lambda: self.pick(_CLI_TOOLS),
            "shvar": lambda: self.var().replace("-", "_"), "num": lambda: self.number(2, 240),
            "long": lambda: self.number(89, 180), "port": lambda: self.pick(("3000", "5173", "8000", "8080", "9000")),
            "branch": lambda: self.pick(_BRANCHES), "sha": lambda: f"{self.rng.getrandbits(28):07x}",
            "member": lambda: f"{self.var()}.{self.func()}",
        }[kind]()


def vary_message(truth_id: str, message: str, language: str, names: Names) -> str:
    """The message with its names, numbers and paths replaced; punctuation, types and code kept."""
    chosen: dict[str, str] = {}
    module_context = bool(_MODULE_CONTEXT.search(message))

    def replacement(value: str) -> str | None:
        if value in _KEEP or len(value) > 60:
            return None
        if value.startswith(("/", "./", "~/")) or re.fullmatch(r"[\w.-]+/[\w./-]+\.\w+", value):
            return names.path(value)
        if value.isdigit():
            return names.number()
        if _DOTTED.fullmatch(value):
            if module_context:
                return names.module() if names.language != "python" else ".".join([names.module(), names.pick(_NOUNS)])
            return f"{names.var()}.{names.func()}"
        if not _WORD.fullmatch(value):
            return None  # code, operators, placeholders such as `<package>`: the template itself
        if module_context and value.islower():
            return names.module()
        if value.isupper() and len(value) > 1:
            return names.const()
        if value[:1].isupper():
            return names.cls()
        if len(value) == 1:  # loop variables and the like stay short
            return names.pick("ijknxyv")
        return names.var()

    def quoted(match: re.Match[str]) -> str:
        value = next(group for group in match.groups() if group is not None)
        if value not in chosen:
            chosen[value] = replacement(value) or value
        text = match.group(0)
        return text.replace(value, chosen[value])

    out = _QUOTED.sub(quoted, message)
    for pattern, kind in _UNQUOTED.get(truth_id, ()):
        out = re.sub(pattern, lambda _, kind=kind: names.of_kind(kind), out, count=1, flags=re.MULTILINE)
    return out


# -- documents ---------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Site:
    """One place in one file where an error shows: the document and what fixes it."""

    message: str
    path: str
    lines: tuple[str, ...]
    expected: tuple[str, ...]  # the correct content of line LINE (empty: the line is deleted)
    wrong: str  # a plausible wrong fix of line LINE: the diagnostic silenced, not fixed

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def fixed_text(self) -> str:
        return "\n".join(self.lines[:LINE] + self.expected + self.lines[LINE + 1:])


def _usable(identifier: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_][\w.]*", identifier)) and len(identifier) <= 40


def _slots(message: str, names: Names) -> dict[str, str]:
    ids = [i for i in normalise(message).identifiers if _usable(i)]
    return {
        "a": ids[0] if ids else names.var(), "b": ids[1] if len(ids) > 1 else names.var(),
        "v": names.var(), "f": names.func(), "m": names.func() if names.language != "go" else _cap(names.func()),
        "n": names.number(2, 120), "C": names.cls(), "p": names.var(), "mod": names.module(),
        "cli": names.pick(_CLI_TOOLS), "branch": names.pick(_BRANCHES), "image": names.pick(_IMAGES),
        "pkg": names.pick(_NIX_PKGS), "noun": names.pick(_NOUNS), "T": names.cls(),
    }


# Per language: (documents, statements). A document is (head lines, tail lines, indent) around the
# broken statement; a statement is a format string over _slots().
_PY_DOCS = (
    (("import logging", "def {f}({p}):"), ("    logging.getLogger(__name__).debug(\"{f} done\")", "    return {v}", ""), "    "),
    (("from __future__ import annotations", "async def {f}({p}):"), ("    await asyncio.sleep(0)", "    return {v}", ""), "    "),
    (("class {C}:", "    def {f}(self, {p}):"), ("        self._{v} = {v}", "        return {v}", ""), "        "),
)
_PY_STATEMENTS = ("{v} = {a}.{m}({b})", "{v} = {f}({a}, {b})", "{v} = {a}[{b}]", "{a}.{m}({b}, timeout={n})",
                  "{v}: {T} = {f}({a})")
_PY_MODULE_DOCS = ((("\"\"\"{C} helpers.\"\"\"", "from __future__ import annotations"), ("", "", "def {f}() -> None:", "    ..."), ""),)
_PY_MODULE_STATEMENTS = ("import {a}", "from {a} import {b}")
_TS_DOCS = (
    (("import {{ {f} }} from \"./{noun}\";", "export function {m}({p}: {T}) {{"), ("  return {v};", "}}", ""), "  "),
    (("import type {{ {T} }} from \"../types\";", "export async function {m}({p}: {T}) {{"), ("  await flush();", "  return {v};", "}}", ""), "  "),
    (("export class {C} {{", "  {f}({p}: {T}) {{"), ("    return {v};", "  }}", "}}", ""), "    "),
)
_TS_STATEMENTS = ("const {v} = {a}.{m}({b});", "const {v}: {T} = {f}({a}, {b});", "{a}.{m}({b});",
                  "let {v} = await {f}({a});")
_RUST_DOCS = (
    (("use std::collections::HashMap;", "fn {f}({p}: &str) -> anyhow::Result<()> {{"), ("    tracing::debug!(\"done\");", "    Ok(())", "}}", ""), "    "),
    (("impl {C} {{", "    pub fn {f}(&mut self, {p}: usize) -> usize {{"), ("        {p}", "    }}", "}}", ""), "        "),
)
_RUST_STATEMENTS = ("let {v} = {a}.{m}({b});", "let {v}: {T} = {f}(&{a}, {b});", "{a}.{m}(&{b})?;")
_GO_DOCS = (
    (("package {noun}", "func {m}({p} string) error {{"), ("\treturn nil", "}}", ""), "\t"),
    (("package {noun}", "func (s *{C}) {m}(ctx context.Context) error {{"), ("\ts.log.Debug(\"done\")", "\treturn nil", "}}", ""), "\t"),
)
_GO_STATEMENTS = ("{v} := {a}.{m}({b})", "{v}, err := {f}({a}, {b})", "{a}.{m}({b})")
_SHELL_DOCS = ((("#!/usr/bin/env bash", "set -euo pipefail"), ("echo \"done\"", ""), ""),
               (("#!/bin/sh", "cd \"$(dirname \"$0\")\""), ("exit 0", ""), ""))
_SHELL_STATEMENTS = ("{cli} ${v} {b}", "{v}=$({cli} {a})", "for {v} in $({cli} {a}); do echo ${v}; done",
                     "cp $src_{v} /srv/{noun}/")
_GIT_STATEMENTS = ("git push origin {branch}", "git checkout {branch}", "git merge {branch}",
                   "git pull --rebase origin {branch}", "git clone git@github.com:acme/{noun}-service.git")
_DOCKER_SHELL_STATEMENTS = ("docker run --rm -p 8080:80 {image}", "docker build -t {image}:{n} .",
                            "docker exec -it {noun} bash", "docker compose up -d {noun}")
_DOCKERFILE_DOCS = ((("FROM python:3.12-slim", "WORKDIR /app"), ("COPY . .", "CMD [\"python\", \"-m\", \"app\"]", ""), ""),
                    (("FROM node:20-alpine AS build", "WORKDIR /src"), ("COPY package*.json ./", "RUN npm ci", ""), ""))
_DOCKERFILE_STATEMENTS = ("RUN apt-get update && apt-get install -y {cli} curl", "RUN pip install {mod}",
                          "RUN cd /src && make {noun}", "CMD python -m {noun}", "COPY {noun}.txt /app/")
_NIX_DOCS = ((("{{ pkgs, lib, ... }}:", "{{"), ("  programs.git.enable = true;", "}}", ""), "  "),)
_NIX_STATEMENTS = ("environment.systemPackages = with pkgs; [ {pkg} ];", "services.{noun}.enable = true;",
                   "src = fetchTarball \"https://github.com/acme/{noun}/archive/main.tar.gz\";")
_OTHER_DOCS = {
    "java": ((("package com.acme.{noun};", "public class {C} {{"), ("    }}", "}}", ""), "    "),),
    "kotlin": ((("package com.acme.{noun}", "class {C} {{"), ("}}", ""), "    "),),
    "cpp": ((("#include <vector>", "int {f}(int {p}) {{"), ("    return 0;", "}}", ""), "    "),),
    "yaml": ((("name: {noun}", "on:"), ("jobs: {{}}", ""), "  "),),
    "hcl": ((("resource \"aws_instance\" \"{noun}\" {{", "  ami = \"ami-0c55b159cbfafe1f0\""), ("}}", ""), "  "),),
    "markdown": ((("# {C}", ""), ("", "## Usage", ""), ""),),
}
_OTHER_STATEMENTS = {
    "java": ("int {v} = {a}.{m}({b});",), "kotlin": ("val {v} = {a}.{m}({b})",), "cpp": ("auto {v} = {a}.{m}({b});",),
    "yaml": ("push: yes", "pull_request: on"), "hcl": ("instance_typ = \"t3.micro\"",),
    "markdown": ("The {noun} service reads its {noun} settings from the environment first and falls back to the defaults described below.",),
}
_PY_MODULE_LEVEL = frozenset((
    "ruff:E402", "ruff:I001", "ruff:F403", "ruff:UP035", "pyright:reportMissingImports",
    "pyright:reportMissingModuleSource", "pyright:reportAttributeAccessIssue:import-symbol", "mypy:import-not-found",
    "mypy:import-untyped", "python:ModuleNotFoundError", "python:ImportError:cannot-import-name",
    "python:ImportError:circular"))


def _generic(truth: str, source: str, language: str, message: str, names: Names) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """(head, broken line, tail) for an error without a hand-written site."""
    rng = names.rng
    if language == "python":
        docs, statements = (_PY_MODULE_DOCS, _PY_MODULE_STATEMENTS) if truth in _PY_MODULE_LEVEL else (_PY_DOCS, _PY_STATEMENTS)
    elif language in ("typescript", "javascript"):
        docs, statements = _TS_DOCS, _TS_STATEMENTS
    elif language == "rust":
        docs, statements = _RUST_DOCS, _RUST_STATEMENTS
    elif language == "go":
        docs, statements = _GO_DOCS, _GO_STATEMENTS
    elif language == "dockerfile":
        docs, statements = _DOCKERFILE_DOCS, _DOCKERFILE_STATEMENTS
    elif language == "nix":
        docs, statements = _NIX_DOCS, _NIX_STATEMENTS
    elif language in _OTHER_DOCS:
        docs, statements = _OTHER_DOCS[language], _OTHER_STATEMENTS[language]
    else:  # shell, and errors printed by git, docker and bash while a script runs
        docs = _SHELL_DOCS
        statements = {"git": _GIT_STATEMENTS, "docker": _DOCKER_SHELL_STATEMENTS}.get(source, _SHELL_STATEMENTS)
    head, tail, indent = rng.choice(docs)
    slots = _slots(message, names)
    def fill(line: str) -> str:
        return line.format(**slots)

    return tuple(map(fill, head)), indent + fill(rng.choice(statements)), tuple(map(fill, tail))


# Hand-written sites for the starter entries whose stored edit fixes the line: (message, head, broken,
# expected, tail). The expected lines are checked against the entry's stored edit when the stream is built.
def _edit_site(truth: str, message: str, names: Names) -> tuple[str, tuple[str, ...], str, tuple[str, ...], tuple[str, ...]] | None:
    v, f, n = names.var(), names.func(), names.number(2, 90)
    body = ("import logging", f"def {f}({names.var()}):")
    tail = ("    return None", "")
    if truth == "ruff:F401":
        module = names.pick(("json", "re", "os", "sys", "typing", "shutil", "logging", "pathlib", "itertools", "uuid", "csv", "time"))
        return (f"`{module}` imported but unused", ("\"\"\"Command line entry point.\"\"\"", "from __future__ import annotations"),
                f"import {module}", (), ("import argparse", "", "", "def main() -> None:", "    argparse.ArgumentParser().parse_args()"))
    if truth == "ruff:E703":
        return message, body, f"    {v} = {f}({n});", (f"    {v} = {f}({n})",), tail
    if truth == "ruff:E711":
        return message, body, f"    if {v} == None:", (f"    if {v} is None:",), (f"        return {n}", f"    return {v}", "")
    if truth == "ruff:E712":
        return (f"Avoid equality comparisons to `True`; use `{v}:` for truth checks", body, f"    if {v} == True:",
                (f"    if {v}:",), (f"        {f}()", "    return None", ""))
    if truth == "ruff:E713":
        key = names.var()
        return message, body, f"    if not {key} in {v}:", (f"    if {key} not in {v}:",), (f"        {v}[{key}] = {n}", f"    return {v}", "")
    if truth == "ruff:E714":
        return message, body, f"    if not {v} is None:", (f"    if {v} is not None:",), (f"        return {v}", "    return None", "")
    if truth == "ruff:E722":
        return (message, (f"def {f}() -> None:", f"    try: {names.func()}()"), "    except:", ("    except Exception:",),
                ("        logging.exception(\"failed\")", ""))
    if truth == "ruff:E731":
        x = names.pick("xyn")
        return (message, body, f"    {v} = lambda {x}: {x} * {n}", (f"    def {v}({x}):", f"        return {x} * {n}"),
                (f"    return list(map({v}, range({n})))", ""))
    if truth == "ruff:F541":
        word = names.pick(_NOUNS)
        return message, body, f"    print(f\"starting {word} export\")", (f"    print(\"starting {word} export\")",), tail
    if truth == "ruff:F632":
        return (message, body, f"    if {v} is \"{names.pick(_NOUNS)}\":", None, (f"        return {n}", "    return 0", ""))
    if truth == "ruff:W291":
        return message, body, f"    {v} = {n}" + " " * names.rng.randint(1, 3), (f"    {v} = {n}",), (f"    return {v}", "")
    if truth == "ruff:W293":
        return message, (f"def {f}({v}):", f"    {v}.{names.func()}()"), " " * 4, ("",), (f"    return {v}", "")
    return None


# -- the stream --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Truth:
    id: str
    known: bool
    source: str
    code: str
    language: str
    message: str  # the example message the sites' messages are varied from


@dataclass(frozen=True, slots=True)
class Event:
    index: int
    truth: str
    known: bool
    site: int  # which code site of this error (the same site repeats the same document)
    source: str
    code: str
    language: str
    site_data: Site

    @property
    def message(self) -> str:
        return self.site_data.message

    @property
    def key(self) -> tuple[str, int]:
        return (self.truth, self.site)


@dataclass
class Stream:
    events: list[Event]
    truths: dict[str, Truth]
    solutions: dict[str, str]  # starter entry id -> solution text (what a model sees as context)
    seed: int
    summary: dict = field(default_factory=dict)


def starter_truths() -> tuple[list[Truth], dict[str, str], dict[str, object]]:
    truths, solutions, stored_edits = [], {}, {}
    for path in sorted(STARTER_DIR.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            entry = parse_entry(json.loads(line))
            solutions[entry.id] = entry.solution
            if entry.collection != "error-solutions":
                continue
            truths.append(Truth(entry.id, True, entry.source, entry.code, entry.language or "shell", entry.error))
            if entry.edit is not None:
                stored_edits[entry.id] = entry.edit
    return truths, solutions, stored_edits


def _site(truth: Truth, site: int, seed: int, stored_edits: dict) -> Site:
    rng = random.Random(f"replay-site:{seed}:{truth.id}:{site}")
    names = Names(rng, truth.language)
    comment = _COMMENT.get(truth.language, "#")
    handwritten = _edit_site(truth.id, truth.message, names) if truth.id in stored_edits else None
    if handwritten is not None:
        message, head, broken, expected, tail = handwritten
        edit = stored_edits[truth.id]
        lines = (*head, broken, *tail)
        made = edits.from_pattern("\n".join(lines), LINE, LINE, edit.pattern, edit.replacement, normalise(message).identifiers)
        if expected is None:
            expected = made.new_lines
        if made.new_lines != tuple(expected):
            raise AssertionError(f"{truth.id}: the stored edit gives {made.new_lines!r}, the site expects {expected!r}")
    else:
        message = vary_message(truth.id, truth.message, truth.language, names)
        head, broken, tail = _generic(truth.id, truth.source, truth.language, message, names)
        closing = " -->" if comment == "<!--" else ""
        expected = (f"{broken.rstrip()}  {comment} fixed:{truth.id}{closing}",)
    closing = " -->" if comment == "<!--" else ""
    # The wrong fix a model makes when it does not know: the diagnostic silenced, the code unchanged.
    wrong = f"{broken.rstrip() or broken}  {comment} noqa: {truth.code or 'ignore'}{closing}"
    lines = (*head, broken, *tail)
    assert lines[LINE] == broken and len(head) == LINE
    return Site(message, _path(truth, names), lines, tuple(expected), wrong)


def _path(truth: Truth, names: Names) -> str:
    noun, other = names.pick(_NOUNS), names.pick(_NOUNS)
    return {
        "python": f"src/{noun}/{other}.py", "typescript": f"src/{noun}/{other}.ts", "javascript": f"src/{noun}/{other}.js",
        "rust": f"src/{noun}.rs", "go": f"internal/{noun}/{other}.go", "dockerfile": f"docker/{noun}/Dockerfile",
        "nix": f"nix/{noun}.nix", "java": f"src/main/java/com/acme/{_cap(noun)}.java", "kotlin": f"app/src/{_cap(noun)}.kt",
        "cpp": f"src/{noun}.cpp", "yaml": f".github/workflows/{noun}.yml", "hcl": f"infra/{noun}.tf",
        "markdown": f"docs/{noun}.md",
    }.get(truth.language, f"scripts/{noun}-{other}.sh")


def _zipf_pick(rng: random.Random, cumulative: list[float]) -> int:
    x = rng.random() * cumulative[-1]
    lo, hi = 0, len(cumulative) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cumulative[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _cumulative(n: int, s: float) -> list[float]:
    total, out = 0.0, []
    for rank in range(1, n + 1):
        total += 1.0 / rank ** s
        out.append(total)
    return out


def build(events: int, seed: int = 7, unknown_share: float = UNKNOWN_SHARE) -> Stream:
    known, solutions, stored_edits = starter_truths()
    by_id = {t.id: t for t in known}
    missing = [i for i in (*POPULAR, *_CLASS_OF) if i not in by_id]
    if missing:
        raise AssertionError(f"the stream names starter entries that do not exist: {missing}")
    order = random.Random(f"replay-order:{seed}")
    rest = [t for t in known if t.id not in POPULAR]
    order.shuffle(rest)
    known_pool = [by_id[i] for i in POPULAR] + rest
    unknown_pool = [Truth(i, False, source, code, language, message) for i, source, code, language, message in UNKNOWN]
    order.shuffle(unknown_pool)
    pools = {True: (known_pool, _cumulative(len(known_pool), ZIPF_S)),
             False: (unknown_pool, _cumulative(len(unknown_pool), ZIPF_S))}
    rng = random.Random(f"replay-stream:{seed}")
    site_counts: dict[str, list[int]] = {}
    sites: dict[tuple[str, int], Site] = {}
    out: list[Event] = []
    for index in range(events):
        is_known = rng.random() >= unknown_share
        pool, cumulative = pools[is_known]
        truth = pool[_zipf_pick(rng, cumulative)]
        counts = site_counts.setdefault(truth.id, [])
        seen = sum(counts)
        # Pitman-Yor: a new site with probability (theta + d*k) / (n + theta), else an old one
        # in proportion to (its count - d).
        if not counts or rng.random() * (seen + SITE_CONCENTRATION) < SITE_CONCENTRATION + SITE_DISCOUNT * len(counts):
            counts.append(0)
            site = len(counts) - 1
        else:
            x = rng.random() * (seen - SITE_DISCOUNT * len(counts))
            site = 0
            for site, count in enumerate(counts):
                x -= count - SITE_DISCOUNT
                if x < 0:
                    break
        counts[site] += 1
        key = (truth.id, site)
        if key not in sites:
            sites[key] = _site(truth, site, seed, stored_edits)
        out.append(Event(index, truth.id, truth.known, site, truth.source, truth.code, truth.language, sites[key]))
    stream = Stream(out, {t.id: t for t in (*known_pool, *unknown_pool)}, solutions, seed)
    stream.summary = summarise(stream)
    return stream


def summarise(stream: Stream) -> dict:
    events = stream.events
    by_truth = Counter(e.truth for e in events)
    by_site = Counter(e.key for e in events)
    languages = Counter(e.language for e in events)
    first_seen, repeats = set(), 0
    for event in events:
        if event.key in first_seen:
            repeats += 1
        first_seen.add(event.key)
    return {
        "events": len(events),
        "unknown_events": sum(not e.known for e in events),
        "unknown_share": round(sum(not e.known for e in events) / len(events), 4) if events else 0.0,
        "distinct_errors": len(by_truth),
        "distinct_known_errors": len({e.truth for e in events if e.known}),
        "distinct_unknown_errors": len({e.truth for e in events if not e.known}),
        "distinct_sites": len(by_site),
        "site_repeat_share": round(repeats / len(events), 4) if events else 0.0,
        "events_with_stored_edit_entry": sum(e.truth in _EDIT_IDS for e in events),
        "top_errors": by_truth.most_common(10),
        "languages": dict(languages.most_common()),
    }


_EDIT_IDS = frozenset(("ruff:F401", "ruff:E703", "ruff:E711", "ruff:E712", "ruff:E713", "ruff:E714", "ruff:E722",
                       "ruff:E731", "ruff:F541", "ruff:F632", "ruff:W291", "ruff:W293"))

MakeQuery = Callable[[Event, int], object]
