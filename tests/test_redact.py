"""redact.py: secrets are removed before text leaves the machine; ordinary code is not touched."""

from __future__ import annotations

import pytest

from hybrid_lsp.redact import redact

# (kind, text with one planted secret, the secret itself). Fake values, shaped like the real ones.
PLANTED = [
    (
        "private-key",
        "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx1y2\nQ3Zh\n-----END RSA PRIVATE KEY-----\nend",
        "MIIEowIBAAKCAQEAx1y2",
    ),
    (
        "anthropic-key",
        "client = Anthropic(sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx)",
        "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx",
    ),
    ("openai-key", "use sk-proj-AbCdEfGhIjKlMnOpQrStUvWx now", "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx"),
    (
        "github-token",
        "remote ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
        "ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    ),
    ("gitlab-token", "remote glpat-AbCdEfGhIjKlMnOpQrSt", "glpat-AbCdEfGhIjKlMnOpQrSt"),
    ("aws-access-key", "aws AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE"),
    (
        "google-api-key",
        "maps AIzaSyA-1234567890abcdefghijklmnopqrstu",
        "AIzaSyA-1234567890abcdefghijklmnopqrstu",
    ),
    ("slack-token", "slack xoxb-1234567890-abcdefghij", "xoxb-1234567890-abcdefghij"),
    ("stripe-key", "stripe sk_live_AbCdEfGhIjKlMnOp1234", "sk_live_AbCdEfGhIjKlMnOp1234"),
    (
        "huggingface-token",
        "hub hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234",
        "hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234",
    ),
    (
        "jwt",
        "cookie eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
    ("bearer-token", "curl -H 'Bearer abcdefghijklmnop1234' https://api", "abcdefghijklmnop1234"),
    ("url-password", "postgres://admin:hunter2pass@db.example.com:5432/app", "hunter2pass"),
    ("assignment", 'DB_PASSWORD = "correcthorse"', "correcthorse"),
    (
        "high-entropy",
        "blob Zx8Qp2Lm9Rt4Vw7Ky1Nb6Hc3Jd5Fg0Sa end",
        "Zx8Qp2Lm9Rt4Vw7Ky1Nb6Hc3Jd5Fg0Sa",
    ),
]


@pytest.mark.parametrize(("kind", "text", "secret"), PLANTED, ids=[p[0] for p in PLANTED])
def test_a_planted_secret_is_removed_and_counted_under_its_kind(kind, text, secret):
    result = redact(text)

    assert secret not in result.text
    assert f"[REDACTED:{kind}]" in result.text
    assert result.counts == {kind: 1}


def test_the_text_around_a_secret_is_kept():
    assert (
        redact("use sk-proj-AbCdEfGhIjKlMnOpQrStUvWx now").text == "use [REDACTED:openai-key] now"
    )


def test_a_url_keeps_its_user_and_host_and_loses_only_the_password():
    result = redact("postgres://admin:hunter2pass@db.example.com:5432/app")

    assert result.text == "postgres://admin:[REDACTED:url-password]@db.example.com:5432/app"


def test_an_assignment_keeps_its_name_and_quotes():
    assert redact('DB_PASSWORD = "correcthorse"').text == 'DB_PASSWORD = "[REDACTED:assignment]"'


def test_a_private_key_without_its_end_line_is_removed_to_the_end():
    result = redact("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n")

    assert result.text == "[REDACTED:private-key]"


def test_an_authorization_header_counts_its_bearer_token_once_and_keeps_the_scheme():
    result = redact("Authorization: Bearer abcdefghijklmnop1234")

    assert result.text == "Authorization: Bearer [REDACTED:bearer-token]"
    assert result.counts == {"bearer-token": 1}


def test_two_secrets_of_one_kind_are_counted_twice():
    result = redact("a sk-proj-AbCdEfGhIjKlMnOpQrStUvWx b sk-proj-ZyXwVuTsRqPoNmLkJiHgFeDc")

    assert result.counts == {"openai-key": 2}
    assert result.total == 2


def test_total_adds_the_counts_of_every_kind():
    result = redact("AKIAIOSFODNN7EXAMPLE and glpat-AbCdEfGhIjKlMnOpQrSt")

    assert result.counts == {"aws-access-key": 1, "gitlab-token": 1}
    assert result.total == 2


def test_redacting_redacted_text_changes_nothing():
    once = redact('token = "s3cr3t-value" and ghp_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789').text

    again = redact(once)

    assert again.text == once
    assert again.counts == {}


def test_the_result_holds_only_counts_never_the_secret_values():
    result = redact("key sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWx and postgres://u:hunter2pass@h/db")

    assert all(isinstance(kind, str) and isinstance(n, int) for kind, n in result.counts.items())
    assert "hunter2pass" not in repr(result)
    assert "AbCdEfGhIjKlMnOpQrStUvWx" not in repr(result)


# -- what must be left alone ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "def login(user, password):",
        "if token == expected:",
        "import numpy as np",
        "secret_santa = 3",
        "author = 'Jane Doe'",
        "url = 'https://example.com/path/to/resource?page=2'",
        "https://user@example.com/x",
        "TS2304: Cannot find name 'foo'.",
        "def test_quoted_identifiers_become_placeholders_in_order(self):",
        "The quick brown fox jumps over the lazy dog; the compiler reports an unused variable.",
    ],
)
def test_ordinary_code_and_prose_are_left_unchanged(text):
    result = redact(text)

    assert result.text == text
    assert result.counts == {}


@pytest.mark.parametrize(
    "digest",
    [
        "3f2a9c0d1e4b5a6978877665544332211aabbccd",  # git SHA-1
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",  # SHA-256
    ],
)
def test_git_and_sha256_digests_are_left_alone(digest):
    text = f"commit {digest}"

    assert redact(text).text == text


def test_a_uuid_is_left_alone():
    assert redact("id 123e4567-e89b-12d3-a456-426614174000").counts == {}


@pytest.mark.parametrize(
    "text",
    [
        "    tokenizer = AutoTokenizer.from_pretrained(name)",
        "    token = get_token()",
        "const auth = useAuth();",
    ],
)
def test_an_assignment_from_code_to_a_secret_sounding_name_is_left_alone(text):
    # The value is code, not a secret; redacting it also corrupts the code sent to the model.
    assert redact(text).text == text


def test_reading_a_key_from_the_environment_is_left_alone():
    text = 'api_key = os.environ["ANTHROPIC_API_KEY"]'

    assert redact(text).text == text


@pytest.mark.parametrize("text", ["  password: string;", "token: str = field(default='')"])
def test_a_type_annotation_on_a_secret_sounding_field_is_left_alone(text):
    assert redact(text).text == text


@pytest.mark.parametrize(
    "identifier",
    ["AbstractSingletonProxyFactoryBean", "VeryLongIdentifierNameForTestingPurposesOnly"],
)
def test_a_long_camel_case_identifier_is_not_taken_for_a_random_secret(identifier):
    text = f"x = {identifier}()"

    assert redact(text).text == text
