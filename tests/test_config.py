"""config.py: settings from editors and files; bad values are reported and never stop the server."""

from __future__ import annotations

import pytest

from hybrid_lsp.config import (
    COLLECTIONS,
    LocalModel,
    RemoteModel,
    Routing,
    Settings,
    load_settings,
    parse_settings,
    read_user_config,
    remote_api_key,
)

ENVIRONMENT = (
    "HYBRID_LSP_LOCAL_URL",
    "HYBRID_LSP_LOCAL_MODEL",
    "HYBRID_LSP_LOCAL_KIND",
    "HYBRID_LSP_POLICY",
)


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    """A user config file in tmp_path, and an environment that adds nothing else."""
    path = tmp_path / "config.toml"
    monkeypatch.setenv("HYBRID_LSP_CONFIG", str(path))
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    return path


# -- keys ----------------------------------------------------------------------------------------


def test_camel_case_keys_from_the_editor_are_understood():
    settings, errors = parse_settings(
        {
            "routing": {"knownThreshold": 0.8, "localRules": [[0.5, 3]]},
            "local": {"baseUrl": "http://127.0.0.1:9000/v1", "maxTokens": 10},
            "contextLines": 4,
        }
    )

    assert errors == []
    assert settings.routing.known_threshold == 0.8
    assert settings.routing.local_rules == [(0.5, 3)]
    assert settings.local.base_url == "http://127.0.0.1:9000/v1"
    assert settings.local.max_tokens == 10
    assert settings.context_lines == 4


def test_snake_case_keys_from_the_config_file_are_understood():
    settings, errors = parse_settings({"routing": {"known_threshold": 0.8}, "max_contexts": 2})

    assert errors == []
    assert (settings.routing.known_threshold, settings.max_contexts) == (0.8, 2)


def test_later_layers_win_and_sections_merge_key_by_key():
    settings, errors = parse_settings(
        {"routing": {"policy": "casual", "knownThreshold": 0.5}},
        None,
        {"routing": {"knownThreshold": 0.7}},
    )

    assert errors == []
    assert (settings.routing.policy, settings.routing.known_threshold) == ("casual", 0.7)


def test_no_layers_give_the_defaults_without_messages():
    assert parse_settings() == (Settings(), [])


def test_an_unknown_top_level_key_is_reported_and_ignored():
    settings, errors = parse_settings({"bogus": 1, "contextLines": 4})

    assert errors == ["hybridLsp.bogus: unknown setting, ignored"]
    assert settings.context_lines == 4


def test_an_unknown_key_inside_a_section_is_reported_and_the_section_uses_its_defaults():
    settings, errors = parse_settings({"local": {"model": "m", "nope": 1}})

    assert len(errors) == 1
    assert "nope" in errors[0] and "hybridLsp.local" in errors[0]
    assert settings.local == LocalModel()


# -- wrong types ---------------------------------------------------------------------------------


def test_a_wrong_type_resets_its_section_with_a_message_naming_the_key():
    settings, errors = parse_settings(
        {"local": {"timeout": "soon", "model": "mine"}, "contextLines": 4}
    )

    assert errors == [
        "invalid value for type, expected float @ hybridLsp.local.timeout; "
        + "using the default for hybridLsp.local"
    ]
    assert settings.local == LocalModel()
    assert settings.context_lines == 4


def test_a_wrong_type_in_one_section_leaves_the_other_sections_alone():
    settings, _ = parse_settings(
        {"routing": {"knownThreshold": "high"}, "local": {"model": "mine"}}
    )

    assert settings.routing == Routing()
    assert settings.local.model == "mine"


def test_an_unknown_policy_is_reported_with_its_key_and_routing_uses_its_defaults():
    settings, errors = parse_settings({"routing": {"policy": "yolo", "knownThreshold": 0.5}})

    assert len(errors) == 1
    assert "hybridLsp.routing.policy" in errors[0] and "yolo" in errors[0]
    assert settings.routing == Routing()


def test_a_string_where_a_boolean_is_expected_is_reported():
    # "false" must not silently become True (bool("false")): the user meant to turn the model off.
    settings, errors = parse_settings({"local": {"enabled": "false"}})

    assert any("hybridLsp.local.enabled" in error for error in errors)
    assert settings.local == LocalModel()


def test_a_boolean_where_a_number_is_expected_is_reported():
    settings, errors = parse_settings({"contextLines": True})

    assert any("hybridLsp.contextLines" in error for error in errors)
    assert settings.context_lines == Settings().context_lines


# -- values out of range -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "name", "value"),
    [
        ("knownThreshold", "known_threshold", 1.5),
        ("exactKeyRelevance", "exact_key_relevance", -0.1),
    ],
)
def test_a_relevance_threshold_outside_zero_to_one_is_reset_with_a_message(key, name, value):
    settings, errors = parse_settings({"routing": {key: value}})

    default = getattr(Routing(), name)
    assert getattr(settings.routing, name) == default
    assert errors == [
        f"hybridLsp.routing.{key} must be between 0 and 1, got {value}; using {default}"
    ]


