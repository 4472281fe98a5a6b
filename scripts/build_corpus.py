"""Build the retrieval benchmark's corpus of REAL diagnostics (benchmarks/retrieval/data/).

Real third-party code is downloaded from the package registries at pinned versions and real tools
are run on it; each diagnostic they print becomes one query of the retrieval benchmark, labelled
with the knowledge-base entries that answer it:

  source                                   tools (pinned)
  PyPI sdists  (pip download --no-binary)  ruff --select ALL, mypy --strict, pyright
  npm tarballs (npm pack)                  tsc --strict (--checkJs for JavaScript packages)
  Debian debs  (apt-get download)          shellcheck (every severity)
  Rust snippets in this file               rustc, clippy-driver (-W clippy::pedantic)
  Python / Node.js snippets in this file   CPython and Node.js runtime errors (the error line)

Downloads, tools and raw output stay in a scratch directory (default /tmp/hybrid-lsp-corpus, or
--work); only the derived corpus is written to the repository:

  benchmarks/retrieval/data/corpus.jsonl   one diagnostic a line:
      {"qid", "tool", "source", "code", "message", "language", "file", "count", "truth"}
  benchmarks/retrieval/data/corpus-meta.json   tool versions, sources, per-rule totals, the classes

`source` is what an editor's language client sends as the diagnostic's source; `count` is how
often the exact (tool, code, message) triple occurred (duplicates are folded into one line); at
most --per-rule distinct messages are kept per (tool, code), the most frequent first.

Truth: the ids of the knowledge base (starter + `kb import --from ruff` + `--from rustc`) that
answer the diagnostic:
  1. the entry whose tool+code equals the diagnostic's; where several entries share that key, the
     VARIANTS table picks the one whose message template the diagnostic follows;
  2. every member of an equivalence CLASS the diagnostic belongs to (the same problem reported by
     another tool, e.g. ruff F821 ~ pyright reportUndefinedVariable ~ mypy name-defined ~ NameError).
A diagnostic no entry answers keeps truth [] (it measures that no wrong known fix is served).

Run from the repository root (about 3 minutes on 2 cores; downloads are reused):

    .venv/bin/python scripts/build_corpus.py            # everything
    .venv/bin/python scripts/build_corpus.py --label    # relabel the last raw output only
    .venv/bin/python scripts/build_corpus.py --relabel  # recompute the committed corpus's truth only
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT / "benchmarks" / "retrieval" / "data"
REQUIREMENTS = Path(__file__).with_name("corpus-requirements.txt")
DEFAULT_WORK = Path(os.environ.get("HYBRID_LSP_CORPUS_WORK", "/tmp/hybrid-lsp-corpus"))

RUFF_VERSION = "0.17.6"  # the project's own (pyproject.toml)
NPM_TOOLS = {"typescript": "5.9.3", "pyright": "1.1.414"}

# name, version, roots type-checked by mypy and pyright (ruff lints the whole sdist, tests included)
PYPI = [
    ("requests", "2.32.3", ["src/requests"]),
    ("click", "8.1.7", ["src/click"]),
    ("bottle", "0.13.2", ["bottle.py"]),
    ("six", "1.16.0", ["six.py"]),
    ("tqdm", "4.66.5", ["tqdm"]),
    ("python-dateutil", "2.9.0.post0", ["src/dateutil"]),
    ("docopt", "0.6.2", ["docopt.py"]),
]
# name, version, globs given to tsc; JavaScript is checked with --checkJs
NPM = [
    ("rxjs", "7.8.1", ["src/**/*.ts"]),
    ("commander", "12.1.0", ["lib/**/*.js"]),
    ("express", "4.21.2", ["lib/**/*.js"]),
    ("axios", "1.7.9", ["lib/**/*.js"]),
    ("minimist", "1.2.8", ["index.js"]),
    ("underscore", "1.13.7", ["modules/**/*.js"]),
]
# Debian bookworm packages holding shell scripts; "bash" = sourced bash files without a shebang
DEBIAN = [
    ("bash-completion", "1:2.11-6", "bash"),
    ("initramfs-tools-core", "0.142+deb12u3", "shebang"),
    ("os-prober", "1.81", "shebang"),
    ("live-build", "1:20230502", "shebang"),
    ("neofetch", "7.1.0-4", "shebang"),
    ("dkms", "3.0.10-8+deb12u1", "shebang"),
]

TSCONFIG_STRICT = {
    "noEmit": True, "strict": True, "target": "ES2022", "skipLibCheck": True, "types": [],
    "noUnusedLocals": True, "noUnusedParameters": True, "noImplicitReturns": True,
}
TSCONFIG_TS = {**TSCONFIG_STRICT, "module": "esnext", "moduleResolution": "bundler", "lib": ["ES2022", "DOM"],
               "noImplicitOverride": True, "noPropertyAccessFromIndexSignature": True,
               "noUncheckedIndexedAccess": True, "exactOptionalPropertyTypes": True,
               "noFallthroughCasesInSwitch": True, "verbatimModuleSyntax": True}
TSCONFIG_JS = {**TSCONFIG_STRICT, "allowJs": True, "checkJs": True, "module": "commonjs",
               "moduleResolution": "node10", "maxNodeModuleJsDepth": 0}

# The `source` an editor's client reports for each tool (hybrid-lsp canonicalises it).
EDITOR_SOURCE = {"ruff": "Ruff", "mypy": "mypy", "pyright": "Pyright", "tsc": "ts", "shellcheck": "shellcheck",
                 "rustc": "rustc", "clippy": "clippy", "python": "python", "node": "node"}
LANGUAGE = {"ruff": "python", "mypy": "python", "pyright": "python", "python": "python", "tsc": "typescript",
            "node": "javascript", "shellcheck": "shell", "rustc": "rust", "clippy": "rust"}


@dataclass(frozen=True, slots=True)
class Diagnostic:
    tool: str
    code: str
    message: str
    file: str

    @property
    def language(self) -> str:
        if self.tool == "tsc" and self.file.endswith((".js", ".mjs", ".cjs")):
            return "javascript"
        return LANGUAGE[self.tool]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run(command: list[str], cwd: Path | None = None, timeout: int = 600, env: dict | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(command)}\n{result.stderr[-2000:]}")
    return result


# -- tools ------------------------------------------------------------------------------------------


@dataclass
class Tools:
    ruff: Path
    mypy: Path
    shellcheck: Path
    tsc: Path
    pyright: Path
    python: Path
    node: str
    rustc: str
    clippy: str

    def versions(self) -> dict[str, str]:
        def first_line(command: list[str]) -> str:
            out = run(command, check=False)
            return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "?"
        shellcheck = run([str(self.shellcheck), "--version"]).stdout
        return {
            "ruff": first_line([str(self.ruff), "--version"]),
            "mypy": first_line([str(self.mypy), "--version"]),
            "pyright": first_line([str(self.pyright), "--version"]),
            "tsc": first_line([str(self.tsc), "--version"]),
            "shellcheck": next(line for line in shellcheck.splitlines() if line.startswith("version:")),
            "rustc": first_line([self.rustc, "--version"]),
            "clippy": first_line([self.clippy, "--version"]),
            "python": first_line([str(self.python), "--version"]),
            "node": first_line([self.node, "--version"]),
        }


def install_tools(work: Path) -> Tools:
    """mypy and shellcheck in a scratch venv, typescript and pyright under a scratch npm prefix."""
    venv = work / "tools" / "venv"
    stamp = venv / "requirements.sha"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not stamp.exists() or stamp.read_text() != wanted:
        log(f"installing {REQUIREMENTS.name} into {venv}")
        shutil.rmtree(venv, ignore_errors=True)
        run([sys.executable, "-m", "venv", str(venv)])
        run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "-r", str(REQUIREMENTS)])
        stamp.write_text(wanted)
    prefix = work / "tools" / "npm"
    npm_stamp = prefix / "tools.json"
    if not npm_stamp.exists() or json.loads(npm_stamp.read_text()) != NPM_TOOLS:
        log(f"installing {NPM_TOOLS} under {prefix}")
        shutil.rmtree(prefix, ignore_errors=True)
        prefix.mkdir(parents=True)
        run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix),
             *[f"{name}@{version}" for name, version in NPM_TOOLS.items()]])
        npm_stamp.write_text(json.dumps(NPM_TOOLS))
    ruff = Path(sys.executable).with_name("ruff")
    version = run([str(ruff), "--version"]).stdout.split()[-1]
    if version != RUFF_VERSION:
        raise SystemExit(f"ruff {version} in {ruff}; the corpus is pinned to {RUFF_VERSION} (pip install -e .)")
    for tool in ("node", "npm", "rustc", "clippy-driver", "apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed")
    return Tools(ruff=ruff, mypy=venv / "bin" / "mypy", shellcheck=venv / "bin" / "shellcheck",
                 tsc=prefix / "node_modules" / ".bin" / "tsc", pyright=prefix / "node_modules" / ".bin" / "pyright",
                 python=Path(sys.executable), node="node", rustc="rustc", clippy="clippy-driver")


# -- sources ----------------------------------------------------------------------------------------


def _extract(archive: Path, into: Path) -> None:
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")


def fetch_pypi(work: Path, tools: Tools) -> dict[str, Path]:
    root = work / "src" / "pypi"
    root.mkdir(parents=True, exist_ok=True)
    found = {}
    for name, version, _ in PYPI:
        target = root / f"{name}-{version}"
        if not target.exists():
            log(f"pip download {name}=={version} (sdist)")
            download = root / "download"
            shutil.rmtree(download, ignore_errors=True)
            pip = tools.mypy.with_name("pip")
            run([str(pip), "download", "-q", "--no-deps", "--no-binary", ":all:", "-d", str(download),
                 f"{name}=={version}"])
            [archive] = list(download.iterdir())
            _extract(archive, download)
            [extracted] = [p for p in download.iterdir() if p.is_dir()]
            extracted.rename(target)
            shutil.rmtree(download)
        found[name] = target
    return found


def fetch_npm(work: Path) -> dict[str, Path]:
    root = work / "src" / "npm"
    root.mkdir(parents=True, exist_ok=True)
    found = {}
    for name, version, _ in NPM:
        target = root / f"{name}-{version}"
        if not target.exists():
            log(f"npm pack {name}@{version}")
            download = root / "download"
            shutil.rmtree(download, ignore_errors=True)
            download.mkdir()
            run(["npm", "pack", "--silent", f"{name}@{version}"], cwd=download)
            [archive] = list(download.glob("*.tgz"))
            _extract(archive, download)
            (download / "package").rename(target)
            shutil.rmtree(download)
        found[name] = target
    return found


def fetch_debian(work: Path) -> dict[str, Path]:
    root = work / "src" / "deb"
    root.mkdir(parents=True, exist_ok=True)
    found = {}
    for name, version, _ in DEBIAN:
        target = root / f"{name}_{version.replace(':', '%3a')}"
        if not target.exists():
            log(f"apt-get download {name}={version}")
            download = root / "download"
            shutil.rmtree(download, ignore_errors=True)
            download.mkdir()
            result = run(["apt-get", "download", f"{name}={version}"], cwd=download, check=False)
            if result.returncode != 0:
                raise SystemExit(f"apt-get download {name}={version} failed (run `apt-get update` first?):\n"
                                 f"{result.stderr[-1500:]}")
            [deb] = list(download.glob("*.deb"))
            run(["dpkg-deb", "-x", str(deb), str(target)])
            shutil.rmtree(download)
        found[name] = target
    return found


# -- running the tools ------------------------------------------------------------------------------


def _relative(path: str, base: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        return path


def run_ruff(tools: Tools, sources: dict[str, Path]) -> list[Diagnostic]:
    base = next(iter(sources.values())).parent
    result = run([str(tools.ruff), "check", "--select", "ALL", "--isolated", "--no-cache", "--exit-zero",
                  "--output-format", "json", *[str(p) for p in sources.values()]], cwd=base)
    return [Diagnostic("ruff", item["code"] or "", item["message"], _relative(item["filename"], base))
            for item in json.loads(result.stdout)]


def run_mypy(tools: Tools, sources: dict[str, Path]) -> list[Diagnostic]:
    found = []
    for name, version, roots in PYPI:
        base = sources[name]
        result = run([str(tools.mypy), "--strict", "--output", "json", "--no-incremental", "--cache-dir", os.devnull,
                      "--python-version", "3.11", *roots], cwd=base, check=False)
        for line in result.stdout.splitlines():
            if not line.startswith("{"):
                continue
            item = json.loads(line)
            if item["severity"] != "error":
                continue  # notes elaborate the error above them
            found.append(Diagnostic("mypy", item["code"] or "", item["message"], f"{name}-{version}/{item['file']}"))
    return found


def run_pyright(tools: Tools, sources: dict[str, Path]) -> list[Diagnostic]:
    base = next(iter(sources.values())).parent
    roots = [str(sources[name] / root) for name, _, rs in PYPI for root in rs]
    result = run([str(tools.pyright), "--outputjson", "--pythonversion", "3.11", *roots], cwd=base, check=False)
    report = json.loads(result.stdout)
    return [Diagnostic("pyright", item.get("rule") or "", item["message"], _relative(item["file"], base))
            for item in report["generalDiagnostics"] if item["severity"] in ("error", "warning")]


_TSC_LINE = re.compile(r"^(?P<file>[^\s(][^(]*)\((?P<line>\d+),(?P<col>\d+)\): (?P<sev>error|warning) TS(?P<code>\d+): (?P<msg>.*)$")


def parse_tsc(output: str, base: Path) -> list[Diagnostic]:
    """tsc --pretty false: one head line per diagnostic; its message chain follows, indented."""
    found: list[list[str]] = []
    for line in output.splitlines():
        match = _TSC_LINE.match(line)
        if match:
            found.append([match["file"], match["code"], match["msg"]])
        elif found and line.startswith("  "):
            found[-1][2] += "\n" + line  # the chain an editor shows under the head message
    return [Diagnostic("tsc", code, message, _relative(str(base / file), base.parent)) for file, code, message in found]


def run_tsc(tools: Tools, sources: dict[str, Path]) -> list[Diagnostic]:
    found = []
    base = next(iter(sources.values())).parent
    for kind, options in (("ts", TSCONFIG_TS), ("js", TSCONFIG_JS)):
        include = [f"{sources[name].name}/{glob}" for name, _, globs in NPM for glob in globs
                   if glob.endswith(".ts") == (kind == "ts")]
        config = base / f"tsconfig.{kind}.json"
        config.write_text(json.dumps({"compilerOptions": options, "include": include}, indent=1))
        result = run([str(tools.tsc), "-p", str(config), "--pretty", "false"], cwd=base, check=False)
        found += parse_tsc(result.stdout, base)
    return found


def _shell_files(root: Path, kind: str) -> list[Path]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    if kind == "bash":
        return [p for p in files if "/bash-completion/completions/" in str(p)]
    out = []
    for path in files:
        with path.open("rb") as fh:
            head = fh.read(64).split(b"\n", 1)[0]
        if re.match(rb"#!\s*\S*(/|env\s+)(ba|da|k)?sh\b", head):
            out.append(path)
    return out


def run_shellcheck(tools: Tools, sources: dict[str, Path]) -> list[Diagnostic]:
    found = []
    base = next(iter(sources.values())).parent
    for name, _, kind in DEBIAN:
        files = _shell_files(sources[name], kind)
        for first in range(0, len(files), 100):
            chunk = [str(p) for p in files[first : first + 100]]
            command = [str(tools.shellcheck), "-f", "json1", "-S", "style", *(["-s", "bash"] if kind == "bash" else []), *chunk]
            result = run(command, cwd=base, check=False)
            for item in json.loads(result.stdout)["comments"]:
                found.append(Diagnostic("shellcheck", f"SC{item['code']}", item["message"], _relative(item["file"], base)))
    return found


def _rust_file(work: Path, folder: str, name: str, text: str) -> Path:
    path = work / "snippets" / folder / f"{name}.rs"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.lstrip())
    return path


def _rustc_json(output: str, file: str, default_tool: str) -> list[Diagnostic]:
    found = []
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        item = json.loads(line)
        if item.get("level") not in ("error", "warning") or item.get("$message_type", "diagnostic") != "diagnostic":
            continue
        code = (item.get("code") or {}).get("code") or ""
        message = item["message"]
        if not code and re.match(r"aborting due to|\d+ (warning|error)s? emitted|.*generated \d+ warnings?", message):
            continue
        tool = "clippy" if code.startswith("clippy::") else default_tool
        found.append(Diagnostic(tool, code, message, file))
    return found


def run_rust(tools: Tools, work: Path) -> list[Diagnostic]:
    out_dir = work / "snippets" / "target"
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [(tools.rustc, "rust", name, text, []) for name, text in RUST.items()]
    jobs += [(tools.clippy, "clippy", name, text, ["-W", "clippy::pedantic", "-W", "clippy::unwrap_used"])
             for name, text in CLIPPY.items()]

    def one(job) -> list[Diagnostic]:
        compiler, folder, name, text, extra = job
        path = _rust_file(work, folder, name, text)
        result = run([compiler, "--edition", "2021", "--crate-type", "lib", "--emit=metadata", "--error-format=json",
                      "--crate-name", f"{folder}_{name}", "--out-dir", str(out_dir), *extra, str(path)], check=False)
        return _rustc_json(result.stderr, f"snippets/{folder}/{name}.rs", "rustc")

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return [d for found in pool.map(one, jobs) for d in found]


_PY_EXCEPTION = re.compile(r"^(?P<cls>[A-Za-z_][\w.]*(?:Error|Exception|Warning|Iteration|Exit))(?::\s.*)?$")
_PY_WARNING = re.compile(r"^\S+:\d+: (?P<line>(?P<cls>\w+Warning): .*)$")


def python_error_line(stderr: str) -> tuple[str, str] | None:
    """The traceback's last line (what an editor's runner or a terminal link shows), and the class."""
    lines = [line.rstrip() for line in stderr.splitlines() if line.strip()]
    if "Traceback (most recent call last):" not in stderr:
        # A warning printed with its location ("file.py:4: RuntimeWarning: ...") and no exception.
        for line in lines:
            match = _PY_WARNING.match(line)
            if match:
                return match["line"], match["cls"]
    for line in reversed(lines):
        match = _PY_EXCEPTION.match(line)
        if match:
            return line, match["cls"].rsplit(".", 1)[-1]
    return None


def run_python(tools: Tools, work: Path) -> list[Diagnostic]:
    folder = work / "snippets" / "python"
    folder.mkdir(parents=True, exist_ok=True)
    found = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    for name, text in PYTHON.items():
        path = folder / f"{name}.py"
        path.write_text(text)
        result = run([str(tools.python), str(path)], cwd=folder, timeout=60, env=env, check=False)
        parsed = python_error_line(result.stderr)
        if parsed:
            found.append(Diagnostic("python", parsed[1], parsed[0], f"snippets/python/{name}.py"))
    return found


_NODE_ERROR = re.compile(r"^(?P<name>[A-Z]\w*)(?: \[(?P<code>[A-Z_]+)\])?: (?P<text>.+)$")
_NODE_CODE = re.compile(r"^\s+code: '(?P<code>[A-Z_]+)'", re.MULTILINE)


def node_error_line(stderr: str) -> tuple[str, str] | None:
    for line in stderr.splitlines():
        match = _NODE_ERROR.match(line)
        if match and not line.startswith("Node.js v"):
            code = match["code"] or ((m := _NODE_CODE.search(stderr)) and m["code"]) or match["name"]
            return line, code
    return None


def run_node(tools: Tools, work: Path) -> list[Diagnostic]:
    folder = work / "snippets" / "node"
    folder.mkdir(parents=True, exist_ok=True)
    found = []
    for name, text in NODE.items():
        path = folder / name
        path.write_text(text)
        result = run([tools.node, str(path)], cwd=folder, timeout=60, check=False)
        parsed = node_error_line(result.stderr)
        if parsed:
            found.append(Diagnostic("node", parsed[1], parsed[0], f"snippets/node/{name}"))
    return found


def collect_raw(work: Path) -> tuple[list[Diagnostic], dict]:
    tools = install_tools(work)
    pypi, npm, debian = fetch_pypi(work, tools), fetch_npm(work), fetch_debian(work)
    steps = [("ruff", lambda: run_ruff(tools, pypi)), ("mypy", lambda: run_mypy(tools, pypi)),
             ("pyright", lambda: run_pyright(tools, pypi)), ("tsc", lambda: run_tsc(tools, npm)),
             ("shellcheck", lambda: run_shellcheck(tools, debian)), ("rustc+clippy", lambda: run_rust(tools, work)),
             ("python", lambda: run_python(tools, work)), ("node", lambda: run_node(tools, work))]
    found: list[Diagnostic] = []
    for name, step in steps:
        log(f"running {name}")
        got = step()
        log(f"  {len(got)} diagnostics")
        found += got
    meta = {"tools": tools.versions(),
            "sources": {"pypi": [f"{n}=={v}" for n, v, _ in PYPI], "npm": [f"{n}@{v}" for n, v, _ in NPM],
                        "debian": [f"{n}={v}" for n, v, _ in DEBIAN],
                        "snippets": {"rust": len(RUST), "clippy": len(CLIPPY), "python": len(PYTHON), "node": len(NODE)}}}
    return found, meta


# -- snippets ---------------------------------------------------------------------------------------
# Small programs that fail the way real code fails. The diagnostics are whatever the real tools print
# for them; nothing here states a message.

RUST: dict[str, str] = {
    "moved_value": """
