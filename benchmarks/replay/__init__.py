"""Replay benchmark: a realistic stream of diagnostics through the whole pipeline, with a simulated user.

Run `python -m benchmarks.replay [--quick | --events N] [--out DIR]` (see __main__.py). The stream
(stream.py) is built from the starter knowledge base's error messages with varied names, plus errors
the knowledge base does not know, repeated at Zipf-like frequencies. Three routers answer it against
loopback model servers (models.py) whose competence is simulated: hybrid-lsp's own `Pipeline` (with
learning), the reference design's fixed decision tree ("seed tree"), and always-remote, the
reference for token reduction (runner.py). report.py turns the answers into the figures and targets.
"""

# The figures reported for every router, in table order. Rates are fractions in [0, 1].
FIGURES = (
    "events",
    "share_without_remote",
    "token_reduction",
    "remote_tokens",
    "local_tokens",
    "remote_cost_usd",
    "accept_rate_known",
    "accept_rate_local",
    "accept_rate_remote",
    "accept_rate",
    "wrong_known_fix_rate",
    "known_fixes_served",
    "explanation_only",
    "accepted_without_remote",
    "remote_tokens_per_accepted_fix",
)

# Learning figures, for hybrid-lsp only (the seed tree does not learn).
LEARNING_FIGURES = ("entries_promoted", "patterns_extracted", "known_from_learned", "routing_offset")

ROUTERS = ("hybrid-lsp", "seed-tree", "always-remote")
