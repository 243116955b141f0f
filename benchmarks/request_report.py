"""The request-path benchmark's numbers: per-variant medians, the paired ratios with issue #16's targets
beside them, and the table printed at the end."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from benchmarks.paired import Round, ratio, summary

UPSTREAM, TL_ALL, TL_JSON, SCOUT = "upstream, no exporter", "tl-otel, all + alerts", "tl-otel, json", "scout_apm native"
OTLP = "upstream, OTLP export"  # the SDK shipping traces and logs over OTLP: what most teams run today
TARGETS = {TL_ALL: 1.0, TL_JSON: 1.0}  # CPU per request, ÷ upstream
TARGET_VS_SCOUT = 1.0
TARGET_VS_OTLP = 1.0
TARGET_EXTRA_SPAN = 1.5  # tl-otel's cost of one more span ÷ upstream's
CHILD_SPANS = (5, 20)


def extra_span_us(base: str, with_spans: str, spans: int) -> Callable[[Round], float | None]:
    def of(values: Round) -> float | None:
        if base not in values or with_spans not in values:
            return None
        return (values[with_spans] - values[base]) / spans
    return of


def extra_span_ratio(spans: int) -> Callable[[Round], float | None]:
    ours = extra_span_us(TL_ALL, f"tl-otel all +{spans} spans", spans)
    theirs = extra_span_us(UPSTREAM, f"upstream +{spans} spans", spans)

    def of(values: Round) -> float | None:
        numerator, denominator = ours(values), theirs(values)
        if numerator is None or denominator is None or denominator == 0:
            return None
        return numerator / denominator
    return of


def summarise(names: list[str], runs: list[list[dict[str, dict[str, Any]]]]) -> dict[str, Any]:
    every = [rnd for rounds in runs for rnd in rounds]
    variants = {}
    for name in names:
        rows = [rnd[name] for rnd in every]
        variants[name] = {key: statistics.median(row[key] for row in rows)
                          for key in ("rps", "cpu_us", "full_gcs_per_1k", "p50_ms", "p99_ms", "client_cpu_us")}
        variants[name]["threads_us"] = {group: statistics.median(row["threads_us"][group] for row in rows)
                                        for group in rows[0]["threads_us"]}
        variants[name]["delivered_min"] = {key: min(row["delivered"][key] for row in rows)
                                           for key in rows[0]["delivered"]}
    cpu_runs = [[{name: values["cpu_us"] for name, values in rnd.items()} for rnd in rounds] for rounds in runs]
    ratios: dict[str, Any] = {}
    for name in names:
        if name != UPSTREAM and (found := summary(cpu_runs, ratio(name, UPSTREAM))):
            ratios[f"{name} ÷ {UPSTREAM}"] = {**found, "target": TARGETS.get(name)}
    if found := summary(cpu_runs, ratio(TL_ALL, SCOUT)):
        ratios[f"{TL_ALL} ÷ {SCOUT}"] = {**found, "target": TARGET_VS_SCOUT}
    if found := summary(cpu_runs, ratio(TL_ALL, OTLP)):
        ratios[f"{TL_ALL} ÷ {OTLP}"] = {**found, "target": TARGET_VS_OTLP}
    extra: dict[str, Any] = {}
    for spans in CHILD_SPANS:
        for label, base, with_spans in ((UPSTREAM, UPSTREAM, f"upstream +{spans} spans"),
                                        (TL_ALL, TL_ALL, f"tl-otel all +{spans} spans")):
            if found := summary(cpu_runs, extra_span_us(base, with_spans, spans)):
                extra[f"{label}, µs per extra span at {spans}"] = found
        if found := summary(cpu_runs, extra_span_ratio(spans)):
            ratios[f"extra span at {spans}: tl-otel ÷ upstream"] = {**found, "target": TARGET_EXTRA_SPAN}
    return {"variants": variants, "ratios": ratios, "extra_span_us": extra, "rounds": runs}


def _runs(found: dict[str, Any], unit: str = "x") -> str:
    return " ".join(f"{value:.2f}{unit}" for value in found["runs"])


def show(result: dict[str, Any], exports_to_peers: dict[str, tuple[str, ...]]) -> None:
    settings, variants = result["settings"], result["variants"]
    print(f"\nFastAPI request path (issue #16): {settings['runs']} runs x {settings['rounds']} rotated rounds,"
          f" {settings['connections']} keep-alive connections, {settings['duration_s']:g} s measured after"
          f" {settings['warmup_s']:g} s warm-up; medians over all rounds; µs = server CPU per request, its export"
          " helper process's included (app, tl-otel, other: by thread; helper: the export helper process; client: the"
          " load client's own CPU per request)")
    print(f"{'variant':24s} {'req/s':>6s} {'CPU µs':>7s} {'app':>6s} {'tl-otel':>7s} {'other':>6s} {'helper':>6s}"
          f" {'GC2/1k':>6s} {'p50 ms':>6s} {'p99 ms':>6s} {'client':>6s}  {'÷ upstream: median [runs]':28s} target")
    for name, values in variants.items():
        found = result["ratios"].get(f"{name} ÷ {UPSTREAM}")
        paired = f"{found['median']:.2f}x [{_runs(found)}]" if found else ("1.00x" if name == UPSTREAM else "")
        target = f"≤ {TARGETS[name]:.1f}x" if name in TARGETS else ""
        threads = values["threads_us"]
        print(f"{name:24s} {values['rps']:6.0f} {values['cpu_us']:7.0f} {threads['app']:6.0f}"
              f" {threads['tl-otel']:7.0f} {threads['other']:6.0f} {threads.get('helper', 0.0):6.0f}"
              f" {values['full_gcs_per_1k']:6.2f}"
              f" {values['p50_ms']:6.2f} {values['p99_ms']:6.2f} {values['client_cpu_us']:6.0f}"
              f"  {paired:28s} {target}")
    print("\nPaired ratios (median of the run medians [each run's median]) and the issue's targets:")
    for label, found in result["ratios"].items():
        if found["target"] is not None:
            print(f"  {label:52s} {found['median']:6.2f}x [{_runs(found)}]   target ≤ {found['target']:.1f}x")
    for label, found in result["extra_span_us"].items():
        print(f"  {label:52s} {found['median']:6.1f} µs [{_runs(found, ' µs')}]")
    show_delivered(variants, exports_to_peers, DELIVERED_COLUMNS)


DELIVERED_COLUMNS = (("PostHog events", "posthog_events", 7), ("Scout batches", "scout_batches", 6),
                     ("webhook messages", "webhooks", 3), ("OTLP spans", "otlp_spans", 7),
                     ("OTLP log records", "otlp_log_records", 7))


def show_delivered(variants: dict[str, Any], exports_to_peers: dict[str, tuple[str, ...]],
                   columns: tuple[tuple[str, str, int], ...]) -> None:
    """What reached the stand-ins per variant, with a warning where a destination it exports to got nothing (a
    benchmark of a pipeline that delivers nothing measures nothing)."""
    print("\nDelivered to the peers (fewest in any round, whole server life):")
    for name, values in variants.items():
        if name in exports_to_peers:
            got = values["delivered_min"]
            missing = [key for key in exports_to_peers[name] if not got[key]]
            warning = f"   <- NOTHING ARRIVED: {', '.join(missing)}" if missing else ""
            cells = ", ".join(f"{label} {got[key]:{width}d}" for label, key, width in columns)
            print(f"  {name:24s} {cells}{warning}")