pub fn total(items: Vec<u32>) -> usize {
    let owned = items;
    let n = items.len();
    n + owned.len()
}
""",
    "moved_into_closure": """
pub fn spawn_all(names: Vec<String>) {
    let handle = std::thread::spawn(move || names.len());
    println!("{:?}", names);
    handle.join().unwrap();
}
""",
    "two_mutable_borrows": """
pub fn swap_first(buffer: &mut Vec<u8>) {
    let a = &mut buffer[0];
    let b = &mut buffer[1];
    std::mem::swap(a, b);
}
""",
    "mutable_while_shared": """
pub fn push_len(words: &mut Vec<String>) {
    let first = &words[0];
    words.push(first.clone());
    println!("{}", first);
}
""",
    "move_out_while_borrowed": """
pub fn consume(config: String) -> String {
    let view = &config;
    let moved = config;
    println!("{}", view);
    moved
}
""",
    "assign_while_borrowed": """
pub fn bump(mut counter: u64) -> u64 {
    let r = &counter;
    counter = 10;
    *r + counter
}
""",
    "move_out_of_reference": """
pub struct Session { pub token: String }
pub fn take_token(s: &Session) -> String {
    let t = s.token;
    t
}
""",
    "move_out_of_index": """
pub fn first_name(names: &Vec<String>) -> String {
    let n = names[0];
    n
}
""",
    "does_not_live_long_enough": """
