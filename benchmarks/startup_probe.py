"""What `hybrid-lsp serve` does before its first answer, in phases, without the protocol around it.

Imports the server module, opens the pipeline as the initialize handler does, and plans the first
diagnostic as the first codeAction does; prints each phase's seconds as JSON. Used to explain the
start-up figure: `python -m benchmarks.startup_probe DATA_DIR`.
"""

from __future__ import annotations

import json
import os
import sys
import time

started = time.perf_counter()


def main() -> None:
    from pathlib import Path

    import hybrid_lsp.server  # noqa: F401  (what the console script imports before serving)
    from benchmarks.document import TEXT
    from benchmarks.model_route import undefined_name_query
    from hybrid_lsp.config import load_settings
    from hybrid_lsp.pipeline import Pipeline

    imported = time.perf_counter()
    settings, _ = load_settings(None)
    pipeline = Pipeline(Path(sys.argv[1]), settings, starter=True)
    opened = time.perf_counter()
    pipeline.plan(undefined_name_query(settings), TEXT, 3)
    planned = time.perf_counter()
    print(json.dumps({"imports_s": round(imported - started, 3), "pipeline_open_s": round(opened - imported, 3),
                      "first_plan_s": round(planned - opened, 3)}), flush=True)
    # Planning writes nothing, and the store's write-ahead log keeps whatever opening it wrote; exiting
    # without closing keeps the shutdown flush out of the profile (the server answers before it).
    os._exit(0)


if __name__ == "__main__":
    main()
