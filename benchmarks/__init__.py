"""hybrid-lsp measured against its floor: `python -m benchmarks` (see __main__.py).

Every figure is measured in the same run as its reference (the bare pygls server, qdrant-client's
local mode, the Qdrant Edge engine alone, the HTTP round trip) and reported with the ratio.
"""

# Every figure a run reports, in the order of the results table.
FIGURES = (
    "code_action_p50",
    "code_action_p99",
    "resolve_known_p50",
    "hover_p50",
    "resolve_local_p50",
    "model_overhead",
    "search_small_p50",
    "search_small_p99",
    "search_medium_p50",
    "search_medium_p99",
    "search_large_p50",
    "search_large_p99",
    "search_large_first_pass_p99",
    "search_large_cached_p50",
    "import_rate",
    "store_size",
    "start_first_answer",
    "start_first_answer_cold",
    "peak_rss",
)