pub fn longest<'a>() -> &'a str {
    let r;
    {
        let inner = String::from("request");
        r = &inner;
    }
    r
}
""",
    "temporary_dropped": """
pub fn header_len() -> usize {
    let v: &str;
    { v = String::from("x").as_str(); }
    v.len()
}
""",
    "return_reference_to_local": """
pub fn make_label(id: u32) -> &'static str {
    let label = format!("item-{}", id);
    &label
}
""",
    "missing_lifetime": """
pub struct Parser { input: &str }
""",
    "missing_lifetime_fn": """
pub fn pick(a: &str, b: &str) -> &str { if a.len() > b.len() { a } else { b } }
""",
    "mismatched_types": """
pub fn port() -> u16 {
    let value: &str = "8080";
    value
}
""",
    "mismatched_if_else": """
pub fn describe(flag: bool) -> String {
    if flag { "yes".to_string() } else { 0 }
}
""",
    "mismatched_arg": """
fn retries(n: u32) -> u32 { n }
pub fn run() -> u32 { retries("3") }
""",
    "cannot_find_value": """
pub fn handler() -> u32 {
    request_count + 1
}
""",
    "cannot_find_function": """
pub fn main_loop() {
    process_events(10);
}
""",
    "cannot_find_type": """
pub fn index() -> HashMap<String, u32> { HashMap::new() }
""",
    "undeclared_crate": """
pub fn parse(s: &str) -> serde_json::Value { serde_json::from_str(s).unwrap() }
""",
    "unresolved_import": """
use std::collections::HashMapp;
pub fn f(_m: HashMapp<u8, u8>) {}
""",
    "unresolved_import_crate": """
use tokio::runtime::Runtime;
pub fn rt() -> Runtime { Runtime::new().unwrap() }
""",
    "no_method": """
pub fn shout(name: Option<String>) -> String { name.to_uppercase() }
""",
    "no_method_struct": """
