"""Run the replay benchmark: `python -m benchmarks.replay [--quick | --events N] [--seed S] [--out DIR]`.

Writes DIR/replay.json and DIR/replay.md (default DIR: benchmarks/results) and prints the table.
--seeds 1,2,3 replays once per seed instead, each report in DIR/replay-seeds/seed-S/, and writes
DIR/replay-seeds.json and DIR/replay-seeds.md: every figure and verdict per seed, and how many
seeds pass each.
The full run (1,500 events) replays the stream through hybrid-lsp in this process while a second
process replays it through the seed tree and always-remote; --serial runs both here, one after the
other. --quick replays 300 events (a smoke run).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from .models import LOCAL_WITH_CONTEXT, LOCAL_WITHOUT_CONTEXT, REMOTE_SKILL
from .report import build_report, plain_table, verdicts, write, write_seeds
from .runner import baselines_process, data_root, run_baselines, run_hybrid
from .stream import SITE_CONCENTRATION, SITE_DISCOUNT, UNKNOWN_SHARE, ZIPF_S, build

RESULTS = Path(__file__).resolve().parent.parent / "results"
FULL_EVENTS, QUICK_EVENTS = 1500, 300

NOTES = [
    ("Stream (benchmarks/replay/stream.py): known errors are the starter's error-solutions entries, their example "
     "message with quoted names, paths, numbers and a few unquoted names replaced by realistic ones, under the "
     "entry's own tool, rule code and language; unknown errors are 44 real messages of tools and rules the starter "
     f"does not cover ({UNKNOWN_SHARE:.0%} of events). Which error comes next: Zipf (s = {ZIPF_S}) over a popularity "
     "order (a hand-written head of everyday diagnostics, then a seeded order); which code site: a Pitman-Yor "
     f"process per error (discount {SITE_DISCOUNT}, concentration {SITE_CONCENTRATION}), so some sites repeat and new "
     "ones keep coming. Each site is a 6-8 line document whose line 3 holds the error."),
    ("Ground truth: an event's truth is its starter entry id, or its own `unknown:` id. A stored entry applies when "
     "its id is the truth or in the same explicit equivalence class (stream.EQUIVALENT: e.g. ruff F821, pyright "
     "reportUndefinedVariable, mypy name-defined and Python's NameError). The correct fix of a site is a known "
     "replacement of line 3: for the 12 starter entries with a stored edit, the real fix (checked against the stored "
     "edit when the stream is built); otherwise the line with a `fixed:<truth>` marker comment. A wrong fix "
     "silences the diagnostic (`noqa` comment) and leaves the code."),
    (f"Models (benchmarks/replay/models.py): the tests' loopback servers (tests/model_servers.py), local over the "
     f"OpenAI protocol, remote over Anthropic Messages (tool use); token usage is what the servers report. The "
     f"model answers with the JSON fix, right with probability {REMOTE_SKILL} (remote), {LOCAL_WITH_CONTEXT} (local, "
     f"prompt holds the solution text of the truth entry or an equivalent one, or a fix learned for the same error) "
     f"or {LOCAL_WITHOUT_CONTEXT} (local otherwise). The draw is a hash of (seed, event, route, call), so every "
     "router meets the same luck on the same event."),
    ("Simulated user: an answer with an edit is correct when applying it gives the site's correct document (a known "
     "fix also counts as correct when its entry applies to the error). hybrid-lsp is told `accepted` then "
     "`validated` for a correct fix and `rejected` for a wrong one, through `Pipeline.learning.record`. An answer "
     "without an edit (explanation only) is neutral: no outcome is recorded, it is left out of every accept rate "
     "and counted in its route's share and tokens."),
    ("hybrid-lsp: `Pipeline` in-process with the starter knowledge base and default settings (local at the local "
     "loopback server, ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL at the remote one); per event `plan`, `solve`, then "
     "the outcome."),
    ("Seed tree: the reference design's fixed tree (`should_use_local`: relevance > 0.85 & complexity < 6, > 0.8 & "
     "< 4, > 0.7 & < 3, else remote), relevance = the top raw cosine of the dense search (`KnowledgeBase.search`'s "
     "`dense` score over the three collections, 0 under the design's 0.6 floor), complexity = the design's keyword "
     "guess on the message; no known-fix route, no learning. It runs on its own `Pipeline` (starter only, never "
     "told an outcome): `plan` gives the matches, the route is replaced by the tree's decision (and no stored edit), "
     "and `solve` builds the same prompts (`prompts.fix_prompt` with the same stored solutions as context) and calls "
     "the same backends. Only the routing decision differs; the context is hybrid-lsp's calibrated retrieval, "
     "kinder to the seed tree than its own cosine-ranked top results would be."),
    ("Always-remote: the same `Pipeline` as the seed tree with every route replaced by remote; actually run. Token "
     "reduction = 1 - remote tokens used by the router / remote tokens used by always-remote. Local tokens are "
     "reported separately (free, but counted). Cost: remote tokens at the configured list price."),
    ("Data directories are on tmpfs when available: hybrid-lsp fsyncs every outcome before acknowledging it "
     "(about 5-10 flushes per event), which on this machine's disk costs ~50 ms each and would measure the disk."),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replay", description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help=f"replay {QUICK_EVENTS} events (a smoke run)")
    size.add_argument("--events", type=int, help=f"replay N events (default {FULL_EVENTS})")
    luck = parser.add_mutually_exclusive_group()
    luck.add_argument("--seed", type=int, default=7, help="stream and model-luck seed (default 7)")
    luck.add_argument("--seeds", type=_seeds, metavar="S,S,…",
                      help="replay once per seed; write each report under replay-seeds/ and a summary in replay-seeds.md: "
                           "how each figure and verdict holds from one stream and one run of luck to another")
    parser.add_argument("--unknown-share", type=float, default=UNKNOWN_SHARE, help="share of unknown errors (default 0.15)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for replay.json and replay.md")
    parser.add_argument("--settings", type=json.loads, default=None, metavar="JSON",
                        help="hybrid-lsp settings for its pass, as an editor sends them, e.g. "
                             "'{\"routing\": {\"adapt\": false}}' (default: the defaults)")
    parser.add_argument("--serial", action="store_true", help="run the baselines in this process after hybrid-lsp")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    args = parser.parse_args(argv)
    events = QUICK_EVENTS if args.quick else (args.events or FULL_EVENTS)
    if events < 1:
        parser.error("--events must be at least 1")
    if args.seeds:
        started = time.perf_counter()
        reports = []
        for seed in args.seeds:
            report = replay(args, events, seed)
            write(report, args.out / "replay-seeds" / f"seed-{seed}")
            reports.append(report)
            if not args.quiet:
                print(f"seed {seed}: " + "; ".join(f"{t['result']} {t['figure']}" for t in report["targets"]), flush=True)
        json_path, md_path = write_seeds(reports, args.out)
        print()
        print(md_path.read_text())
        print(f"{len(reports)} seeds in {time.perf_counter() - started:.0f} s; wrote {json_path} and {md_path}")
        return 0
    report = replay(args, events, args.seed)
    json_path, md_path = write(report, args.out)
    print()
    print(plain_table(report))
    print()
    print(verdicts(report))
    print(f"\n{events} events in {report['timing']['total_seconds']:.0f} s; wrote {json_path} and {md_path}")
    return 0


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seeds as integers separated by commas, e.g. 1,2,3; got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct seeds, e.g. 1,2,3; got {text!r}")
    return seeds


def replay(args: argparse.Namespace, events: int, seed: int) -> dict:
    """One replay of a stream through the three routers, as a report (see report.build_report)."""
    started = time.perf_counter()
    stream = build(events, seed, args.unknown_share)
    root, root_kind = data_root()
    progress = not args.quiet
    if progress:
        print(f"replaying {events} events (seed {seed}) through hybrid-lsp, the seed tree and always-remote; "
              f"data on {root_kind}", flush=True)
    try:
        if args.serial:
            hybrid = asyncio.run(run_hybrid(stream, root, progress, args.settings))
            baselines = asyncio.run(run_baselines(stream, root, progress))
            mode = "one process, one pass after the other"
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                future = pool.submit(baselines_process, events, seed, args.unknown_share, str(root), progress)
                hybrid = asyncio.run(run_hybrid(stream, root, progress, args.settings))
                baselines = future.result()
            mode = "two processes at once"
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if baselines["digest"] != hybrid["digest"]:
        raise SystemExit("the two processes replayed different streams; the stream is not deterministic")
    total = time.perf_counter() - started
    command = "python -m benchmarks.replay" + (" --quick" if args.quick else f" --events {events}" if args.events else "")
    if seed != 7:
        command += f" --seed {seed}"
    if args.settings:
        command += f" --settings '{json.dumps(args.settings)}'"
    config = {"command": command, "events": events, "seed": seed, "unknown_share": args.unknown_share,
              "data_dir": root_kind, "mode": mode, "hybrid_settings": args.settings or {}, "stream_digest": hybrid["digest"],
              "generated": datetime.now(UTC).isoformat(timespec="seconds")}
    timing = {"total_seconds": round(total, 2), "hybrid_seconds": round(hybrid["seconds"], 2),
              "hybrid_startup_seconds": round(hybrid["startup_seconds"], 2),
              "baselines_seconds": round(baselines["seconds"], 2), "mode": mode}
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}
    return build_report(config, stream.summary, hybrid, baselines, timing, NOTES, machine)


if __name__ == "__main__":
    sys.exit(main())
