"""Synthetic but realistic knowledge-base entries and diagnostics: error templates × identifiers × tools.

Real error messages are fixed templates filled with names, types and modules; a large knowledge
base holds many fixes per template, told apart by the library, type or name they are about. So
every entry here is a real tool's message template filled from realistic vocabularies, with a
title and solution that name those identifiers (as a team's stored fixes do). Deterministic for a
given seed, so every run measures the same data.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from hybrid_lsp.knowledge import Entry, StoredEdit


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_NOUNS = _words(
    "user order config session request response cache item token account payload invoice customer "
    "product cart price address report job task queue event message record row column field schema "
    "model view form query result batch chunk buffer stream socket client server handler route path "
    "file dir image page widget layout theme locale timezone metric counter span trace logger "
    "context state store action reducer hook effect signal channel worker pool lock mutex tenant"
)
_QUALIFIERS = _words(
    "raw parsed cached pending active default current next last total max min new old base local "
    "remote shared temp primary secondary valid invalid"
)
_VERBS = _words(
    "load save fetch parse build render send read write update delete create validate convert format "
    "compute resolve merge split flush close open start stop retry handle dispatch encode decode"
)
_PY_MODULES = _words(
    "os sys json re typing pathlib datetime collections itertools functools subprocess logging "
    "asyncio dataclasses requests numpy pandas httpx pydantic sqlalchemy django.db flask fastapi "
    "click yaml toml attrs boto3 redis celery pytest scipy matplotlib"
)
_TS_MODULES = _words(
    "react react-dom lodash axios express zod vue next/router rxjs date-fns uuid @tanstack/react-query "
    "jest vitest @nestjs/common prisma mongoose"
)
_RUST_CRATES = _words("serde tokio anyhow thiserror reqwest clap tracing chrono regex rand hyper axum")
_GO_PACKAGES = _words("fmt os io strings strconv context errors net/http encoding/json time sync log sort")
_PY_TYPES = ("int", "str", "bytes", "float", "bool", "None", "list[str]", "dict[str, Any]", "Optional[User]",
             "Path", "Sequence[int]", "datetime", "Decimal", "tuple[int, int]", "Callable[[], None]", "Iterator[str]")
_TS_TYPES = ("string", "number", "boolean", "undefined", "null", "string[]", "Record<string, unknown>",
             "Promise<void>", "User", "Order | undefined", "HTMLElement", "unknown", "never")
_RUST_TYPES = ("i32", "u64", "usize", "String", "&str", "Vec<u8>", "Option<String>", "Result<(), Error>",
               "&mut Self", "f64")
_GO_TYPES = _words("int string []byte error float64 bool time.Duration *Config map[string]any")


def _snake(words: list[str]) -> str:
    return "_".join(words)


def _camel(words: list[str]) -> str:
    return words[0] + "".join(w.title() for w in words[1:])


def _pascal(words: list[str]) -> str:
    return "".join(w.title() for w in words)


@dataclass(frozen=True, slots=True)
class Template:
    source: str
    code: str
    language: str
    error: str
    title: str
    solution: str
    edit: tuple[str, str] | None = None


# {a}, {b}: identifiers; {cls}: a type name; {mod}: a module; {t1}, {t2}: types; {n}: a number;
# {fn}: a function name. Quoting follows each tool's real message.
TEMPLATES: tuple[Template, ...] = (
    Template("ruff", "F401", "python", "`{mod}` imported but unused", "Remove the unused import of {mod} from {a}.py",
             "Nothing in this module refers to {mod}; delete the import (ruff check --fix does it), or "
             "re-export it through __all__ if it is part of the package interface.",
             ("^[ \\t]*import {id1}[ \\t]*\\n", "")),
    Template("ruff", "F841", "python", "Local variable `{a}` is assigned to but never used",
             "Use or drop {a} in {fn}", "{a} is assigned in {fn} and never read: a typo in a later use, or "
             "dead code left from a refactor. Use the value, or assign it to _ if only the side effect matters."),
    Template("ruff", "F821", "python", "Undefined name `{a}`", "Define or import {a} before {fn} uses it",
             "{a} is not bound in any enclosing scope of {fn}. Fix the spelling, define it, or import it from "
             "the module that provides it (often {mod})."),
    Template("ruff", "F811", "python", "Redefinition of unused `{fn}` from line {n}",
             "Remove the stale definition of {fn}", "The first binding of {fn} is never used before it is "
             "bound again. Delete the duplicate or rename one of the two definitions."),
    Template("ruff", "E501", "python", "Line too long ({n} > 88)", "Wrap the long {fn} call over lines",
             "Break the expression inside brackets, one argument per line, or extract {a} into a variable."),
    Template("ruff", "B006", "python", "Do not use mutable data structures for argument defaults",
             "Default {a} to None in {fn}", "A mutable default is created once and shared by every call of "
             "{fn}. Default {a} to None and create the list or dict inside the function."),
    Template("ruff", "UP007", "python", "Use `X | Y` for type annotations", "Write {t1} | None for {a}",
             "Since Python 3.10 unions are written with |; replace Optional[{t1}] on {a} with {t1} | None."),
    Template("ruff", "SIM108", "python", "Use ternary operator `{a} = {b} if cond else {n}` instead of "
             "`if`-`else`-block", "Collapse the if/else that assigns {a}",
             "Both branches only assign {a}; a conditional expression says it in one line."),
    Template("pyright", "reportAttributeAccessIssue", "python",
             'Cannot access attribute "{a}" for class "{cls}"\n  Attribute "{a}" is unknown',
             "Use an attribute that {cls} defines instead of {a}", "{cls} has no attribute {a}: a typo, an "
             "attribute set dynamically, or a newer version of {mod}. Use the right name or declare it in "
             "{cls}.__init__."),
    Template("pyright", "reportMissingImports", "python", 'Import "{mod}" could not be resolved',
             "Install {mod} for {a}.py in the interpreter pyright uses", "Pyright cannot find {mod} in the selected "
             "environment. Install it there, or point python.analysis at the right virtual environment."),
    Template("pyright", "reportOptionalMemberAccess", "python", '"{a}" is not a known attribute of "None"',
             "Guard {b} against None before reading {a}", "{b} may be None here; check it first (if {b} is "
             "None: return) so the type narrows to {cls}."),
    Template("pyright", "reportArgumentType", "python",
             'Argument of type "{t1}" cannot be assigned to parameter "{a}" of type "{t2}" in function "{fn}"',
             "Convert the argument for {a} of {fn} to {t2}", "{fn} declares {a}: {t2} but receives {t1}. "
             "Convert the value, or widen the annotation if {fn} really accepts both."),
    Template("pyright", "reportCallIssue", "python", 'Expected {n} positional arguments',
             "Pass {fn} the arguments it declares", "The call to {fn} passes more positional arguments "
             "than it declares; pass {a} by keyword or update the signature."),
    Template("mypy", "return-value", "python", 'Incompatible return value type (got "{t1}", expected "{t2}")',
             "Return a {t2} from {fn}", "{fn} is annotated to return {t2} but a branch returns {t1}. "
             "Convert the value, or fix the annotation."),
    Template("mypy", "union-attr", "python", 'Item "None" of "{cls} | None" has no attribute "{a}"',
             "Narrow {b} to {cls} before using {a}", "Check {b} is not None (or assert it) before reading {a}."),
    Template("mypy", "attr-defined", "python", 'Module "{mod}" has no attribute "{a}"',
             "Import {a} from the module that defines it", "{mod} does not export {a} in the installed "
             "version; check the import path or the version pinned for {mod}."),
    Template("mypy", "arg-type", "python", 'Argument {n} to "{fn}" has incompatible type "{t1}"; expected "{t2}"',
             "Pass a {t2} as argument {n} of {fn}", "Convert {a} to {t2} before calling {fn}."),
    Template("python", "AttributeError", "python", "AttributeError: '{cls}' object has no attribute '{a}'",
             "{cls} has no {a}: check the object's type", "The object is a {cls}, which has no {a}. Print "
             "type({b}) where it is created; a function probably returned {cls} instead of what you expected."),
    Template("python", "KeyError", "python", "KeyError: '{a}'", "Read {a} with .get() or check it first",
             "The mapping {b} has no key {a}. Use {b}.get('{a}') with a default, or validate the input."),
    Template("python", "ModuleNotFoundError", "python", "ModuleNotFoundError: No module named '{mod}'",
             "Install {mod} in the interpreter that runs {fn}", "python -m pip install {mod} with the same "
             "interpreter that runs the code."),
    Template("ts", "2304", "typescript", "Cannot find name '{a}'.", "Import or declare {a}",
             "{a} is not declared in scope; import it from {mod} or fix the spelling."),
    Template("ts", "2339", "typescript", "Property '{a}' does not exist on type '{cls}'.",
             "Add {a} to the {cls} type or narrow it", "{cls} does not declare {a}; extend the interface "
             "or narrow the value to the type that has it."),
    Template("ts", "2322", "typescript", "Type '{t1}' is not assignable to type '{t2}'.",
             "Convert {a} to {t2}", "{a} holds a {t1} where {t2} is expected; convert or fix the type."),
    Template("ts", "2345", "typescript", "Argument of type '{t1}' is not assignable to parameter of type '{t2}'.",
             "Pass {fn} a {t2}", "{fn} expects {t2}; the argument {a} is {t1}."),
    Template("ts", "7006", "typescript", "Parameter '{a}' implicitly has an 'any' type.",
             "Annotate {a} in {fn}", "Under noImplicitAny, give {a} a type in the signature of {fn}."),
    Template("ts", "2307", "typescript", "Cannot find module '{mod}' or its corresponding type declarations.",
             "Install {mod} and its types for {cls}", "npm install {mod} (and @types for it if it ships no types)."),
    Template("ts", "18048", "typescript", "'{a}' is possibly 'undefined'.", "Check {a} before use in {fn}",
             "Guard {a} (if (!{a}) return) or use optional chaining."),
    Template("eslint", "no-unused-vars", "javascript", "'{a}' is assigned a value but never used.",
             "Remove {a} or use it in {fn}", "{a} is dead; delete it, or prefix it with _ when it must stay."),
    Template("eslint", "react-hooks/exhaustive-deps", "javascript",
             "React Hook useEffect has a missing dependency: '{a}'. Either include it or remove the dependency array.",
             "Add {a} to the dependencies of the effect in {cls}", "The effect in {cls} reads {a}; list it in "
             "the dependency array or move it inside the effect."),
    Template("rustc", "E0382", "rust", "error[E0382]: borrow of moved value: `{a}`",
             "Borrow {a} instead of moving it into {fn}", "{a} was moved into {fn}; pass &{a} or clone it."),
    Template("rustc", "E0425", "rust", "error[E0425]: cannot find value `{a}` in this scope",
             "Declare {a} or bring it into scope", "{a} is not declared here; check its spelling or `use` it."),
    Template("rustc", "E0599", "rust", "error[E0599]: no method named `{fn}` found for struct `{cls}` in the current scope",
             "Implement {fn} for {cls} or import the trait", "{cls} has no method {fn}: the trait that provides "
             "it is not in scope (use {mod}::...) or the name is wrong."),
    Template("rustc", "E0308", "rust", "error[E0308]: mismatched types: expected `{t1}`, found `{t2}`",
             "Convert {a} from {t2} to {t1}", "Use .into(), as, or a parse to turn {a} into {t1}."),
    Template("rustc", "E0502", "rust",
             "error[E0502]: cannot borrow `{a}` as mutable because it is also borrowed as immutable",
             "End the shared borrow of {a} before mutating it", "Finish using the shared reference to {a} "
             "(or clone what you need) before the mutable borrow in {fn}."),
    Template("clippy", "needless_return", "rust", "unneeded `return` statement", "Drop the return at the end of {fn} in {cls}",
             "The last expression of {fn} is its value; write it without return."),
    Template("go", "UndeclaredName", "go", "undefined: {a}", "Declare {a} or import its package",
             "{a} is not declared in package {mod}; check the spelling, export it, or import the package."),
    Template("go", "UnusedVar", "go", "declared and not used: {a}", "Use {a} or assign it to _",
             "Go rejects unused locals; use {a}, delete it, or assign it to _."),
    Template("go", "UnusedImport", "go", '"{mod}" imported and not used', "Remove the {mod} import from {a}.go",
             "Delete the import of {mod} (goimports does it) or use a blank import for side effects."),
    Template("go", "IncompatibleAssign", "go",
             "cannot use {a} (variable of type {t1}) as {t2} value in assignment",
             "Convert {a} from {t1} to {t2}", "Go has no implicit conversions; write {t2}({a}) or use strconv."),
    Template("go", "MissingFieldOrMethod", "go", "{b}.{a} undefined (type {cls} has no field or method {a})",
             "Use a field that {cls} has instead of {a}", "{cls} has no {a}; check the capitalisation (exported "
             "names start upper-case) or add the method."),
    Template("shellcheck", "SC2086", "shell", "Double quote to prevent globbing and word splitting.",
             "Quote ${a} where {fn} uses it", "Write \"${a}\" so values with spaces stay one argument."),
    Template("shellcheck", "SC2034", "shell", "{a} appears unused. Verify use (or export if used externally).",
             "Use, export or remove {a}", "{a} is assigned but never read in this script."),
    Template("shellcheck", "SC2155", "shell", "Declare and assign separately to avoid masking return values.",
             "Split local {a}=$({fn}) in two", "local {a}; {a}=$({fn}) keeps the exit status of {fn}."),
    Template("hadolint", "DL3008", "dockerfile",
             "Pin versions in apt get install. Instead of `apt-get install <package>` use `apt-get install <package>=<version>`",
             "Pin {mod} in apt-get install for the {a} image", "Pin {mod} to the version you tested so rebuilds do not change it."),
)


@dataclass(frozen=True, slots=True)
class Vocabulary:
    rng: random.Random

    def words(self, count: int) -> list[str]:
        picked = [self.rng.choice(_QUALIFIERS)] if self.rng.random() < 0.4 else []
        picked += [self.rng.choice(_NOUNS) for _ in range(count)]
        return picked

    def identifier(self, language: str) -> str:
        words = self.words(self.rng.choice((1, 2, 2)))
        return _camel(words) if language in ("typescript", "javascript", "go") else _snake(words)

    def function(self, language: str) -> str:
        words = [self.rng.choice(_VERBS), *self.words(1)]
        return _camel(words) if language in ("typescript", "javascript", "go") else _snake(words)

    def cls(self) -> str:
        return _pascal(self.words(self.rng.choice((1, 2))))

    def module(self, language: str) -> str:
        pool = {"python": _PY_MODULES, "dockerfile": _PY_MODULES, "typescript": _TS_MODULES,
                "javascript": _TS_MODULES, "rust": _RUST_CRATES, "go": _GO_PACKAGES}.get(language, _PY_MODULES)
        return self.rng.choice(pool)

    def type_name(self, language: str) -> str:
        pool = {"typescript": _TS_TYPES, "javascript": _TS_TYPES, "rust": _RUST_TYPES, "go": _GO_TYPES}.get(
            language, _PY_TYPES)
        return self.rng.choice(pool)

    def fill(self, template: Template) -> dict[str, str]:
        lang = template.language
        t1 = self.type_name(lang)
        t2 = self.type_name(lang)
        while t2 == t1:
            t2 = self.type_name(lang)
        return {"a": self.identifier(lang), "b": self.identifier(lang), "cls": self.cls(),
                "mod": self.module(lang), "t1": t1, "t2": t2, "n": str(self.rng.randint(2, 240)),
                "fn": self.function(lang)}


def entries(count: int, seed: int = 7, offset: int = 0) -> Iterator[Entry]:
    """`count` entries numbered from `offset`; the same (seed, offset) always gives the same entries."""
    rng = random.Random(f"{seed}:{offset}")
    vocab = Vocabulary(rng)
    for number in range(offset, offset + count):
        template = TEMPLATES[number % len(TEMPLATES)]
        values = vocab.fill(template)
        roll = rng.random()
        collection = "error-solutions" if roll < 0.9 else ("skills-patterns" if roll < 0.95 else "best-practices")
        edit = StoredEdit(*template.edit) if template.edit else None
        fix = f"# {values['fn']}: {values['a']} -> {values['b']}\n" + "\n".join(
            f"{values['a']}_{i} = {values['fn']}({values['b']}, {i})" for i in range(rng.randint(1, 4)))
        yield Entry(
            id=f"{template.source}:{template.code}:{number}",
            error=template.error.format(**values),
            solution=template.solution.format(**values),
            title=template.title.format(**values),
            fix=fix,
            language=template.language,
            source=template.source,
            code=template.code,
            tags=(template.language, template.code.lower()),
            collection=collection,
            edit=edit,
        )


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """A diagnostic as an editor would report it: message, tool, rule code, language."""

    message: str
    source: str
    code: str
    language: str


def diagnostics(count: int, seed: int = 11) -> list[Diagnostic]:
    """Fresh messages from the same templates, with identifiers the knowledge base may never have seen."""
    rng = random.Random(seed)
    vocab = Vocabulary(rng)
    found = []
    for _ in range(count):
        template = rng.choice(TEMPLATES)
        values = vocab.fill(template)
        found.append(Diagnostic(template.error.format(**values), template.source, template.code, template.language))
    return found