pub struct Cache { size: usize }
pub fn clear(c: &mut Cache) { c.clear(); let _ = c.size; }
""",
    "question_mark_in_unit": """
pub fn read() {
    let n: i32 = "42".parse()?;
    println!("{}", n);
}
""",
    "not_display": """
pub struct Point { x: i32, y: i32 }
pub fn show(p: Point) -> String { let _ = (p.x, p.y); format!("{}", p) }
""",
    "trait_bound_not_satisfied": """
use std::collections::HashMap;
#[derive(PartialEq)]
pub struct Key(f64);
pub fn build() -> HashMap<Key, u8> { let mut m = HashMap::new(); m.insert(Key(1.0), 1); m }
""",
    "not_debug": """
pub struct Token(u32);
pub fn dump(t: Token) { println!("{:?}", t); }
""",
    "type_annotations_needed": """
pub fn collect_all() -> usize {
    let items = Vec::new();
    items.len()
}
""",
    "type_annotations_parse": """
pub fn parse_port() { let p = "80".parse().unwrap(); let _ = p; }
""",
    "cannot_add": """
pub struct Money { cents: i64 }
pub fn sum(a: Money, b: Money) -> Money { a + b }
""",
    "assign_twice_immutable": """
pub fn count() -> i32 {
    let total = 0;
    total = 5;
    total
}
""",
    "borrow_immutable_as_mutable": """
pub fn fill() -> Vec<u8> {
    let buf = Vec::new();
    buf.push(1);
    buf
}
""",
    "cannot_dereference": """
pub fn deref_it() -> u32 { let n = 5u32; *n }
""",
    "wrong_argument_count": """
fn connect(host: &str, port: u16) -> String { format!("{}:{}", host, port) }
pub fn go() -> String { connect("localhost") }
""",
    "missing_struct_field": """
pub struct Config { pub host: String, pub port: u16 }
pub fn default_config() -> Config { Config { host: String::new() } }
""",
    "non_exhaustive": """
pub enum State { Idle, Running, Done }
pub fn label(s: State) -> &'static str { match s { State::Idle => "idle", State::Running => "run" } }
""",
    "non_exhaustive_option": """
pub fn unwrap_or_zero(v: Option<u8>) -> u8 { match v { Some(x) => x } }
""",
    "closure_may_outlive": """
use std::thread;
pub fn greet() {
    let name = String::from("worker");
    let h = thread::spawn(|| println!("{}", name));
    h.join().unwrap();
}
""",
    "private_function": """
mod db { fn connect() {} }
pub fn start() { db::connect(); }
""",
    "private_field": """
mod model { pub struct User { id: u64 } impl User { pub fn new() -> Self { User { id: 1 } } } }
pub fn id() -> u64 { model::User::new().id }
""",
    "unknown_field": """
pub struct Order { pub total: u32 }
pub fn make() -> Order { Order { total: 1, discount: 2 } }
""",
    "no_field": """
pub struct Order { pub total: u32 }
pub fn amount(o: &Order) -> u32 { o.amount }
""",
    "expected_function": """
pub fn call() -> i32 { let limit = 10; limit() }
""",
    "missing_trait_items": """
pub struct Meters(f64);
impl std::fmt::Display for Meters {}
""",
    "not_a_trait": """
pub struct Shape;
pub struct Circle;
impl Shape for Circle {}
""",
    "cannot_find_trait": """
pub struct Job;
impl Runnable for Job {}
""",
    "method_not_in_trait": """
pub trait Store { fn get(&self) -> u8; }
pub struct Mem;
impl Store for Mem { fn get(&self) -> u8 { 0 } fn put(&self) {} }
""",
    "self_in_free_fn": """
pub fn size() -> usize { self.len() }
""",
    "defined_multiple_times": """
pub struct Client;
pub struct Client;
""",
    "duplicate_definitions": """
pub struct Pool;
impl Pool { pub fn open() {} pub fn open() {} }
""",
    "conflicting_impls": """
pub struct Id(u32);
impl Clone for Id { fn clone(&self) -> Self { Id(self.0) } }
impl Clone for Id { fn clone(&self) -> Self { Id(self.0) } }
""",
    "wrong_generic_count": """
pub fn pair() -> Vec<u8, u8, u8> { Vec::new() }
""",
    "expected_value_found_struct": """
pub struct Settings { pub debug: bool }
pub fn make() -> Settings { Settings }
""",
    "unsafe_call": """
unsafe fn raw() -> u8 { 1 }
pub fn safe() -> u8 { raw() }
""",
    "non_const_fn_in_const": """
fn compute() -> usize { 4 }
pub const SIZE: usize = compute();
""",
    "non_constant_value": """
pub fn buffer(n: usize) -> usize { const CAP: usize = n * 2; CAP }
""",
    "captured_in_fn_item": """
pub fn outer() -> i32 { let base = 3; fn inner() -> i32 { base + 1 } inner() }
""",
    "uninitialized": """
pub fn pick(flag: bool) -> u32 { let value: u32; if flag { value = 1; } value }
""",
    "assign_to_immutable_field": """
pub struct Counter { pub n: u32 }
pub fn reset(c: &Counter) { c.n = 0; }
""",
    "private_method": """
mod api { pub struct Client; impl Client { fn secret(&self) {} pub fn new() -> Self { Client } } }
pub fn leak() { api::Client::new().secret(); }
""",
    "unterminated_string": """
pub fn greeting() -> &'static str { "hello }
""",
    "unused_variable_and_mut": """
pub fn compute(values: &[i32]) -> i32 {
    let mut scale = 2;
    let offset = 10;
    values.iter().sum::<i32>() * scale
}
""",
    "unused_import_dead_code": """
use std::collections::HashMap;
use std::fmt::Display;
fn helper() -> u8 { 1 }
pub fn api() -> u8 { 2 }
""",
    "unused_must_use": """
pub fn write_all(path: &str) {
    std::fs::write(path, b"data");
}
""",
    "naming": """
pub struct http_client;
pub fn FetchAll() {}
pub const maxRetries: u32 = 3;
pub fn f() { let UserName = 1; let _ = UserName; }
""",
    "unreachable_and_assignments": """
pub fn stop() -> u32 {
    let mut state = 1;
    state = 2;
    return 0;
}
pub fn after_panic() -> u32 { panic!("boom"); 1 }
""",
    "unused_parens_and_fields": """
pub fn check(x: u32) -> bool { if (x > 3) { return true; } false }
pub fn rows() -> u32 { struct Row { id: u32, name: String } let r = Row { id: 1, name: String::new() }; r.id }
""",
}

# Compiled with `clippy-driver -W clippy::pedantic -W clippy::unwrap_used`: lints, not errors.
CLIPPY: dict[str, str] = {
    "style": """
