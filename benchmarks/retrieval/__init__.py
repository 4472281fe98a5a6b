"""Retrieval benchmark: does a REAL diagnostic find its known solution? `python -m benchmarks.retrieval`.

The corpus (data/corpus.jsonl) holds diagnostics that real tools printed on real third-party code and
on small failing programs, each labelled with the knowledge-base entries that answer it; it is built
by scripts/build_corpus.py. See __main__.py for what is measured.
"""

# Every figure a run reports, in the order of the results table.
FIGURES = (
    "top1_with_code",
    "top1_message_only",
    "top1_cross_tool",
    "known_band_precision",
    "known_band_precision_message_only",
    "known_band_coverage",
    "unanswerable_in_band",
    "top1_message_only_weighted",
    "baseline_bm25_top1_message_only",
    "baseline_bm25_top1_cross_tool",
    "search_corpus_p50",
    "search_corpus_p99",
    "search_100k_p50",
    "search_100k_p99",
    "search_100k_first_pass_p99",
    "import_rate",
)
