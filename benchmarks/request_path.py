"""``./run bench requests``: the FastAPI request path of issue #16 under load, as server CPU per request.

The app (benchmarks/app.py: one sync route, one SQLAlchemy query on SQLite, one log line) is served by uvicorn
in one process per variant, in the bench venv (``.venv-bench``, with the logging instrumentation a bootstrapped
service has); 8 keep-alive connections from a separate load-client process drive it for a fixed window after
a warm-up; the peers (PostHog capture, fake Scout core agent, Slack webhook) run in a third process. Every
round runs every variant once, in an order rotated each round, on a fresh server; ratios are paired within a
round, summarised as the median over a run's rounds, then as the median over runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks import bench_venv, request_report
from benchmarks.paired import rotated
from benchmarks.peers import Peers
from benchmarks.request_server import Variant, measure

VARIANTS = [
    Variant("plain", "plain"),
    Variant("upstream, no exporter", "upstream"),
    Variant("upstream, OTLP export", "upstream", otlp=True),
    Variant("tl-otel, json", "tl-otel"),
    Variant("tl-otel, all + alerts", "tl-otel", destinations=True),
    Variant("tl-otel, all, helper", "tl-otel", destinations=True, export_helper=True),
    Variant("scout_apm native", "scout"),
    Variant("upstream +5 spans", "upstream", child_spans=5),
    Variant("upstream +20 spans", "upstream", child_spans=20),
    Variant("tl-otel all +5 spans", "tl-otel", destinations=True, child_spans=5),
    Variant("tl-otel all +20 spans", "tl-otel", destinations=True, child_spans=20),
]

# What must arrive at the peers, per variant: a variant that silently exports nothing would price nothing.
EXPORTS_TO_PEERS = {
    **{variant.name: ("posthog_events", "scout_batches") for variant in VARIANTS if variant.destinations},
    **{variant.name: ("scout_batches",) for variant in VARIANTS if variant.server == "scout"},
    **{variant.name: ("otlp_spans", "otlp_log_records") for variant in VARIANTS if variant.otlp},
}

# tl-otel evaluates its alert rules (and writes the default alert store, a SQLite file) every 10 s, the first time
# 10 s after start: a measured window that ends earlier holds none of that work, which every request pays for.
ALERT_EVAL_INTERVAL_S = 10.0


def delivered(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    events = sum(after["posthog_events"].values()) - sum(before["posthog_events"].values())
    return {"posthog_events": events, "scout_batches": after["scout_batches"] - before["scout_batches"],
            "webhooks": after["webhooks"] - before["webhooks"],
            "otlp_spans": after["otlp_spans"] - before["otlp_spans"],
            "otlp_log_records": after["otlp_log_records"] - before["otlp_log_records"]}


def one_round(variants: list[Variant], round_index: int, bin_dir: Path, peers: Peers, warmup: float,
              duration: float) -> dict[str, dict[str, Any]]:
    results = {}
    for variant in rotated(variants, round_index):
        counts = peers.counts()
        result = measure(variant, bin_dir, peers.addresses, warmup, duration)
        result["delivered"] = delivered(counts, peers.counts())  # whole server life, warm-up included
        results[variant.name] = result
        print(f"  round {round_index + 1}: {variant.name:24s} {result['cpu_us']:7.0f} µs/req"
              f" {result['rps']:6.0f} req/s", file=sys.stderr, flush=True)
    return results


def selected(filters: str | None, variants: list[Variant] = VARIANTS) -> list[Variant]:
    if not filters:
        return variants
    wanted = [text.strip() for text in filters.split(",") if text.strip()]
    return [variant for variant in variants if any(text in variant.name for text in wanted)]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="./run bench requests", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per run (every variant once per round)")
    parser.add_argument("--runs", type=int, default=3, help="runs; each ratio is the median of the runs' medians")
    parser.add_argument("--duration", type=float, default=5.0, help="measured seconds per server")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of load before the measured window")
    parser.add_argument("--variants", help="comma-separated substrings of variant names to run")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> None:
    options = parse(argv or [])
    variants = selected(options.variants)
    if not variants:
        raise SystemExit(f"no variant matches {options.variants!r}")
    bin_dir = bench_venv.ensure()
    peers = Peers()
    runs: list[list[dict[str, dict[str, Any]]]] = []
    try:
        for run_index in range(options.runs):
            runs.append([one_round(variants, run_index * options.rounds + round_index, bin_dir, peers,
                                   options.warmup, options.duration) for round_index in range(options.rounds)])
    finally:
        peers.stop()
    result = request_report.summarise([variant.name for variant in variants], runs)
    result["settings"] = {"rounds": options.rounds, "runs": options.runs, "duration_s": options.duration,
                          "warmup_s": options.warmup, "connections": 8}
    request_report.show(result, EXPORTS_TO_PEERS)
    if options.warmup + options.duration < ALERT_EVAL_INTERVAL_S:
        print(f"note: the measured window ends before tl-otel's first alert evaluation ({ALERT_EVAL_INTERVAL_S:g} s"
              " after start): the alert store's work is not in it; --duration 10 or more includes it")
    if options.json:
        options.json.write_text(json.dumps(result, indent=2))
        print(f"results written to {options.json}")


if __name__ == "__main__":
    run(sys.argv[1:])