pub fn total(values: &Vec<i32>) -> i32 {
    let mut sum = 0;
    for i in 0..values.len() {
        sum += values[i];
    }
    return sum;
}
pub fn is_empty(v: &Vec<u8>) -> bool { v.len() == 0 }
pub fn name(s: &String) -> String { let n = s.clone(); let out = n.clone(); out }
pub fn copy(x: i32) -> i32 { x.clone() }
pub fn greet(name: &str) -> String { format!("hello {}", name) }
pub fn first(v: Option<u8>) -> u8 { v.unwrap() }
pub fn split(s: &str) -> Vec<&str> { s.split("x").collect() }
pub fn both(a: bool, b: bool) -> bool { if a { if b { return true; } } false }
pub struct Point { pub x: i32, pub y: i32 }
pub fn make(x: i32, y: i32) -> Point { Point { x: x, y: y } }
pub fn cast(n: u64) -> u32 { n as u32 }
pub fn ret() -> u32 { let v = 3; v }
pub struct Registry { items: Vec<u8> }
impl Registry { pub fn new() -> Self { Registry { items: Vec::new() } } pub fn len(&self) -> usize { self.items.len() } }
pub fn map_it(v: Option<u8>) -> Option<u8> { match v { Some(x) => Some(x + 1), None => None } }
pub fn boolean(x: u8) -> bool { if x > 3 { true } else { false } }
pub fn string_add(a: String) -> String { a + &"x".to_string() }
""",
}

PYTHON: dict[str, str] = {
    "name_missing_import": "def main():\n    return os.path.join('a', 'b')\nmain()\n",
    "name_typo": "total_count = 3\nprint(total_cout)\n",
    "name_undefined": "def handler(event):\n    return process(event)\nhandler({})\n",
    "attr_none_group": "import re\nm = re.match(r'(\\d+)', 'abc')\nprint(m.group(1))\n",
    "attr_list_push": "items = []\nitems.push(1)\n",
    "attr_module": "import json\njson.loads_file('x')\n",
    "attr_typo_suggestion": "class User:\n    def __init__(self):\n        self.name = 'x'\nprint(User().nmae)\n",
    "attr_dict_iteritems": "d = {'a': 1}\nfor k, v in d.iteritems():\n    pass\n",
    "attr_str_decode": "'abc'.decode('utf-8')\n",
    "attr_none_append": "def load():\n    pass\nrows = load()\nrows.append(1)\n",
    "attr_module_removed": "import os\nos.getcwdu()\n",
    "key_error": "config = {'host': 'x'}\nprint(config['user_id'])\n",
    "key_error_int": "cache = {}\ncache[42]\n",
    "index_list": "rows = []\nrows[0]\n",
    "index_tuple": "point = (1, 2)\npoint[2]\n",
    "index_str": "'ab'[5]\n",
    "index_pop": "[].pop()\n",
    "type_missing_arg": "def connect(host, port):\n    pass\nconnect('localhost')\n",
    "type_too_many_args": "class Counter:\n    def increment(self):\n        pass\nCounter().increment(2)\n",
    "type_not_subscriptable": "def find():\n    return None\nfind()['id']\n",
    "type_not_callable": "name = 'x'\nname()\n",
    "type_int_not_callable": "count = 3\ncount(1)\n",
    "type_concat": "print('total: ' + 5)\n",
    "type_unhashable_list": "s = set()\ns.add([1, 2])\n",
    "type_unhashable_dict": "d = {}\nd[{'a': 1}] = 1\n",
    "type_not_iterable": "for x in 5:\n    pass\n",
    "type_none_not_iterable": "def rows():\n    pass\nfor r in rows():\n    pass\n",
    "type_compare": "sorted(['a', 1])\n",
    "type_unsupported_operand": "print(1 + '2')\n",
    "type_unexpected_kwarg": "def fetch(url):\n    pass\nfetch(url='x', timeout=3)\n",
    "type_no_len": "len(5)\n",
    "type_item_assignment": "s = 'abc'\ns[0] = 'x'\n",
    "type_join": "', '.join([1, 2])\n",
    "type_string_indices": "row = 'abc'\nrow['id']\n",
    "type_list_indices": "items = [1]\nitems['0']\n",
    "type_init_missing": "class Job:\n    def __init__(self, name):\n        self.name = name\nJob()\n",
    "type_json_serializable": "import json, datetime\njson.dumps({'at': datetime.datetime(2024, 1, 1)})\n",
    "type_path_join": "import os\nos.path.join('a', 3)\n",
    "value_invalid_literal": "int('abc')\n",
    "value_too_many_unpack": "a, b = [1, 2, 3]\n",
    "value_not_enough_unpack": "a, b, c = (1, 2)\n",
    "value_float": "float('1,5')\n",
    "value_remove": "[1].remove(2)\n",
    "value_substring": "'abc'.index('z')\n",
    "value_math_domain": "import math\nmath.sqrt(-1)\n",
    "unbound_local": "count = 0\ndef inc():\n    count += 1\ninc()\n",
    "recursion": "def f(n):\n    return f(n + 1)\nf(0)\n",
    "zero_division": "print(10 / 0)\n",
    "zero_modulo": "print(10 % 0)\n",
    "float_zero_division": "print(1.5 / 0.0)\n",
    "file_not_found": "open('config.yaml')\n",
    "is_a_directory": "open('/')\n",
    "unicode_decode": "b'\\xff\\xfe\\xfa'.decode('utf-8')\n",
    "dict_changed_size": "d = {'a': 1, 'b': 2}\nfor k in d:\n    d[k + '2'] = 1\n",
    "json_decode": "import json\njson.loads('')\n",
    "json_decode_html": "import json\njson.loads('<!DOCTYPE html>')\n",
    "module_not_found": "import requestz\n",
    "module_not_found_dotted": "from yaml_loader.core import load\n",
    "import_cannot_import": "from json import loads_file\n",
    "asyncio_run_in_loop": ("import asyncio\nasync def inner():\n    pass\nasync def outer():\n    asyncio.run(inner())\n"
                            "asyncio.run(outer())\n"),
    "coroutine_never_awaited": "async def fetch_data():\n    pass\ndef main():\n    fetch_data()\nmain()\n",
    "stop_iteration": "next(iter([]))\n",
    "assertion": "assert 1 == 2, 'expected equal values'\n",
    "not_implemented": ("class Base:\n    def run(self):\n        raise NotImplementedError('subclasses must implement run()')\n"
                        "Base().run()\n"),
    "overflow": "import math\nmath.exp(1000)\n",
    "syntax_invalid": "x = [1 2]\n",
    "syntax_never_closed": "print('a'\n",
    "syntax_print": "print 'hello'\n",
    "syntax_unterminated": "s = 'abc\n",
    "syntax_expected_colon": "def f()\n    pass\n",
    "syntax_assign_literal": "1 = x\n",
    "indentation_expected": "if True:\npass\n",
    "indentation_unindent": "def f():\n        x = 1\n    return x\n",
    "indentation_unexpected": "x = 1\n    y = 2\n",
    "tab_error": "if True:\n        x = 1\n\tx = 2\n",
    "lookup_codec": "'x'.encode('utf-9')\n",
    "recursion_repr": "class Node:\n    def __repr__(self):\n        return repr(self)\nrepr(Node())\n",
}

NODE: dict[str, str] = {
    "cannot_read_undefined.js": "const user = {};\nconsole.log(user.profile.name);\n",
    "cannot_read_null.js": "const el = null;\nel.addEventListener('click', () => {});\n",
    "not_a_function.js": "const user = { name: 'x' };\nuser.getName();\n",
    "reference_error.js": "console.log(totalCount);\n",
    "require_in_esm.mjs": "const fs = require('fs');\n",
    "json_unexpected_token.js": "JSON.parse('<!DOCTYPE html>');\n",
    "json_end.js": "JSON.parse('');\n",
    "call_stack.js": "function f() { return f(); }\nf();\n",
    "module_not_found.mjs": "import { x } from './utils.js';\nconsole.log(x);\n",
    "cjs_module_not_found.js": "require('lodashh');\n",
    "assign_to_const.js": "const limit = 1;\nlimit = 2;\n",
    "invalid_array_length.js": "new Array(-1);\n",
    "undefined_map.js": "const data = undefined;\ndata.map((x) => x);\n",
}


# -- truth ------------------------------------------------------------------------------------------

# The knowledge-base key of a corpus tool (ErrorQuery canonicalises the editor's source the same way).
KEY_SOURCE = {"tsc": "ts"}

# Entries that answer only some messages of their tool+code: entry id -> pattern the diagnostic's
# message must match (re.search). Every entry whose key is shared by several entries is listed, and
# so is any entry written for one message of a broader code. Entries not listed answer every message
# of their key.
VARIANTS: dict[str, str] = {
    # pyright: three entries share reportAttributeAccessIssue, two reportCallIssue, two reportReturnType
    "pyright:reportAttributeAccessIssue": r'^Cannot (access|assign to) attribute "',
    "pyright:reportAttributeAccessIssue:module": r"is not a known attribute of module",
    "pyright:reportAttributeAccessIssue:import-symbol": r"is unknown import symbol",
    "pyright:reportCallIssue": r"^Expected \d+ positional argument",
    "pyright:reportCallIssue:missing-argument": r"^Arguments? missing for parameters?",
    "pyright:reportReturnType": r"is not assignable to return type",
    "pyright:reportReturnType:missing-return": r"must return value",
    # mypy: two entries share `assignment`
    "mypy:assignment": r"^Incompatible types in assignment",
    "mypy:assignment:implicit-optional": r"^Incompatible default for (argument|parameter)",
    # rustc E0277: two curated messages and the imported explanation of the code (trait bounds)
    "rustc:E0277:question-mark": r"the `\?` operator can only be used",
    "rustc:E0277:trait-bound": r"doesn't implement|the trait bound .* is not satisfied|cannot be formatted",
    "rustc:E0277": r"doesn't implement|the trait bound .* is not satisfied|cannot be formatted|is not implemented",
    # CPython: one entry per message family of an exception class
    "python:AttributeError:NoneType": r"'NoneType' object has no attribute",
    "python:AttributeError:module": r"module '[^']+' has no attribute",
    "python:AttributeError:object": r"'(?!NoneType')[^']+' object has no attribute",
    "python:ImportError:cannot-import-name": r"cannot import name (?!.*(partially initialized|circular))",
    "python:ImportError:circular": r"partially initialized module|circular import",
    "python:IndentationError:expected-block": r"expected an indented block",
    "python:IndentationError:unindent": r"unindent does not match",
    # its solution names the missing colon and `=` for `==` too
    "python:SyntaxError:invalid-syntax": r"SyntaxError: (invalid syntax|expected ':'|cannot assign to)",
    "python:SyntaxError:never-closed": r"was never closed",
    "python:SyntaxError:print": r"Missing parentheses in call to 'print'",
    "python:TypeError:missing-argument": r"missing \d+ required (positional|keyword-only) arguments?",
    "python:TypeError:too-many-arguments": r"takes \d+ positional arguments? but \d+ (were|was) given",
    "python:TypeError:not-subscriptable": r"object is not subscriptable",
    "python:TypeError:not-callable": r"object is not callable",
    "python:TypeError:concatenate": r"can only concatenate|unsupported operand type\(s\) for \+: '(str' and '(int|float)|(int|float)' and 'str)'",
    "python:TypeError:unsupported-operand": r"unsupported operand type\(s\)",
    "python:TypeError:unhashable": r"unhashable type",
    "python:TypeError:not-iterable": r"'(?!NoneType')[^']+' object is not iterable",
    "python:TypeError:unsupported-comparison": r"not supported between instances of",
    "python:ValueError:invalid-literal": r"invalid literal for|could not convert string to (float|int)",
    "python:ValueError:unpack": r"values to unpack",
    "python:RuntimeError:dict-changed-size": r"changed size during iteration",
    "python:RuntimeError:asyncio-run-in-loop": r"cannot be called from a running event loop",
    "python:RuntimeWarning:coroutine-never-awaited": r"was never awaited",
    # Node.js: one entry per message family of an error class
    "node:TypeError:cannot-read-properties": r"Cannot read propert",
    "node:TypeError:not-a-function": r"is not a function",
    "node:TypeError:assign-to-constant": r"Assignment to constant variable",
    "node:ReferenceError": r"is not defined(?! in ES module scope)",
    "node:ReferenceError:require-in-esm": r"require is not defined in ES module scope",
    "node:SyntaxError:import-outside-module": r"Cannot use import statement outside a module",
    "node:SyntaxError:json-unexpected-token": r"JSON",
    "node:RangeError:call-stack": r"Maximum call stack size exceeded",
}


@dataclass(frozen=True, slots=True)
class EquivalenceClass:
    """One cause with one fix, reported by several tools: every member entry answers every match.

    `matches` are (corpus tool, code, pattern) with "" for any message. A class spans languages only
    where the fix reads the same in each (define or import the name; install the package; guard the
    missing value); it never claims that a tool's own stored fix answers another tool's rule when the
    fixes differ.
    """

    name: str
    doc: str
    members: tuple[str, ...]
    matches: tuple[tuple[str, str, str], ...]


CLASSES: tuple[EquivalenceClass, ...] = (
    EquivalenceClass(
        "undefined-name", "A name is used that no enclosing scope defines: fix the spelling, define it or import it.",
        ("ruff:F821", "pyright:reportUndefinedVariable", "mypy:name-defined", "python:NameError", "ts:2304",
         "node:ReferenceError", "eslint:no-undef", "rustc:E0425", "pattern:import-fix"),
        (("ruff", "F821", ""), ("pyright", "reportUndefinedVariable", ""), ("mypy", "name-defined", ""),
         ("python", "NameError", ""), ("tsc", "2304", ""), ("tsc", "2552", ""),
         ("node", "ReferenceError", r"is not defined(?! in ES module scope)"), ("rustc", "E0425", ""),
         ("rustc", "E0433", r"cannot find type")),
    ),
    EquivalenceClass(
        "undeclared-type", "A Rust type that is not in scope (`HashMap` without its `use`): rustc words it the same "
        "under E0425 and E0433, and the E0433 entry, written for that message, answers both.",
        ("rustc:E0433",),
        (("rustc", "E0425", r"cannot find type"), ("rustc", "E0433", r"cannot find type")),
    ),
    EquivalenceClass(
        "node-types-missing", "Node.js globals (require, process, Buffer) without @types/node.",
        ("ts:2580",),
        (("tsc", "2580", ""), ("tsc", "2591", "")),
    ),
    EquivalenceClass(
        "missing-module", "An imported package is not installed (or not where the checker looks): install it.",
        ("pyright:reportMissingImports", "mypy:import-not-found", "python:ModuleNotFoundError", "ts:2307",
         "node:ERR_MODULE_NOT_FOUND", "pattern:import-fix"),
        (("pyright", "reportMissingImports", ""), ("mypy", "import-not-found", ""), ("python", "ModuleNotFoundError", ""),
         ("tsc", "2307", ""), ("node", "ERR_MODULE_NOT_FOUND", ""), ("node", "MODULE_NOT_FOUND", "")),
    ),
    EquivalenceClass(
        "missing-type-stubs", "The package is installed but ships no types: install its stubs / @types package.",
        ("mypy:import-untyped", "ts:7016"),
        (("mypy", "import-untyped", ""), ("tsc", "7016", "")),
    ),
    EquivalenceClass(
        "unused-import", "An import nothing uses: delete it.",
        ("ruff:F401", "rustc:unused_imports", "go:unused-import", "pattern:import-fix"),
        (("ruff", "F401", ""), ("rustc", "unused_imports", "")),
    ),
    EquivalenceClass(
        "unused-variable", "A local that is never read: use it, delete it or prefix it with an underscore.",
        ("ruff:F841", "rustc:unused_variables", "ts:6133", "eslint:no-unused-vars", "go:unused-variable",
         "shellcheck:SC2034"),
        (("ruff", "F841", ""), ("rustc", "unused_variables", ""), ("tsc", "6133", ""), ("shellcheck", "SC2034", "")),
    ),
    EquivalenceClass(
        "dead-store", "A value is assigned and overwritten or dropped before it is read.",
        ("staticcheck:SA4006", "rustc:unused_assignments"),
        (("rustc", "unused_assignments", ""),),
    ),
    EquivalenceClass(
        "optional-value", "A value that may be None/null/undefined is used (attribute, call, index, loop) unchecked.",
        ("pyright:reportOptionalMemberAccess", "pyright:reportOptionalSubscript", "mypy:union-attr",
         "python:AttributeError:NoneType", "python:TypeError:not-subscriptable", "ts:18048", "ts:18047", "ts:2532",
         "ts:2531", "node:TypeError:cannot-read-properties", "pattern:guard-optional"),
        (("pyright", "reportOptionalMemberAccess", ""), ("pyright", "reportOptionalSubscript", ""),
         ("pyright", "reportOptionalIterable", ""), ("pyright", "reportOptionalCall", ""),
         ("pyright", "reportOptionalOperand", ""), ("pyright", "reportGeneralTypeIssues", r'^"None" is not iterable'),
         ("mypy", "union-attr", r'^Item "None" of'), ("mypy", "index", r'None"\)? is not indexable|target for indexed assignment \(".*None"\)'),
         ("python", "AttributeError", r"'NoneType' object"), ("python", "TypeError", r"'NoneType' object"),
         ("node", "TypeError", r"Cannot read properties of (undefined|null)"),
         ("tsc", "18048", ""), ("tsc", "18047", ""), ("tsc", "2532", ""), ("tsc", "2531", ""), ("tsc", "2722", ""),
         ("tsc", "2721", "")),
    ),
    EquivalenceClass(
        "unknown-attribute", "An attribute or property the object's type does not have (typo or wrong type).",
        ("pyright:reportAttributeAccessIssue", "mypy:attr-defined", "python:AttributeError:object", "ts:2339", "ts:2551"),
        (("pyright", "reportAttributeAccessIssue", r'^Cannot (access|assign to) attribute "'),
         ("pyright", "reportFunctionMemberAccess", r"^Cannot (access|assign to) attribute"),
         ("mypy", "attr-defined", r'^"[^"]+" has no attribute'), ("python", "AttributeError", r"'(?!NoneType')[^']+' object has no attribute"),
         ("tsc", "2339", ""), ("tsc", "2551", "")),
    ),
    EquivalenceClass(
        "unknown-module-attribute", "A module has no such attribute (typo, moved or removed in this version).",
        ("pyright:reportAttributeAccessIssue:module", "python:AttributeError:module", "mypy:attr-defined"),
        (("pyright", "reportAttributeAccessIssue", r"is not a known attribute of module"),
         ("python", "AttributeError", r"^AttributeError: module '"), ("mypy", "attr-defined", r'^Module "')),
    ),
    EquivalenceClass(
        "unknown-import-name", "`from module import name` where the module has no such name.",
        ("pyright:reportAttributeAccessIssue:import-symbol", "python:ImportError:cannot-import-name", "ts:2305", "ts:2614"),
        (("pyright", "reportAttributeAccessIssue", r"is unknown import symbol"),
         ("python", "ImportError", r"cannot import name (?!.*(partially initialized|circular))"),
         ("tsc", "2305", ""), ("tsc", "2614", "")),
    ),
    EquivalenceClass(
        "argument-type", "An argument's type does not match the parameter's.",
        ("pyright:reportArgumentType", "mypy:arg-type", "ts:2345"),
        (("pyright", "reportArgumentType", ""), ("mypy", "arg-type", ""), ("tsc", "2345", "")),
    ),
    EquivalenceClass(
        "assignment-type", "A value's type does not match the declared type of what it is assigned to.",
        ("pyright:reportAssignmentType", "mypy:assignment", "ts:2322"),
        (("pyright", "reportAssignmentType", ""), ("mypy", "assignment", r"^Incompatible types in assignment"),
         ("tsc", "2322", ""), ("tsc", "2375", ""), ("tsc", "2412", "")),
    ),
    EquivalenceClass(
        "return-type", "A returned value does not match the declared return type.",
        ("pyright:reportReturnType", "mypy:return-value"),
        (("pyright", "reportReturnType", r"is not assignable to return type"), ("mypy", "return-value", "")),
    ),
    EquivalenceClass(
        "missing-return", "Some path of a function with a declared return type returns nothing.",
        ("pyright:reportReturnType:missing-return", "mypy:return", "ts:2366", "ts:2355"),
        (("pyright", "reportReturnType", r"must return value"), ("mypy", "return", ""), ("tsc", "2366", ""),
         ("tsc", "2355", ""), ("tsc", "7030", "")),
    ),
    EquivalenceClass(
        "call-arity", "A call passes more, fewer or other arguments than the function declares.",
        ("pyright:reportCallIssue", "pyright:reportCallIssue:missing-argument", "mypy:call-arg",
         "python:TypeError:missing-argument", "python:TypeError:too-many-arguments", "ts:2554", "rustc:E0061"),
        (("pyright", "reportCallIssue", r"^Expected \d+ positional argument|^Arguments? missing for parameter|^No parameter named"),
         ("mypy", "call-arg", ""),
         ("python", "TypeError", r"missing \d+ required|takes \d+ positional arguments? but|got an unexpected keyword argument"),
         ("tsc", "2554", ""), ("rustc", "E0061", "")),
    ),
    EquivalenceClass(
        "possibly-unassigned", "A variable is read on a path where it was never assigned.",
        ("pyright:reportPossiblyUnboundVariable", "ts:2454", "rustc:E0381"),
        (("pyright", "reportPossiblyUnboundVariable", ""), ("tsc", "2454", ""), ("rustc", "E0381", "")),
    ),
    EquivalenceClass(
        "incompatible-override", "A subclass method's signature is incompatible with the one it overrides.",
        ("pyright:reportIncompatibleMethodOverride", "mypy:override"),
        (("pyright", "reportIncompatibleMethodOverride", ""), ("mypy", "override", "")),
    ),
    EquivalenceClass(
        "redefinition", "A name is defined twice in one scope; the first definition is dead or shadowed.",
        ("ruff:F811", "rustc:E0428", "ts:2451"),
        (("ruff", "F811", ""), ("mypy", "no-redef", ""), ("pyright", "reportRedeclaration", ""), ("rustc", "E0428", ""),
         ("rustc", "E0592", ""), ("tsc", "2323", ""), ("tsc", "2451", ""), ("tsc", "2300", "")),
    ),
    EquivalenceClass(
        "missing-annotations", "A function without type annotations under a strict checker.",
        ("mypy:no-untyped-def", "ruff:ANN001", "ruff:ANN201", "ruff:ANN202"),
        (("mypy", "no-untyped-def", ""),),
    ),
    EquivalenceClass(
        "annotate-to-infer", "A checker cannot infer a parameter's or variable's type (implicit any, empty "
        "container): annotate it.",
        ("ts:7006", "mypy:var-annotated"),
        (("tsc", "7006", ""), ("tsc", "7019", ""), ("tsc", "7031", ""), ("tsc", "7005", ""), ("tsc", "7008", ""),
         ("tsc", "7034", ""), ("mypy", "var-annotated", "")),
    ),
    EquivalenceClass(
        "cls-self-name", "The first parameter of a (class) method is not named self / cls.",
        ("ruff:N804", "ruff:N805"),
        (("pyright", "reportSelfClsParameterName", ""), ("ruff", "N804", ""), ("ruff", "N805", "")),
    ),
    EquivalenceClass(
        "undefined-in-all", "__all__ names something the module does not define.",
        ("ruff:F822",),
        (("pyright", "reportUnsupportedDunderAll", r"is specified in __all__ but is not present"), ("ruff", "F822", "")),
    ),
    EquivalenceClass(
        "invalid-escape", "A backslash escape Python does not know in a non-raw string.",
        ("ruff:W605",),
        (("pyright", "reportInvalidStringEscapeSequence", ""), ("ruff", "W605", "")),
    ),
    EquivalenceClass(
        "not-callable", "A value that is not a function is called.",
        ("python:TypeError:not-callable", "node:TypeError:not-a-function", "rustc:E0618"),
        (("python", "TypeError", r"object is not callable"), ("node", "TypeError", r"is not a function"),
         ("tsc", "2349", ""), ("rustc", "E0618", ""),
         ("pyright", "reportCallIssue", r"is not callable")),
    ),
    EquivalenceClass(
        "assign-to-constant", "A binding declared constant / immutable is assigned again.",
        ("ts:2588", "rustc:E0384", "node:TypeError:assign-to-constant"),
        (("node", "TypeError", r"Assignment to constant variable"), ("tsc", "2588", ""), ("rustc", "E0384", "")),
    ),
    EquivalenceClass(
        "shell-unassigned", "A shell variable is read but never assigned (often a misspelling).",
        ("shellcheck:SC2154",),
        (("shellcheck", "SC2154", ""), ("shellcheck", "SC2153", "")),
    ),
    EquivalenceClass(
        "json-parse", "Text that is not JSON (empty, an HTML error page) is parsed as JSON.",
        ("python:JSONDecodeError", "node:SyntaxError:json-unexpected-token"),
        (("python", "JSONDecodeError", ""), ("node", "SyntaxError", r"JSON")),
    ),
    EquivalenceClass(
        "infinite-recursion", "Unbounded recursion exhausts the stack.",
        ("python:RecursionError", "node:RangeError:call-stack"),
        (("python", "RecursionError", ""), ("node", "RangeError", r"Maximum call stack")),
    ),
    EquivalenceClass(
        "unreachable-code", "Statements after a return / panic that can never run.",
        ("govet:unreachable",),
        (("rustc", "unreachable_code", ""),),
    ),
)


def load_knowledge() -> list:
    """What the benchmark searches: the starter entries, then every ruff and rustc rule not curated."""
    from hybrid_lsp.importers import collect
    from hybrid_lsp.knowledge import read_jsonl_file
    from hybrid_lsp.pipeline import STARTER_DIR

    entries = [e for path in sorted(STARTER_DIR.glob("*.jsonl")) for e in read_jsonl_file(path)]
    for tool in ("ruff", "rustc"):
        known = {e.id for e in entries}
        entries += [e for e in collect(tool) if e.id not in known]
    return entries


class Labeller:
    def __init__(self, entries: list) -> None:
        self.ids = {e.id for e in entries}
        self.by_key: dict[str, list[str]] = collections.defaultdict(list)
        for e in entries:
            if e.key:
                self.by_key[e.key].append(e.id)
        problems = [f"VARIANTS names {i!r}, which is not in the knowledge base" for i in VARIANTS if i not in self.ids]
        problems += [f"class {c.name} names {m!r}, which is not in the knowledge base"
                     for c in CLASSES for m in c.members if m not in self.ids]
        if problems:
            raise SystemExit("the truth tables do not fit the knowledge base:\n  " + "\n  ".join(problems))

    def key(self, tool: str, code: str) -> str:
        return f"{KEY_SOURCE.get(tool, tool)}:{code}" if code else ""

    def own(self, d: Diagnostic) -> list[str]:
        shared = self.by_key.get(self.key(d.tool, d.code), [])
        if sum(i not in VARIANTS for i in shared) > 1:
            raise SystemExit(f"{self.key(d.tool, d.code)} is shared by {shared}: add patterns to VARIANTS")
        return [i for i in shared if i not in VARIANTS or re.search(VARIANTS[i], d.message)]

    def classes(self, d: Diagnostic) -> list[EquivalenceClass]:
        return [c for c in CLASSES if any(tool == d.tool and code == d.code and (not pattern or re.search(pattern, d.message))
                                          for tool, code, pattern in c.matches)]

    def truth(self, d: Diagnostic) -> list[str]:
        found = set(self.own(d))
        for c in self.classes(d):
            found.update(c.members)
        return sorted(found)


# -- the derived corpus -----------------------------------------------------------------------------

MAX_MESSAGE = 1500
# Tools run over third-party code repeat a rule's message many times; the snippets' are all kept.
CAPPED = frozenset({"ruff", "mypy", "pyright", "tsc", "shellcheck"})


def clean(d: Diagnostic, work: Path) -> Diagnostic:
    """Scratch paths read as a user's checkout; very long type-checker chains are cut at a line end."""
    message = d.message.replace(str(work.resolve()) + "/", "/home/dev/src/").replace(str(work) + "/", "/home/dev/src/")
    if len(message) > MAX_MESSAGE:
        message = message[: message.rfind("\n", 0, MAX_MESSAGE)] if "\n" in message[:MAX_MESSAGE] else message[:MAX_MESSAGE]
    return Diagnostic(d.tool, d.code, message, d.file)


