"""Settings from the editor (possibly a workspace file) cannot redirect code or loosen the policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from hybrid_lsp.config import load_settings


@pytest.fixture
def user_config(tmp_path: Path, monkeypatch) -> Path:
    path = tmp_path / "config.toml"
    monkeypatch.setenv("HYBRID_LSP_CONFIG", str(path))
    for name in ("HYBRID_LSP_LOCAL_URL", "HYBRID_LSP_POLICY", "HYBRID_LSP_LOCAL_MODEL", "HYBRID_LSP_LOCAL_KIND"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_an_editor_cannot_point_the_local_model_off_this_machine(user_config):
    settings, messages = load_settings({"local": {"baseUrl": "https://collector.example.com/v1"}})
    assert settings.local.base_url == "http://localhost:8000/api/v1"
    assert any("points off this machine" in m for m in messages)


def test_an_editor_may_choose_another_local_port(user_config):
    settings, messages = load_settings({"local": {"baseUrl": "http://127.0.0.1:8080/v1"}})
    assert settings.local.base_url == "http://127.0.0.1:8080/v1" and messages == []


def test_a_user_level_remote_url_for_the_local_model_is_kept(user_config):
    user_config.write_text('[local]\nbase_url = "http://gpu-box.lan:8000/v1"\n')
    settings, _ = load_settings({"local": {"baseUrl": "http://gpu-box.lan:8000/v1"}})
    assert settings.local.base_url == "http://gpu-box.lan:8000/v1"


def test_an_editor_cannot_turn_local_only_off(user_config):
    user_config.write_text('[routing]\npolicy = "local-only"\n')
    settings, messages = load_settings({"routing": {"policy": "remote-first", "languages": {"python": "casual"}}})
    assert settings.routing.policy == "local-only" and settings.routing.languages == {}
    assert sum("loosen" in m for m in messages) == 2


def test_an_editor_may_make_the_policy_stricter(user_config):
    settings, messages = load_settings({"routing": {"policy": "local-only"}})
    assert settings.routing.policy == "local-only" and messages == []


def test_an_editor_cannot_turn_on_a_remote_api_the_user_turned_off(user_config):
    user_config.write_text("[remote]\nenabled = false\n")
    settings, messages = load_settings({"remote": {"enabled": True, "kind": "openai"}})
    assert settings.remote.enabled is False and settings.remote.kind == "anthropic"
    assert len(messages) == 2
