"""The editor recipes that cannot run here (Helix, Zed) are at least well formed and accepted by the server."""

from __future__ import annotations

import json
import tomllib

from conftest import ROOT

from hybrid_lsp.config import parse_settings

EDITORS = ROOT / "editors"


def test_helix_languages_toml_registers_hybrid_lsp_with_settings_the_server_accepts():
    config = tomllib.loads((EDITORS / "helix" / "languages.toml").read_text())
    server = config["language-server"]["hybrid-lsp"]
    assert server["command"].endswith("hybrid-lsp")
    _, errors = parse_settings(server["config"]["hybridLsp"])
    assert errors == []
    languages = config["language"]
    assert {lang["name"] for lang in languages} >= {"python", "rust", "typescript", "go", "bash"}
    assert all(lang["language-servers"][-1] == "hybrid-lsp" for lang in languages), "usual servers first"


def test_zed_settings_json_passes_settings_the_server_accepts():
    settings = json.loads((EDITORS / "zed" / "settings.json").read_text())
    server = settings["lsp"]["hybrid-lsp"]
    for layer in (server["initialization_options"]["hybridLsp"], server["settings"]["hybridLsp"]):
        _, errors = parse_settings(layer)
        assert errors == []
    assert all("hybrid-lsp" in lang["language_servers"] for lang in settings["languages"].values())

