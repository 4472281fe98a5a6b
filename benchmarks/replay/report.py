"""Figures, targets and the two result files (replay.json for tools, replay.md for people)."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

from hybrid_lsp.accounting import cost
from hybrid_lsp.config import DEFAULT_PRICES, RemoteModel

from . import FIGURES, LEARNING_FIGURES

REMOTE_MODEL = RemoteModel().model

# Targets of the issue for hybrid-lsp: (figure, comparison, bound).
TARGETS = (
    ("share_without_remote", ">=", 0.90),
    ("token_reduction", ">=", 0.85),
    ("wrong_known_fix_rate", "<=", 0.01),
)
# "Better than the seed's tree on every figure": the direction that is better, per figure, and
# whether the figure is one the issue names (the verdict is on those; the others inform).
BETTER = (
    ("share_without_remote", "higher", True),
    ("token_reduction", "higher", True),
    ("accept_rate_known", "higher", True),
    ("accept_rate_local", "higher", True),
    ("accept_rate_remote", "higher", True),
    ("accept_rate", "higher", True),
    ("wrong_known_fix_rate", "lower", True),
    ("remote_tokens", "lower", False),
    ("accepted_without_remote", "higher", False),
    ("remote_tokens_per_accepted_fix", "lower", False),
)
# Why a figure has no value for a router.
NOT_APPLICABLE = {
    ("seed-tree", "accept_rate_known"): "the seed tree has no known-fix route",
    ("seed-tree", "wrong_known_fix_rate"): "the seed tree serves no known fixes",
    ("always-remote", "accept_rate_known"): "always remote",
    ("always-remote", "accept_rate_local"): "always remote",
    ("always-remote", "wrong_known_fix_rate"): "always remote",
}


def _rate(good: int, total: int) -> float | None:
    return round(good / total, 4) if total else None


def wilson(good: int, total: int, z: float = 1.96) -> list[float] | None:
    """95% confidence interval of a rate (Wilson score)."""
    if not total:
        return None
    p = good / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * ((p * (1 - p) / total + z * z / (4 * total * total)) ** 0.5) / (1 + z * z / total)
    return [round(centre - half, 4), round(centre + half, 4)]


def figures(records: list[dict[str, Any]], always_remote_tokens: int) -> dict[str, Any]:
    n = len(records)
    routes = Counter(r["route"] for r in records)
    remote = [r for r in records if r["route"] == "remote"]
    remote_tokens = sum(r["prompt_tokens"] + r["completion_tokens"] for r in remote)
    local_tokens = sum(r["prompt_tokens"] + r["completion_tokens"] for r in records if r["route"] == "local")
    decided = [r for r in records if r["correct"] is not None]
    out: dict[str, Any] = {
        "events": n,
        "share_without_remote": _rate(n - routes.get("remote", 0), n),
        "token_reduction": round(1 - remote_tokens / always_remote_tokens, 4) if always_remote_tokens else None,
        "remote_tokens": remote_tokens,
        "local_tokens": local_tokens,
        "remote_cost_usd": round(sum(cost(DEFAULT_PRICES, REMOTE_MODEL, r["prompt_tokens"], r["completion_tokens"])
                                     for r in remote), 4),
    }
    intervals = {}
    for route in ("known", "local", "remote"):
        settled = [r for r in decided if r["route"] == route]
        out[f"accept_rate_{route}"] = _rate(sum(r["correct"] for r in settled), len(settled))
        intervals[f"accept_rate_{route}"] = wilson(sum(r["correct"] for r in settled), len(settled))
    out["accept_rate"] = _rate(sum(r["correct"] for r in decided), len(decided))
    intervals["accept_rate"] = wilson(sum(r["correct"] for r in decided), len(decided))
    served = [r for r in records if r["route"] == "known" and r["has_edit"]]
    out["wrong_known_fix_rate"] = _rate(sum(r["correct"] is False for r in served), len(served))
    out["known_fixes_served"] = len(served)
    out["explanation_only"] = sum(not r["has_edit"] for r in records)
    # Cost and quality together: events that got a correct fix without the remote API, and what
    # each correct fix cost in remote tokens.
    out["accepted_without_remote"] = _rate(sum(r["correct"] is True and r["route"] != "remote" for r in records), n)
    accepted = sum(r["correct"] is True for r in records)
    out["remote_tokens_per_accepted_fix"] = round(remote_tokens / accepted, 1) if accepted else None
    out["routes"] = {route: routes.get(route, 0) for route in ("known", "local", "remote")}
    out["decided_by_route"] = {route: sum(r["route"] == route for r in decided) for route in ("known", "local", "remote")}
    out["model_calls"] = dict(Counter(c for r in records for c in r["calls"]))
    out["accept_rate_95ci"] = intervals
    return out


def _compare(a: float | None, b: float | None, direction: str) -> str:
    if a is None or b is None:
        return "n/a"
    if a == b:
        return "equal"
    return "better" if (a > b) == (direction == "higher") else "worse"


def analyse(stream_summary: dict, hybrid: dict[str, Any], seed: list[dict[str, Any]],
            always: list[dict[str, Any]]) -> dict[str, Any]:
    """Where each router's remote calls and wrong answers come from."""
    records = hybrid["records"]
    seen: set = set()
    remote_why: Counter = Counter()
    remote_truths: Counter = Counter()
    for r in records:
        key = (r["truth"], r["site"])
        first = key not in seen
        seen.add(key)
        if r["route"] != "remote":
            continue
        kind = "unknown error" if not r["known"] else "known error"
        where = "new site" if first else "repeated site"
        if r["known"]:
            detail = f"relevance {'>' if r['relevance'] > 0.85 else '<='} 0.85, complexity {r['complexity']}"
        else:
            detail = f"relevance {'>=' if r['relevance'] >= 0.7 else '<'} 0.70"
        remote_why[f"{kind}, {where}, {detail}"] += 1
        remote_truths[r["truth"]] += 1
    local = [r for r in records if r["route"] == "local"]
    local_no_context = [r for r in local if r["with_context"] is False]
    wrong_known = Counter(f"{r['served_entry']} served for {r['truth']}" for r in records
                          if r["route"] == "known" and r["correct"] is False)
    missed = Counter(r["learned_fix_missed"].split(" (")[0] for r in records if r.get("learned_fix_missed"))
    seed_local = [r for r in seed if r["route"] == "local"]

    def latency(name: str, part: list[dict[str, Any]]) -> float | None:
        return round(statistics.median(r[name] for r in part), 2) if part else None

    head, tail = records[:100], records[-100:]
    remote_events = [r for r in records if r["route"] == "remote" and r["prompt_contexts"] is not None]
    always_by_index = {r["index"]: r for r in always}

    def mean(values: list[float]) -> float | None:
        return round(statistics.fmean(values), 2) if values else None
    return {
        "hybrid_remote_by_reason": dict(remote_why.most_common()),
        "hybrid_remote_by_error": dict(remote_truths.most_common(15)),
        "hybrid_local_by_truth_kind": {
            "known_error_with_context": sum(r["known"] and r["with_context"] for r in local),
            "known_error_without_context": sum(r["known"] and r["with_context"] is False for r in local),
            "unknown_error": sum(not r["known"] for r in local),
        },
        "hybrid_local_without_context_by_error": dict(Counter(r["truth"] for r in local_no_context).most_common(12)),
        "hybrid_local_without_context_truth_rank": dict(Counter(str(r["truth_rank"]) for r in local_no_context).most_common()),
        "hybrid_wrong_known_fixes": dict(wrong_known.most_common()),
        "hybrid_learned_fix_missed": dict(missed.most_common()),
        "hybrid_learned_fix_missed_events": sum(missed.values()),
        "hybrid_learned_fix_missed_then_routed": dict(Counter(r["route"] for r in records if r.get("learned_fix_missed"))),
        "hybrid_learned_fix_missed_by_error": dict(Counter(r["truth"] for r in records if r.get("learned_fix_missed")).most_common(10)),
        "hybrid_learned_fix_missed_examples": [f"event {r['index']} {r['truth']}: {r['learned_fix_missed']} -> {r['route']}"
                                                for r in records if r.get("learned_fix_missed")][:12],
        "hybrid_events_at_sites_with_a_learned_fix": sum(bool(r.get("learned_fix_available")) for r in records),
        "seed_local_by_truth_kind": {
            "known_error_with_context": sum(r["known"] and r["with_context"] for r in seed_local),
            "known_error_without_context": sum(r["known"] and r["with_context"] is False for r in seed_local),
            "unknown_error": sum(not r["known"] for r in seed_local),
        },
        "seed_remote_events": {"known_error": sum(r["known"] and r["route"] == "remote" for r in seed),
                               "unknown_error": sum(not r["known"] and r["route"] == "remote" for r in seed)},
        # The remote model's luck is drawn per event, so always-remote on the same events shows whether a
        # router's remote accept rate reflects its routing or only which events it sent.
        "remote_accept_same_events_in_always_remote": {
            name: _rate(sum(always_by_index[r["index"]]["correct"] is True for r in rows if r["route"] == "remote"),
                        sum(r["route"] == "remote" for r in rows))
            for name, rows in (("hybrid-lsp", records), ("seed-tree", seed))},
        "remote_prompt_contexts": {
            "hybrid_mean": mean([r["prompt_contexts"] for r in remote_events]),
            "hybrid_mean_learned": mean([r["prompt_learned_contexts"] for r in remote_events]),
            "always_remote_mean_same_events": mean([always_by_index[r["index"]]["prompt_contexts"] for r in remote_events]),
            "always_remote_mean_all_events": mean([r["prompt_contexts"] for r in always if r["prompt_contexts"] is not None]),
        },
        "hybrid_latency_ms": {
            "plan_p50_first_100": latency("plan_ms", head), "plan_p50_last_100": latency("plan_ms", tail),
            "solve_p50_first_100": latency("solve_ms", head), "solve_p50_last_100": latency("solve_ms", tail),
            "record_outcome_p50_first_100": latency("record_ms", head),
            "record_outcome_p50_last_100": latency("record_ms", tail),
        },
    }