def derive(raw: list[Diagnostic], labeller: Labeller, per_rule: dict[str, int]) -> tuple[list[dict], dict]:
    counts: collections.Counter[tuple[str, str, str]] = collections.Counter()
    first: dict[tuple[str, str, str], Diagnostic] = {}
    for d in raw:
        triple = (d.tool, d.code, d.message)
        counts[triple] += 1
        first.setdefault(triple, d)
    groups: dict[tuple[str, str], list[tuple[str, str, str]]] = collections.defaultdict(list)
    for triple in counts:
        groups[triple[:2]].append(triple)
    rows, rules = [], {}
    for (tool, code), triples in sorted(groups.items()):
        triples.sort(key=lambda t: (-counts[t], t[2]))
        limit = per_rule.get(tool, per_rule["default"]) if tool in CAPPED else len(triples)
        rules[f"{tool}:{code}"] = {"occurrences": sum(counts[t] for t in triples), "messages": len(triples),
                                   "kept": min(limit, len(triples))}
        for index, triple in enumerate(triples[:limit]):
            d = first[triple]
            rows.append({"qid": f"{tool}/{code or '-'}/{index}", "tool": tool, "source": EDITOR_SOURCE[tool],
                         "code": code, "message": d.message, "language": d.language, "file": d.file,
                         "count": counts[triple], "truth": labeller.truth(d)})
    return rows, rules


