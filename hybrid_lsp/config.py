"""Settings: typed dataclasses read from the user's config file, the environment and the editor.

Keys may be camelCase (as editors send them) or snake_case (as in the TOML file). An invalid
value never stops the server: the section falls back to its defaults and the problem is reported
as a message that names the key and what was wrong.

API keys and the remote endpoint come only from the environment, so that an opened repository
cannot redirect code to another host or read a key out of its settings.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import cattrs
import platformdirs

APP_NAME = "hybrid-lsp"
COLLECTIONS = ("error-solutions", "skills-patterns", "best-practices")
HISTORY = "interaction-history"

Policy = Literal["default", "critical", "casual", "local-only", "remote-first"]


@dataclass(slots=True)
class LocalModel:
    """The free local model: an OpenAI-compatible server (Lemonade, llama.cpp) or Ollama."""

    enabled: bool = True
    kind: Literal["openai", "ollama"] = "openai"
    base_url: str = "http://localhost:8000/api/v1"
    model: str = "Qwen2.5-Coder-7B-Instruct-GGUF"
    timeout: float = 60.0
    max_tokens: int = 800
    temperature: float = 0.2
    # Ask for the fix with a JSON schema (response_format / format); off for servers that reject it.
    structured: bool = True
    # Stream answers (progress in the editor, cancellable); off for servers with broken streaming.
    stream: bool = True
    # Prompt budget: the code window and stored solutions are trimmed to fit.
    context_tokens: int = 3000


@dataclass(slots=True)
class RemoteModel:
    """The paid remote model: Anthropic Messages (key from ANTHROPIC_API_KEY), or an OpenAI-compatible
    service (URL from HYBRID_LSP_REMOTE_URL, key from HYBRID_LSP_REMOTE_API_KEY)."""

    enabled: bool = True
    kind: Literal["anthropic", "openai"] = "anthropic"
    model: str = "claude-sonnet-5-5"
    timeout: float = 60.0
    max_tokens: int = 1024
    context_tokens: int = 6000


@dataclass(slots=True)
class Routing:
    """Where answers come from; see routing.py for what each policy means."""

    policy: Policy = "default"
    # A stored fix is served as is (0 tokens) from this calibrated relevance up.
    known_threshold: float = 0.9
    # Relevance given to an entry whose tool and rule code equal the diagnostic's.
    exact_key_relevance: float = 0.97
    # [relevance above, complexity below] pairs that send a query to the local model;
    # empty means the policy's own rules.
    local_rules: list[tuple[float, int]] = field(default_factory=list)
    # A policy per language, e.g. {"rust": "critical", "markdown": "casual"}.
    languages: dict[str, Policy] = field(default_factory=dict)
    # Learning from outcomes: the local rules' relevance bars move (at most ±0.15) towards the
    # share of answers made without the remote API, as long as local answers are accepted about
    # as often as remote ones (within accept_margin).
    adapt: bool = True
    local_share_target: float = 0.7
    accept_margin: float = 0.05


@dataclass(slots=True)
class Embeddings:
    """Optional Ollama embeddings (e.g. nomic-embed-text) in their own named vector, beside the
    shipped model2vec vectors; empty ollama_model means off. Takes effect when the store opens."""

    ollama_model: str = ""
    ollama_url: str = "http://localhost:11434"
    timeout: float = 10.0


@dataclass(slots=True)
class QdrantServer:
    """Team mode: the knowledge base on a Qdrant server or cluster (empty url: this machine only).

    The URL comes from the config file or HYBRID_LSP_QDRANT_URL, the API key only from
    HYBRID_LSP_QDRANT_API_KEY or QDRANT_API_KEY; https:// URLs use TLS. Takes effect when the
    store opens. `history` also shares interaction-history (off: it stays on this machine)."""

    url: str = ""
    collection_prefix: str = "hybrid-lsp-"
    # Seconds (whole, rounded up) for writes and set-up, and for the reads a diagnostic waits on.
    timeout: float = 5.0
    read_timeout: float = 1.0
    history: bool = False
    verify_tls: bool = True


# US dollars per million tokens (input, output); edit to match your contract.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-haiku-5-5": (1.0, 5.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-sonnet-4-6": (3.0, 15.0),
    "claude-sonnet-5": (3.0, 15.0),
    "claude-sonnet-5-5": (3.0, 15.0),
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-5": (5.0, 25.0),
}


@dataclass(slots=True)
class Settings:
    local: LocalModel = field(default_factory=LocalModel)
    remote: RemoteModel = field(default_factory=RemoteModel)
    routing: Routing = field(default_factory=Routing)
    embeddings: Embeddings = field(default_factory=Embeddings)
    qdrant: QdrantServer = field(default_factory=QdrantServer)
    collections: list[str] = field(default_factory=lambda: list(COLLECTIONS))
    context_lines: int = 8
    max_contexts: int = 3
    # Seconds after an accepted fix during which going back to the old code counts as undoing it.
    undo_window: float = 300.0
    prices: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_converter = cattrs.Converter(forbid_extra_keys=True)


def _strict(kind: type, accepts: tuple[type, ...]):
    """cattrs would turn "false" into True and 2.7 into 2; settings must say what they mean."""
    def hook(value: object, _: type) -> object:
        if isinstance(value, bool) and kind is not bool or not isinstance(value, accepts):
            raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r}")
        return kind(value)
    return hook


_converter.register_structure_hook(bool, _strict(bool, (bool,)))
_converter.register_structure_hook(int, _strict(int, (int,)))
_converter.register_structure_hook(float, _strict(float, (int, float)))
_converter.register_structure_hook(str, _strict(str, (str,)))
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(value: Any) -> Any:
    if isinstance(value, dict):
        return {_CAMEL.sub("_", str(k)).lower(): _snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def _camel_paths(text: str) -> str:
    """Report keys as editors spell them (hybridLsp.local.baseUrl), whatever the source."""
    return re.sub(r"hybridLsp(?:\.\w+)+", lambda m: _camel(m.group(0)), text)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_settings(*layers: dict[str, Any] | None) -> tuple[Settings, list[str]]:
    """Merge raw layers (later wins) into Settings; invalid sections fall back to defaults."""
    raw: dict[str, Any] = {}
    for layer in layers:
        if layer is None:
            continue
        if not isinstance(layer, dict):
            return Settings(), [f"settings must be an object, got {type(layer).__name__}; using defaults"]
        raw = _merge(raw, _snake(layer))
    errors: list[str] = []
    known = {f.name: f for f in fields(Settings)}
    for key in sorted(set(raw) - set(known)):
        errors.append(f"hybridLsp.{_camel(key)}: unknown setting, ignored")
    if isinstance(raw.get("qdrant"), dict) and raw["qdrant"].pop("api_key", None) is not None:
        errors.append("hybridLsp.qdrant.apiKey is not read from settings files; set HYBRID_LSP_QDRANT_API_KEY "
                      "(or QDRANT_API_KEY) in the environment instead. Ignored.")
    values: dict[str, Any] = {}
    for name in known:
        if name not in raw:
            continue
        try:
            values[name] = _converter.structure(raw[name], _TYPES[name])
        except Exception as exc:  # cattrs raises a tree of errors; flatten it for the user
            for line in cattrs.transform_error(exc, path=f"hybridLsp.{name}"):
                errors.append(f"{_camel_paths(line)}; using the default for hybridLsp.{_camel(name)}")
    settings = Settings(**values)
    errors.extend(_check_ranges(settings))
    return settings, [_camel_paths(error) for error in errors]


_TYPES: dict[str, Any] = {
    "local": LocalModel, "remote": RemoteModel, "routing": Routing, "embeddings": Embeddings, "qdrant": QdrantServer,
    "collections": list[str], "context_lines": int, "max_contexts": int, "undo_window": float,
    "prices": dict[str, tuple[float, float]],
}


def _check_ranges(settings: Settings) -> list[str]:
    """Values of the right type can still be meaningless; reset those with a message."""
    errors = []
    routing = settings.routing
    for name in ("known_threshold", "exact_key_relevance"):
        value = getattr(routing, name)
        if not 0.0 <= value <= 1.0:
            default = getattr(Routing(), name)
            errors.append(f"hybridLsp.routing.{name} must be between 0 and 1, got {value}; using {default}")
            setattr(routing, name, default)
    for rule in routing.local_rules:
        if not (0.0 <= rule[0] <= 1.0 and 1 <= rule[1] <= 11):
            errors.append(f"hybridLsp.routing.local_rules entry {list(rule)} must be [relevance 0..1, complexity 1..11]; using the policy's rules")
            routing.local_rules = []
            break
    for section in (settings.local, settings.remote):
        if section.timeout <= 0 or section.max_tokens <= 0 or section.context_tokens < 200:
            name = "local" if section is settings.local else "remote"
            errors.append(f"hybridLsp.{name}: timeout and maxTokens must be positive and contextTokens at least 200; using defaults")
            fresh = LocalModel() if name == "local" else RemoteModel()
            section.timeout, section.max_tokens, section.context_tokens = fresh.timeout, fresh.max_tokens, fresh.context_tokens
    if not 0 <= settings.context_lines <= 200:
        errors.append(f"hybridLsp.context_lines must be 0..200, got {settings.context_lines}; using 8")
        settings.context_lines = 8
    errors.extend(_check_qdrant(settings))
    unknown = [c for c in settings.collections if c not in COLLECTIONS]
    if unknown:
        errors.append(f"hybridLsp.collections: unknown collection(s) {unknown}; expected some of {list(COLLECTIONS)}")
        settings.collections = [c for c in settings.collections if c in COLLECTIONS] or list(COLLECTIONS)
    return errors


def _check_qdrant(settings: Settings) -> list[str]:
    qdrant, errors = settings.qdrant, []
    if qdrant.url and not re.match(r"^https?://[^/\s]+", qdrant.url, re.IGNORECASE):
        errors.append(f"hybridLsp.qdrant.url must be an http:// or https:// URL, got {qdrant.url!r}; team mode is off")
        qdrant.url = ""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{0,64}", qdrant.collection_prefix):
        errors.append(f"hybridLsp.qdrant.collectionPrefix may hold letters, digits, '_', '.' and '-' (64 at most), "
                      f"got {qdrant.collection_prefix!r}; using {QdrantServer().collection_prefix!r}")
        qdrant.collection_prefix = QdrantServer().collection_prefix
    for name in ("timeout", "read_timeout"):
        if not 0 < getattr(qdrant, name) <= 600:
            default = getattr(QdrantServer(), name)
            errors.append(f"hybridLsp.qdrant.{name} must be between 0 and 600 seconds, got {getattr(qdrant, name)}; using {default}")
            setattr(qdrant, name, default)
    return errors


def user_config_path() -> Path:
    override = os.environ.get("HYBRID_LSP_CONFIG")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def read_user_config(path: Path | None = None) -> tuple[dict[str, Any], list[str]]:
    """The user-level TOML file; a broken file is reported and ignored, never fatal."""
    path = path or user_config_path()
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh), []
    except FileNotFoundError:
        return {}, []
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as exc:
        return {}, [f"{path}: cannot read the config file ({exc}); fix it or remove it. Using defaults."]


def environment_layer() -> dict[str, Any]:
    """Settings that may come from the environment (for scripts and CI)."""
    layer: dict[str, Any] = {}
    if url := os.environ.get("HYBRID_LSP_LOCAL_URL"):
        layer.setdefault("local", {})["base_url"] = url
    if model := os.environ.get("HYBRID_LSP_LOCAL_MODEL"):
        layer.setdefault("local", {})["model"] = model
    if kind := os.environ.get("HYBRID_LSP_LOCAL_KIND"):
        layer.setdefault("local", {})["kind"] = kind
    if policy := os.environ.get("HYBRID_LSP_POLICY"):
        layer.setdefault("routing", {})["policy"] = policy
    if qdrant_url := os.environ.get("HYBRID_LSP_QDRANT_URL"):
        layer.setdefault("qdrant", {})["url"] = qdrant_url
    return layer


# Where code may be sent is the user's decision: editor settings can come from a workspace file
# in an opened repository, so they may not point models elsewhere or loosen the policy.
_LOOPBACK = re.compile(r"^https?://(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?(?:/|$)", re.I)
_STRICTNESS = {"local-only": 3, "critical": 2, "default": 1, "casual": 1, "remote-first": 0}


def guard_editor_layer(user: Settings, editor: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Drop editor settings that would redirect code or loosen the user's policy, saying why."""
    editor = _snake(editor)
    notes = []
    for section, key in (("local", "base_url"), ("embeddings", "ollama_url")):
        value = (editor.get(section) or {}).get(key) if isinstance(editor.get(section), dict) else None
        if isinstance(value, str) and not _LOOPBACK.match(value) and value != getattr(getattr(user, section), key):
            del editor[section][key]
            notes.append(f"hybridLsp.{_camel(section)}.{_camel(key)} from the editor points off this machine ({value}); "
                         f"set it in {user_config_path()} instead. Ignored.")
    routing = editor.get("routing") if isinstance(editor.get("routing"), dict) else {}
    policy = routing.get("policy")
    if isinstance(policy, str) and _STRICTNESS.get(policy, 1) < _STRICTNESS.get(user.routing.policy, 1):
        del routing["policy"]
        notes.append(f"hybridLsp.routing.policy {policy!r} from the editor would loosen the user's {user.routing.policy!r}; ignored")
    languages = routing.get("languages") if isinstance(routing.get("languages"), dict) else {}
    for language, value in list(languages.items()):
        if isinstance(value, str) and _STRICTNESS.get(value, 1) < _STRICTNESS.get(user.routing.policy, 1):
            del languages[language]
            notes.append(f"hybridLsp.routing.languages.{language} {value!r} would loosen the user's policy; ignored")
    notes.extend(_guard_qdrant(user, editor))
    remote = editor.get("remote") if isinstance(editor.get("remote"), dict) else {}
    if "kind" in remote and remote["kind"] != user.remote.kind:
        del remote["kind"]
        notes.append(f"hybridLsp.remote.kind can only be chosen in {user_config_path()}; ignored")
    if remote.get("enabled") is True and not user.remote.enabled:
        del remote["enabled"]
        notes.append("hybridLsp.remote.enabled: the user turned the remote API off; the editor cannot turn it on")
    return editor, notes


