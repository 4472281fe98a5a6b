"""Tokens and money, from what the APIs reported, and the counterfactual of what was saved.

Used tokens are the usage fields the servers returned, never estimates. "Saved" is what the remote
API would have cost for the same question: the size of the prompt the remote route would have sent,
converted to tokens with the ratio measured on past remote calls (3.5 characters a token until
there are some), plus the median completion those calls returned. Pure.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

DEFAULT_CHARS_PER_TOKEN = 3.5
DEFAULT_COMPLETION_TOKENS = 200


@dataclass(frozen=True, slots=True)
class RemoteUsage:
    """What past remote calls measured: characters per prompt token, typical completion length."""

    chars_per_token: float = DEFAULT_CHARS_PER_TOKEN
    completion_tokens: int = DEFAULT_COMPLETION_TOKENS
    samples: int = 0

    @staticmethod
    def measure(calls: list[tuple[int, int, int]]) -> RemoteUsage:
        """calls: (prompt characters, prompt tokens, completion tokens) of past remote calls."""
        usable = [(chars, prompt, completion) for chars, prompt, completion in calls if chars > 0 and prompt > 0]
        if not usable:
            return RemoteUsage()
        ratio = sum(c for c, _, _ in usable) / sum(p for _, p, _ in usable)
        return RemoteUsage(ratio, int(statistics.median(c for _, _, c in usable)), len(usable))

    def estimate(self, prompt_chars: int) -> tuple[int, int]:
        """(prompt tokens, completion tokens) a remote call with this prompt would have used."""
        if prompt_chars <= 0:
            return 0, 0
        return int(prompt_chars / self.chars_per_token), self.completion_tokens


def cost(prices: dict[str, tuple[float, float]], model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """US dollars, from a price table of (input, output) dollars per million tokens."""
    price = prices.get(model)
    if price is None:
        # Dated model names ("claude-x-20250101") are priced like their family.
        price = next((p for name, p in prices.items() if model.startswith(name)), None)
    if price is None:
        return 0.0
    return (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000