def build_report(config: dict[str, Any], stream_summary: dict, hybrid: dict[str, Any], baselines: dict[str, Any],
                 timing: dict[str, Any], notes: list[str], machine: dict[str, Any]) -> dict[str, Any]:
    always = baselines["always-remote"]
    always_tokens = sum(r["prompt_tokens"] + r["completion_tokens"] for r in always)
    routers = {
        "hybrid-lsp": figures(hybrid["records"], always_tokens),
        "seed-tree": figures(baselines["seed-tree"], always_tokens),
        "always-remote": figures(always, always_tokens),
    }
    learning = hybrid["learning"]
    hybrid_records = hybrid["records"]
    routers["hybrid-lsp"].update(
        entries_promoted=learning["entries_promoted"], patterns_extracted=learning["patterns_extracted"],
        known_from_learned=sum(r["route"] == "known" and r["served_entry"].startswith("learned:") for r in hybrid_records),
        known_from_starter=sum(r["route"] == "known" and bool(r["served_entry"]) and not r["served_entry"].startswith("learned:")
                               for r in hybrid_records),
        routing_offset=learning["routing_offset"],
        routing_offset_range=[learning["routing_offset_min"], learning["routing_offset_max"]],
        routing_offset_changes=learning["routing_offset_changes"],
        routing_offset_trajectory=learning["routing_offset_trajectory"],
    )
    not_applicable = {router: {figure: why for (name, figure), why in NOT_APPLICABLE.items() if name == router}
                      for router in routers}
    not_applicable["seed-tree"].update({f: "the seed tree does not learn" for f in LEARNING_FIGURES})
    not_applicable["always-remote"].update({f: "always remote does not learn" for f in LEARNING_FIGURES})
    targets = []
    hybrid_figures = routers["hybrid-lsp"]
    for figure, op, bound in TARGETS:
        value = hybrid_figures[figure]
        ok = value is not None and (value >= bound if op == ">=" else value <= bound)
        targets.append({"figure": figure, "router": "hybrid-lsp", "value": value, "target": f"{op} {bound}",
                        "result": "PASS" if ok else "FAIL"})
    comparisons = []
    for figure, direction, named in BETTER:
        a, b = hybrid_figures[figure], routers["seed-tree"][figure]
        verdict = _compare(a, b, direction)
        comparisons.append({"figure": figure, "better_is": direction, "hybrid-lsp": a, "seed-tree": b,
                            "verdict": verdict, "named_by_issue": named,
                            "result": "n/a" if verdict == "n/a" else ("PASS" if verdict == "better" else "FAIL")})
    judged = [c for c in comparisons if c["result"] != "n/a" and c["named_by_issue"]]
    targets.append({"figure": "better than the seed tree on every figure", "router": "hybrid-lsp",
                    "value": f"{sum(c['result'] == 'PASS' for c in judged)}/{len(judged)} figures better",
                    "target": "all", "result": "PASS" if judged and all(c["result"] == "PASS" for c in judged) else "FAIL"})
    self_reported = learning["self_reported"]
    by_index = {r["index"]: r for r in always}
    stood_in = [r for r in hybrid_records if r["route"] != "remote" and r["has_edit"]]
    remote_here = [r for r in hybrid_records if r["route"] == "remote"]

    def tokens(r: dict[str, Any]) -> int:
        return r["prompt_tokens"] + r["completion_tokens"]
    accounting = {
        "measured_token_reduction": hybrid_figures["token_reduction"],
        "self_reported_token_reduction": self_reported.get("token_reduction"),
        "measured_saved_tokens": always_tokens - hybrid_figures["remote_tokens"],
        "self_reported_saved_tokens": (self_reported.get("tokens") or {}).get("saved"),
        "self_reported_remote_tokens": (self_reported.get("tokens") or {}).get("remote"),
        "measured_remote_tokens": hybrid_figures["remote_tokens"],
        "self_reported_share_without_remote": self_reported.get("share_without_remote"),
        "self_reported_accept_rate_by_route": self_reported.get("accept_rate_by_route"),
        "always_remote_tokens": always_tokens,
        # Per event: what hybrid-lsp estimated it saved when it answered without the remote API,
        # against what always-remote actually spent on the same events.
        "answers_without_remote": len(stood_in),
        "their_self_reported_saved_tokens": sum(r.get("self_reported_saved", 0) for r in stood_in),
        "their_always_remote_tokens": sum(tokens(by_index[r["index"]]) for r in stood_in),
        "their_self_reported_saved_prompt_tokens": sum(r.get("self_reported_saved_prompt", 0) for r in stood_in),
        "their_always_remote_prompt_tokens": sum(by_index[r["index"]]["prompt_tokens"] for r in stood_in),
        "their_self_reported_saved_completion_tokens": sum(r.get("self_reported_saved_completion", 0) for r in stood_in),
        "their_always_remote_completion_tokens": sum(by_index[r["index"]]["completion_tokens"] for r in stood_in),
        # Remote calls: hybrid-lsp's prompt carries its own (grown) knowledge base's context.
        "hybrid_remote_calls": len(remote_here),
        "hybrid_remote_tokens_on_those_events": sum(tokens(r) for r in remote_here),
        "always_remote_tokens_on_those_events": sum(tokens(by_index[r["index"]]) for r in remote_here),
    }
    return {
        "benchmark": "replay",
        "config": config,
        "machine": machine,
        "timing": timing,
        "stream": stream_summary,
        "figures": list(FIGURES),
        "learning_figures": list(LEARNING_FIGURES),
        "routers": routers,
        "not_applicable": not_applicable,
        "targets": targets,
        "comparisons": comparisons,
        "accounting": accounting,
        "analysis": analyse(stream_summary, hybrid, baselines["seed-tree"], always),
        "notes": notes,
    }