def summary(rows: list[dict], labeller: Labeller) -> dict:
    by_tool = collections.defaultdict(lambda: {"queries": 0, "with_truth": 0, "cross_tool": 0})
    for row in rows:
        stats = by_tool[row["tool"]]
        stats["queries"] += 1
        stats["with_truth"] += bool(row["truth"])
        own_source = KEY_SOURCE.get(row["tool"], row["tool"])
        stats["cross_tool"] += any(not t.startswith(own_source + ":") for t in row["truth"])
    return dict(sorted(by_tool.items()))


def write_meta(out: Path, meta: dict) -> None:
    # One top-level key a line: readable in a diff, small on disk.
    body = ",\n".join(f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in meta.items())
    (out / "corpus-meta.json").write_text("{\n" + body + "\n}\n")


def relabel(out: Path) -> int:
    """The corpus's queries kept as they are (their messages are already cleaned), truth recomputed."""
    log("relabelling against the knowledge base (starter + ruff + rustc docs)")
    knowledge = load_knowledge()
    labeller = Labeller(knowledge)
    rows = [json.loads(line) for line in (out / "corpus.jsonl").open(encoding="utf-8") if line.strip()]
    changed = 0
    for row in rows:
        truth = labeller.truth(Diagnostic(row["tool"], row["code"], row["message"], row["file"]))
        changed += truth != row["truth"]
        row["truth"] = truth
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    meta = json.loads((out / "corpus-meta.json").read_text())
    meta.update({
        "knowledge_base": {"entries": len(knowledge), "by_source": dict(collections.Counter(e.source or "-" for e in knowledge))},
        "by_tool": summary(rows, labeller),
        "classes": [{"name": c.name, "doc": c.doc, "members": list(c.members),
                     "matches": [list(m) for m in c.matches]} for c in CLASSES],
        "variants": VARIANTS,
    })
    write_meta(out, meta)
    log(f"relabelled {len(rows)} queries in {out}: {changed} changed truth")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="scratch directory (downloads, tools, raw output)")
    parser.add_argument("--label", action="store_true", help="only relabel WORK/raw.jsonl from the last full run")
    parser.add_argument("--relabel", action="store_true",
                        help="only recompute the truth of the corpus in --out (after a change to the knowledge base or "
                             "the truth tables), without the raw output")
    parser.add_argument("--per-rule", type=int, default=4, help="distinct messages kept per (tool, code)")
    parser.add_argument("--per-ruff-rule", type=int, default=2, help="the same for ruff (it has ~900 rules)")
    parser.add_argument("--out", type=Path, default=DATA)
    args = parser.parse_args()
    if args.relabel:
        return relabel(args.out)
    args.work.mkdir(parents=True, exist_ok=True)
    raw_path, raw_meta = args.work / "raw.jsonl", args.work / "raw-meta.json"
    if args.label:
        if not raw_path.exists():
            raise SystemExit(f"{raw_path} does not exist: run without --label first")
        raw = [Diagnostic(**json.loads(line)) for line in raw_path.open()]
        meta = json.loads(raw_meta.read_text())
    else:
        raw, meta = collect_raw(args.work)
        with raw_path.open("w") as fh:
            for d in raw:
                fh.write(json.dumps(asdict(d)) + "\n")
        raw_meta.write_text(json.dumps(meta, indent=1))
    log("labelling against the knowledge base (starter + ruff + rustc docs)")
    knowledge = load_knowledge()
    labeller = Labeller(knowledge)
    raw = [clean(d, args.work) for d in raw]
    rows, rules = derive(raw, labeller, {"ruff": args.per_ruff_rule, "default": args.per_rule})
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "corpus.jsonl").open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    meta.update({
        "diagnostics": len(raw), "queries": len(rows),
        "per_rule": {"ruff": args.per_ruff_rule, "default": args.per_rule, "uncapped": sorted(set(LANGUAGE) - CAPPED)},
        "knowledge_base": {"entries": len(knowledge), "by_source": dict(collections.Counter(e.source or "-" for e in knowledge))},
        "by_tool": summary(rows, labeller),
        "classes": [{"name": c.name, "doc": c.doc, "members": list(c.members),
                     "matches": [list(m) for m in c.matches]} for c in CLASSES],
        "variants": VARIANTS,
        "rules": rules,
    })
    write_meta(args.out, meta)
    size = sum(p.stat().st_size for p in args.out.iterdir())
    log(f"wrote {len(rows)} queries from {len(raw)} diagnostics to {args.out} ({size / 1000:.0f} kB)")
    for tool, stats in meta["by_tool"].items():
        log(f"  {tool:11} {stats['queries']:5} queries, {stats['with_truth']:5} with an answer, "
            f"{stats['cross_tool']:4} answered across tools")
    return 0


if __name__ == "__main__":
    sys.exit(main())
