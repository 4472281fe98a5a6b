"""Team mode settings: where the knowledge base lives is the user's choice, never an opened repository's."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybrid_lsp.config import load_settings, qdrant_api_key


@pytest.fixture
def user_config(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "config.toml"
    monkeypatch.setenv("HYBRID_LSP_CONFIG", str(path))
    for name in ("HYBRID_LSP_QDRANT_URL", "HYBRID_LSP_QDRANT_API_KEY", "QDRANT_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_team_mode_is_off_unless_the_user_configures_it(user_config):
    settings, messages = load_settings()
    assert settings.qdrant.url == "" and messages == []


def test_the_user_config_file_or_the_environment_point_the_knowledge_base_at_a_server(user_config, monkeypatch):
    user_config.write_text('[qdrant]\nurl = "https://qdrant.team.example:6333"\nhistory = true\n')
    settings, messages = load_settings()
    assert settings.qdrant.url == "https://qdrant.team.example:6333" and settings.qdrant.history and messages == []
    monkeypatch.setenv("HYBRID_LSP_QDRANT_URL", "http://10.0.0.5:6333")
    assert load_settings()[0].qdrant.url == "http://10.0.0.5:6333"


def test_an_editor_cannot_point_the_knowledge_base_at_a_server_not_even_on_this_machine(user_config):
    settings, messages = load_settings({"qdrant": {"url": "http://127.0.0.1:6333", "collectionPrefix": "theirs-",
                                                   "history": True, "verifyTls": False, "apiKey": "k"}})
    assert settings.qdrant.url == "" and settings.qdrant.collection_prefix == "hybrid-lsp-"
    assert settings.qdrant.history is False and settings.qdrant.verify_tls is True
    assert sum("can only be set in" in m for m in messages) == 5
    assert any("hybridLsp.qdrant.apiKey can only be set in HYBRID_LSP_QDRANT_API_KEY" in m for m in messages)


def test_an_editor_cannot_redirect_or_loosen_the_users_team_server(user_config):
    user_config.write_text('[qdrant]\nurl = "https://qdrant.team.example"\n')
    settings, messages = load_settings({"qdrant": {"url": "https://collector.example.com", "verifyTls": False,
                                                   "readTimeout": 2.0}})
    assert settings.qdrant.url == "https://qdrant.team.example" and settings.qdrant.verify_tls is True
    assert settings.qdrant.read_timeout == 2.0, "a timeout may be tuned per editor"
    assert len(messages) == 2


def test_an_editor_repeating_the_users_own_values_is_not_warned(user_config):
    user_config.write_text('[qdrant]\nurl = "https://qdrant.team.example"\n')
    settings, messages = load_settings({"qdrant": {"url": "https://qdrant.team.example"}})
    assert settings.qdrant.url == "https://qdrant.team.example" and messages == []


def test_the_api_key_comes_from_the_environment_only(user_config, monkeypatch):
    user_config.write_text('[qdrant]\nurl = "https://qdrant.team.example"\napi_key = "in-a-file"\n')
    settings, messages = load_settings()
    assert settings.qdrant.url == "https://qdrant.team.example", "the rest of the section still applies"
    assert any("HYBRID_LSP_QDRANT_API_KEY" in m for m in messages)
    assert qdrant_api_key() is None
    monkeypatch.setenv("QDRANT_API_KEY", "from-qdrant")
    assert qdrant_api_key() == "from-qdrant"
    monkeypatch.setenv("HYBRID_LSP_QDRANT_API_KEY", "from-hybrid-lsp")
    assert qdrant_api_key() == "from-hybrid-lsp"


def test_a_url_that_is_not_http_turns_team_mode_off_with_a_message(user_config):
    user_config.write_text('[qdrant]\nurl = "qdrant.team.example:6333"\ntimeout = 0\n')
    settings, messages = load_settings()
    assert settings.qdrant.url == "" and settings.qdrant.timeout == 5.0
    assert any("must be an http:// or https:// URL" in m for m in messages)
    assert any("hybridLsp.qdrant.timeout must be between 0 and 600" in m for m in messages)