@pytest.mark.parametrize("rule", [[0.5, 20], [1.5, 3], [0.5, 0]])
def test_an_out_of_range_local_rule_falls_back_to_the_policy_rules(rule):
    settings, errors = parse_settings({"routing": {"localRules": [[0.8, 4], rule]}})

    assert settings.routing.local_rules == []
    assert errors == [
        f"hybridLsp.routing.localRules entry {rule} must be [relevance 0..1, complexity 1..11]; "
        + "using the policy's rules"
    ]


@pytest.mark.parametrize(
    ("section", "values", "fresh"),
    [
        ("local", {"timeout": 0}, LocalModel()),
        ("remote", {"maxTokens": -5}, RemoteModel()),
    ],
)
def test_a_non_positive_timeout_or_token_limit_is_reset(section, values, fresh):
    settings, errors = parse_settings({section: values})

    model = getattr(settings, section)
    assert (model.timeout, model.max_tokens) == (fresh.timeout, fresh.max_tokens)
    assert errors == [
        f"hybridLsp.{section}: timeout and maxTokens must be positive and contextTokens at least 200; using defaults"
    ]


def test_too_many_context_lines_are_reset_to_eight():
    settings, errors = parse_settings({"contextLines": 500})

    assert settings.context_lines == 8
    assert errors == ["hybridLsp.contextLines must be 0..200, got 500; using 8"]


def test_unknown_collections_are_dropped_with_a_message():
    settings, errors = parse_settings({"collections": ["error-solutions", "nope"]})

    assert settings.collections == ["error-solutions"]
    assert len(errors) == 1 and "['nope']" in errors[0]


def test_only_unknown_collections_fall_back_to_all_collections():
    settings, _ = parse_settings({"collections": ["nope"]})

    assert settings.collections == list(COLLECTIONS)


# -- input that is not an object -----------------------------------------------------------------


@pytest.mark.parametrize(("layer", "type_name"), [([1, 2], "list"), ("x", "str"), (3, "int")])
def test_settings_that_are_not_an_object_give_the_defaults_and_a_message(layer, type_name):
    assert parse_settings(layer) == (
        Settings(),
        [f"settings must be an object, got {type_name}; using defaults"],
    )


# -- the user config file ------------------------------------------------------------------------


def test_the_config_file_named_by_the_environment_is_read(config_file):
    config_file.write_text('[routing]\npolicy = "casual"\n', encoding="utf-8")

    assert read_user_config() == ({"routing": {"policy": "casual"}}, [])


def test_a_missing_config_file_is_silently_empty(config_file):
    assert read_user_config() == ({}, [])


def test_a_broken_config_file_gives_a_message_naming_the_file_and_no_settings(config_file):
    config_file.write_text("[routing\npolicy = casual\n", encoding="utf-8")

    values, errors = read_user_config()

    assert values == {}
    assert len(errors) == 1
    assert errors[0].startswith(f"{config_file}: cannot read the config file (")
    assert errors[0].endswith("fix it or remove it. Using defaults.")


def test_a_config_file_that_is_not_utf8_gives_a_message(config_file):
    config_file.write_bytes(b'policy = "\xff\xfe"\n')

    values, errors = read_user_config()

    assert values == {}
    assert len(errors) == 1 and str(config_file) in errors[0]


def test_loading_settings_with_a_broken_config_file_uses_defaults_and_reports_it(config_file):
    config_file.write_text("this is not = = toml", encoding="utf-8")

    settings, errors = load_settings({"contextLines": 4})

    assert settings == Settings(context_lines=4)
    assert len(errors) == 1 and str(config_file) in errors[0]


# -- API keys and the remote endpoint ------------------------------------------------------------


def test_the_remote_api_key_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")

    assert remote_api_key() == "sk-ant-test-key"


@pytest.mark.parametrize("value", [None, ""])
def test_no_remote_api_key_when_the_variable_is_unset_or_empty(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    else:
        monkeypatch.setenv("ANTHROPIC_API_KEY", value)

    assert remote_api_key() is None


@pytest.mark.parametrize("key", ["apiKey", "api_key", "baseUrl"])
def test_editor_settings_cannot_set_the_remote_key_or_endpoint(key):
    settings, errors = parse_settings({"remote": {key: "sk-ant-from-a-repository"}})

    assert settings.remote == RemoteModel()
    assert len(errors) == 1 and "hybridLsp.remote" in errors[0]
    assert "sk-ant-from-a-repository" not in repr(settings.to_dict())


def test_a_config_file_cannot_set_the_remote_api_key(config_file, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    config_file.write_text('[remote]\napi_key = "sk-ant-from-a-file"\n', encoding="utf-8")

    settings, errors = load_settings()

    assert "sk-ant-from-a-file" not in repr(settings.to_dict())
    assert any("api_key" in error for error in errors)
    assert remote_api_key() is None