# -- rendering ---------------------------------------------------------------------------------------

_LABELS = {
    "events": "events",
    "share_without_remote": "share answered without the remote API",
    "token_reduction": "remote-token reduction vs always-remote",
    "remote_tokens": "remote tokens (prompt + completion)",
    "local_tokens": "local tokens (free, counted)",
    "remote_cost_usd": f"remote cost, USD ({REMOTE_MODEL} list price)",
    "accept_rate_known": "accept rate, known route",
    "accept_rate_local": "accept rate, local route",
    "accept_rate_remote": "accept rate, remote route",
    "accept_rate": "accept rate, all fixes",
    "wrong_known_fix_rate": "wrong known fixes / known fixes served",
    "known_fixes_served": "known fixes served",
    "explanation_only": "answers without an edit (neutral)",
    "accepted_without_remote": "events fixed correctly without the remote API",
    "remote_tokens_per_accepted_fix": "remote tokens per accepted fix",
    "entries_promoted": "validated model fixes promoted to entries",
    "patterns_extracted": "patterns extracted to skills-patterns",
    "known_from_learned": "known fixes served from promoted entries",
    "routing_offset": "final routing offset (learned)",
}
_PERCENT = {"accepted_without_remote", "share_without_remote", "token_reduction", "accept_rate_known", "accept_rate_local", "accept_rate_remote",
            "accept_rate", "wrong_known_fix_rate"}