def _guard_qdrant(user: Settings, editor: dict[str, Any]) -> list[str]:
    """Where the knowledge base lives and what is shared is the user's choice: only timeouts may change."""
    if "qdrant" not in editor:
        return []
    section = editor["qdrant"]
    if not isinstance(section, dict):
        del editor["qdrant"]
        return [f"hybridLsp.qdrant can only be set in {user_config_path()}; ignored"]
    notes = []
    for key in list(section):
        if key in ("timeout", "read_timeout") or section[key] == getattr(user.qdrant, key, object()):
            continue
        del section[key]
        where = ("HYBRID_LSP_QDRANT_API_KEY or QDRANT_API_KEY" if key == "api_key"
                 else f"{user_config_path()} (or the environment)")
        notes.append(f"hybridLsp.qdrant.{_camel(key)} can only be set in {where}, not by the editor; ignored")
    return notes


def load_settings(editor: dict[str, Any] | None = None) -> tuple[Settings, list[str]]:
    file_layer, errors = read_user_config()
    user, more = parse_settings(file_layer, environment_layer())
    if not isinstance(editor, dict) or not editor:
        return user, errors + more
    guarded, notes = guard_editor_layer(user, editor)
    settings, editor_errors = parse_settings(file_layer, environment_layer(), guarded)
    return settings, errors + more + notes + [e for e in editor_errors if e not in more]


def data_dir(override: str | os.PathLike[str] | None = None) -> Path:
    chosen = override or os.environ.get("HYBRID_LSP_DATA_DIR")
    return Path(chosen) if chosen else Path(platformdirs.user_data_dir(APP_NAME))


def local_api_key() -> str | None:
    return os.environ.get("HYBRID_LSP_LOCAL_API_KEY") or None


def remote_api_key(kind: str = "anthropic") -> str | None:
    if kind == "openai":
        return os.environ.get("HYBRID_LSP_REMOTE_API_KEY") or None
    return os.environ.get("ANTHROPIC_API_KEY") or None


def qdrant_api_key() -> str | None:
    return os.environ.get("HYBRID_LSP_QDRANT_API_KEY") or os.environ.get("QDRANT_API_KEY") or None


def remote_url() -> str | None:
    """Only for the OpenAI-compatible remote; Anthropic's SDK reads ANTHROPIC_BASE_URL itself."""
    return os.environ.get("HYBRID_LSP_REMOTE_URL") or None
