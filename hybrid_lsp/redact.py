"""Remove secrets from text before it leaves the machine for a remote API.

Known token formats first, then credentials in URLs and assignments, then long high-entropy
strings. Returns counts per kind for the log; the values themselves are never logged. Pure.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

_RULES: list[tuple[str, re.Pattern[str], int]] = [
    ("private-key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S), 0),
    ("anthropic-key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}"), 0),
    ("openai-key", re.compile(r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}"), 0),
    ("github-token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"), 0),
    ("gitlab-token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"), 0),
    ("aws-access-key", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), 0),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), 0),
    ("slack-token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), 0),
    ("stripe-key", re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"), 0),
    ("huggingface-token", re.compile(r"\bhf_[A-Za-z0-9]{30,}"), 0),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), 0),
    ("bearer-token", re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/-]{16,}=*)"), 2),
    ("url-password", re.compile(r"(\b[a-z][a-z0-9+.-]*://[^\s:/@]+:)([^\s@/]+)(@)", re.I), 2),
]
_CANDIDATE = re.compile(r"[A-Za-z0-9+/=_-]{32,}")

# name = value where the name ends in a secret word (db_password, API_KEY, authToken...).
_SECRET_NAME = r"[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|auth|credentials?)"
_QUOTED_ASSIGNMENT = re.compile(rf"(?i)((?<![\w.-]){_SECRET_NAME}[\"']?\s*[:=]\s*)([\"'])([^\"'\n]{{4,}})(\2)")
# Unquoted values must be one token that is not code: no call, attribute, index or type name.
_BARE_ASSIGNMENT = re.compile(rf"(?i)((?<![\w.-]){_SECRET_NAME}\s*[:=]\s*)(?!(?:bearer|basic|token)\s)([^\s\"'`,;(){{}}\[\]]{{4,}})(?![(.\[\w])")
_NOT_SECRETS = frozenset("string str number int integer bool boolean none null true false undefined any bytes optional".split())


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_random(token: str) -> bool:
    # Generated secrets mix digits into letters; long CamelCase names and git hashes do not count.
    has_digit, has_letter = bool(re.search(r"\d", token)), bool(re.search(r"[A-Za-z]", token))
    return has_digit and has_letter and _entropy(token) >= 4.0 and not re.fullmatch(r"[a-f0-9]{40}|[a-f0-9]{64}", token)


@dataclass(frozen=True, slots=True)
class Redacted:
    text: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def redact(text: str) -> Redacted:
    counts: Counter[str] = Counter()
    for kind, pattern, group in _RULES:
        def replace(match: re.Match[str], kind: str = kind, group: int = group) -> str:
            if "[REDACTED:" in match.group(0):
                return match.group(0)
            counts[kind] += 1
            if group == 0:
                return f"[REDACTED:{kind}]"
            pieces = list(match.groups())
            pieces[group - 1] = f"[REDACTED:{kind}]"
            return "".join(p or "" for p in pieces)
        text = pattern.sub(replace, text)

    def assignment(match: re.Match[str]) -> str:
        value = match.group(3) if match.lastindex and match.lastindex >= 4 else match.group(2)
        if "[REDACTED:" in match.group(0) or value.lower() in _NOT_SECRETS or value.startswith(("$", "<", "%")):
            return match.group(0)
        counts["assignment"] += 1
        return match.group(0).replace(value, "[REDACTED:assignment]", 1)

    text = _QUOTED_ASSIGNMENT.sub(assignment, text)
    text = _BARE_ASSIGNMENT.sub(assignment, text)

    def entropy(match: re.Match[str]) -> str:
        token = match.group(0)
        if not _looks_random(token):
            return token
        counts["high-entropy"] += 1
        return "[REDACTED:high-entropy]"

    text = _CANDIDATE.sub(entropy, text)
    return Redacted(text, dict(counts))