def _cell(figure: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if figure in _PERCENT:
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:.2f}" if figure != "remote_cost_usd" else f"${value:.2f}"
    return f"{value:,}"


def table(report: dict[str, Any]) -> str:
    routers = report["routers"]
    target_of = {t["figure"]: t for t in report["targets"]}
    compare_of = {c["figure"]: c for c in report["comparisons"]}
    lines = ["| figure | hybrid-lsp | seed tree | always-remote | target (hybrid-lsp) | vs seed tree |",
             "|---|---:|---:|---:|---|---|"]
    for figure in (*report["figures"], *report["learning_figures"]):
        target = target_of.get(figure)
        comparison = compare_of.get(figure)
        lines.append("| " + " | ".join([
            _LABELS.get(figure, figure),
            *(_cell(figure, routers[name].get(figure)) for name in ("hybrid-lsp", "seed-tree", "always-remote")),
            f"{target['target']}: **{target['result']}**" if target else "",
            (f"{comparison['verdict']} ({comparison['result']})" if comparison["named_by_issue"] else f"{comparison['verdict']} (info)")
            if comparison and comparison["result"] != "n/a" else "",
        ]) + " |")
    return "\n".join(lines)


def plain_table(report: dict[str, Any]) -> str:
    """The same table for a terminal."""
    rows = [("figure", "hybrid-lsp", "seed tree", "always-remote", "target", "vs seed")]
    target_of = {t["figure"]: t for t in report["targets"]}
    compare_of = {c["figure"]: c for c in report["comparisons"]}
    for figure in (*report["figures"], *report["learning_figures"]):
        target, comparison = target_of.get(figure), compare_of.get(figure)
        rows.append((_LABELS.get(figure, figure),
                     *(_cell(figure, report["routers"][name].get(figure)) for name in ("hybrid-lsp", "seed-tree", "always-remote")),
                     f"{target['target']} {target['result']}" if target else "",
                     (comparison["verdict"] + ("" if comparison["named_by_issue"] else " (info)"))
                     if comparison and comparison["result"] != "n/a" else ""))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    out = []
    for index, row in enumerate(rows):
        out.append("  ".join(str(cell).ljust(widths[i]) if i == 0 else str(cell).rjust(widths[i]) if i < 4
                             else str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def verdicts(report: dict[str, Any]) -> str:
    return "\n".join(f"{t['result']}  {t['figure']}: {_cell(t['figure'], t['value']) if not isinstance(t['value'], str) else t['value']}"
                     f" (target {t['target']})" for t in report["targets"])


def markdown(report: dict[str, Any]) -> str:
    config, stream, timing = report["config"], report["stream"], report["timing"]
    analysis, accounting = report["analysis"], report["accounting"]
    hybrid = report["routers"]["hybrid-lsp"]
    parts = [
        "# Replay benchmark: routing that learns from outcomes",
        "",
        (f"`{config['command']}` — {stream['events']} events, seed {config['seed']}, "
         f"{timing['total_seconds']:.0f} s on {report['machine'].get('cpus')} CPU(s); data directories on {config['data_dir']}; "
         f"hybrid-lsp settings: {json.dumps(config['hybrid_settings']) if config.get('hybrid_settings') else 'defaults'}."),
        "",
        table(report),
        "",
        "## Targets",
        "",
        *(f"- **{t['result']}** {t['figure']}: "
          + (t["value"] if isinstance(t["value"], str) else _cell(t["figure"], t["value"])) + f" (target {t['target']})"
          for t in report["targets"]),
        "",
        "Comparison with the seed tree, figure by figure:",
        "",
        *(f"- {c['figure']} ({c['better_is']} is better): hybrid-lsp {_cell(c['figure'], c['hybrid-lsp'])}, "
          f"seed tree {_cell(c['figure'], c['seed-tree'])}: {c['verdict']}"
          + ("" if c["named_by_issue"] else " (informational, not part of the verdict)") for c in report["comparisons"]),
        "",
        "Accept rates with 95% intervals (Wilson): " + "; ".join(
            f"{name} " + ", ".join(f"{k.replace('accept_rate_', '').replace('accept_rate', 'all')} "
                                  f"{v[0] * 100:.1f}-{v[1] * 100:.1f}%" for k, v in report["routers"][name]["accept_rate_95ci"].items() if v)
            for name in ("hybrid-lsp", "seed-tree", "always-remote")) + ". The remote model's skill is the same "
        "whatever the router (95%), so remote accept rates differ only by which events each router sends there: "
        "always-remote, on the very events each router sent to the remote API, was accepted "
        + ", ".join(f"{_cell('accept_rate', v)} ({k})" for k, v in analysis["remote_accept_same_events_in_always_remote"].items())
        + ".",
        "",
        "## Stream",
        "",
        f"{stream['events']} events: {stream['distinct_errors']} distinct errors ({stream['distinct_known_errors']} known to the "
        f"starter, {stream['distinct_unknown_errors']} unknown), {stream['unknown_share'] * 100:.1f}% of events unknown; "
        f"{stream['distinct_sites']} distinct code sites, {stream['site_repeat_share'] * 100:.1f}% of events repeat a site "
        f"already seen; {stream['events_with_stored_edit_entry']} events are errors whose starter entry has a stored edit. "
        "Most frequent: " + ", ".join(f"{t} ({n})" for t, n in stream["top_errors"]) + ".",
        "",
        "Languages: " + ", ".join(f"{k} {v}" for k, v in stream["languages"].items()) + ".",
        "",
        "## Routes and learning (hybrid-lsp)",
        "",
        (f"Routes: known {hybrid['routes']['known']}, local {hybrid['routes']['local']}, remote {hybrid['routes']['remote']}. "
         f"Known fixes from the starter's stored edits: {hybrid['known_from_starter']}, from promoted fixes: "
         f"{hybrid['known_from_learned']}. Routing offset: final {hybrid['routing_offset']:+.2f}, range "
         f"{hybrid['routing_offset_range'][0]:+.2f}..{hybrid['routing_offset_range'][1]:+.2f}, "
         f"{hybrid['routing_offset_changes']} changes"
         + (": " + "; ".join(f"after event {c['event']} → {c['offset']:+.2f} (local accept "
                              f"{_cell('accept_rate', c['local_accept'])}, remote {_cell('accept_rate', c['remote_accept'])})"
                              for c in hybrid["routing_offset_trajectory"][:8]) if hybrid["routing_offset_trajectory"] else "")
         + "."),
        "",
        "Remote calls by reason: " + "; ".join(f"{k}: {v}" for k, v in analysis["hybrid_remote_by_reason"].items()) + ".",
        "",
        "Local answers: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in analysis["hybrid_local_by_truth_kind"].items())
        + "; seed tree: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in analysis["seed_local_by_truth_kind"].items()) + ".",
        "",
        f"Events at a site where a fix had already been learned: {analysis['hybrid_events_at_sites_with_a_learned_fix']}; "
        f"not served as a known fix: {analysis['hybrid_learned_fix_missed_events']}"
        + (" (" + "; ".join(f"{k}: {v}" for k, v in analysis["hybrid_learned_fix_missed"].items()) + "; then answered by "
           + ", ".join(f"{k} {v}" for k, v in analysis["hybrid_learned_fix_missed_then_routed"].items()) + ")"
           if analysis["hybrid_learned_fix_missed"] else "") + ".",
        "",
        "Wrong known fixes: " + ("; ".join(f"{k} ×{v}" for k, v in analysis["hybrid_wrong_known_fixes"].items()) or "none") + ".",
        "",
        "## Token accounting",
        "",
        (f"Measured: always-remote used {accounting['always_remote_tokens']:,} remote tokens, hybrid-lsp "
         f"{accounting['measured_remote_tokens']:,} ({_cell('token_reduction', accounting['measured_token_reduction'])} reduction). "
         f"hybrid-lsp's own statistics (`hybrid-lsp stats`) report {accounting['self_reported_remote_tokens']:,} remote tokens "
         f"and {accounting['self_reported_saved_tokens']:,} saved (estimated), i.e. a token reduction of "
         f"{_cell('token_reduction', accounting['self_reported_token_reduction'])}; measured savings: "
         f"{accounting['measured_saved_tokens']:,}. Per event: for its {accounting['answers_without_remote']:,} fixes made "
         f"without the remote API, hybrid-lsp estimated {accounting['their_self_reported_saved_tokens']:,} remote tokens saved; "
         f"always-remote spent {accounting['their_always_remote_tokens']:,} on the same events (prompt "
         f"{accounting['their_self_reported_saved_prompt_tokens']:,} estimated vs {accounting['their_always_remote_prompt_tokens']:,} "
         f"spent, completion {accounting['their_self_reported_saved_completion_tokens']:,} vs "
         f"{accounting['their_always_remote_completion_tokens']:,}). Its "
         f"{accounting['hybrid_remote_calls']:,} remote answers used {accounting['hybrid_remote_tokens_on_those_events']:,} "
         f"tokens, where always-remote used {accounting['always_remote_tokens_on_those_events']:,} on the same events "
         "(the prompts carry context from hybrid-lsp's grown knowledge base: "
         f"{analysis['remote_prompt_contexts']['hybrid_mean']} stored solutions per remote prompt, "
         f"{analysis['remote_prompt_contexts']['hybrid_mean_learned']} of them promoted fixes or patterns, against "
         f"{analysis['remote_prompt_contexts']['always_remote_mean_same_events']} for always-remote on the same events)."),
        "",
        "## Timing",
        "",
        f"Total {timing['total_seconds']:.1f} s: hybrid-lsp pass {timing['hybrid_seconds']:.1f} s, seed tree + always-remote "
        f"pass {timing['baselines_seconds']:.1f} s ({timing['mode']}). hybrid-lsp per event (median, first 100 → last 100 "
        "events): " + ", ".join(f"{k.replace('_p50_', ' ').replace('_', ' ')} {v} ms"
                                  for k, v in analysis["hybrid_latency_ms"].items()) + ".",
        "",
        "## Method",
        "",
        *(f"- {note}" for note in report["notes"]),
        "",
    ]
    return "\n".join(parts)


def write(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "replay.json", out / "replay.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path


# -- several seeds -----------------------------------------------------------------------------------

# The figures a seed's row shows, hybrid-lsp beside the seed tree where the tree has one.
SEED_FIGURES = ("share_without_remote", "token_reduction", "accept_rate_local", "accept_rate_remote", "accept_rate",
                "wrong_known_fix_rate")


def seeds_summary(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Per seed: the figures and verdicts; over the seeds: how many pass each target and in how many
    hybrid-lsp is better than the seed tree on each compared figure."""
    rows = []
    for report in reports:
        hybrid, tree = report["routers"]["hybrid-lsp"], report["routers"]["seed-tree"]
        rows.append({"seed": report["config"]["seed"], "events": report["config"]["events"],
                     "hybrid-lsp": {f: hybrid.get(f) for f in SEED_FIGURES},
                     "seed-tree": {f: tree.get(f) for f in SEED_FIGURES},
                     "targets": {t["figure"]: t["result"] for t in report["targets"]},
                     "comparisons": {c["figure"]: c["verdict"] for c in report["comparisons"]
                                     if c["named_by_issue"] and c["result"] != "n/a"}})
    targets = {figure: sum(row["targets"][figure] == "PASS" for row in rows) for figure in rows[0]["targets"]}
    better = {figure: sum(row["comparisons"].get(figure) == "better" for row in rows) for figure in rows[0]["comparisons"]}
    return {"seeds": [row["seed"] for row in rows], "rows": rows, "targets_passed": targets, "better_than_seed_tree": better}


def seeds_markdown(summary: dict[str, Any]) -> str:
    rows, count = summary["rows"], len(summary["rows"])
    head = ["seed", *(_LABELS.get(f, f) + " (hybrid-lsp / tree)" for f in SEED_FIGURES), "targets passed"]
    lines = [
        "# Replay benchmark over several seeds",
        "",
        f"{count} seeds ({', '.join(str(s) for s in summary['seeds'])}), {rows[0]['events']:,} events each: each seed draws "
        "another stream and another run of model luck. Each seed's own report is in `replay-seeds/seed-S/replay.md`.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for row in rows:
        cells = [str(row["seed"])]
        for figure in SEED_FIGURES:
            mine, theirs = row["hybrid-lsp"][figure], row["seed-tree"][figure]
            cells.append(_cell(figure, mine) + ("" if theirs is None else f" / {_cell(figure, theirs)}"))
        cells.append(f"{sum(r == 'PASS' for r in row['targets'].values())}/{len(row['targets'])}")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Seeds passing each target:", ""]
    lines += [f"- {figure}: {passed}/{count}" for figure, passed in summary["targets_passed"].items()]
    lines += ["", "Seeds where hybrid-lsp is better than the seed tree, per figure:", ""]
    lines += [f"- {_LABELS.get(figure, figure)}: {better}/{count}" for figure, better in summary["better_than_seed_tree"].items()]
    return "\n".join(lines) + "\n"


def write_seeds(reports: list[dict[str, Any]], out: Path) -> tuple[Path, Path]:
    summary = seeds_summary(reports)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "replay-seeds.json", out / "replay-seeds.md"
    json_path.write_text(json.dumps(summary, indent=2) + "\n")
    md_path.write_text(seeds_markdown(summary))
    return json_path, md_path
