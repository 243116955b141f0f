"""The latency benchmark's numbers: per variant and rate, the median over rounds of p50/p99/p99.9, of the full
collections in the window and of the sleep probe's longest lateness (with every pause listed), the ratios paired
within a round against each peer with issue #26's targets beside them, and the server's heap at the end."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from benchmarks.paired import Round, ratio, summary
from benchmarks.request_report import DELIVERED_COLUMNS, show_delivered

PLAIN, UPSTREAM, OTLP, SCOUT = "plain", "upstream, no exporter", "upstream, OTLP export", "scout_apm native"
TL_ALL = "tl-otel, all + alerts"
PEERS = (PLAIN, UPSTREAM, OTLP, SCOUT)
BEST_OF = (UPSTREAM, SCOUT)  # the targets compare with the better of these two, per round
BEST = "better of upstream / scout_apm"
TARGETS = {"p99": 1.0, "p99.9": 1.25}  # tl-otel, all ÷ the better of them
PERCENTILES = ("p50", "p99", "p99.9")
MEDIANS = ("p50_ms", "p99_ms", "p99.9_ms", "max_ms", "longest_queue_wait_ms", "longest_lateness_ms",
           "client_cpu_us")


def ratio_to_best(numerator: str, candidates: tuple[str, ...]) -> Callable[[Round], float | None]:
    """``numerator`` ÷ the lowest of ``candidates`` in the same round (all of them must be in it)."""
    def of(values: Round) -> float | None:
        if numerator not in values or any(name not in values for name in candidates):
            return None
        best = min(values[name] for name in candidates)
        return values[numerator] / best if best else None
    return of


def full_collections(window: dict[str, Any]) -> dict[str, float]:
    pauses = window["full_pauses_ms"]
    return {"full_collections": len(pauses), "longest_full_pause_ms": max(pauses, default=0.0)}


def summarise(names: list[str], rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    rates = list(rounds[0][names[0]]["rates"])
    variants: dict[str, Any] = {}
    for name in names:
        per_rate = {}
        for rate in rates:
            windows = [rnd[name]["rates"][rate] for rnd in rounds]
            found = {key: statistics.median(window[key] for window in windows) for key in MEDIANS}
            for key in ("full_collections", "longest_full_pause_ms"):
                found[key] = statistics.median(full_collections(window)[key] for window in windows)
            found["full_pauses_ms_by_round"] = [window["full_pauses_ms"] for window in windows]
            found["answered_of_scheduled"] = [(window["answered"], window["scheduled"]) for window in windows]
            per_rate[rate] = found
        heaps = [rnd[name]["heap"] for rnd in rounds]
        variants[name] = {"rates": per_rate,
                          "heap": {key: statistics.median(heap[key] for heap in heaps) for key in heaps[0]},
                          "delivered_min": {key: min(rnd[name]["delivered"][key] for rnd in rounds)
                                            for key in rounds[0][name]["delivered"]}}
    ratios: dict[str, Any] = {}
    for rate in rates:
        for key in PERCENTILES:
            values = [[{name: rnd[name]["rates"][rate][f"{key}_ms"] for name in names} for rnd in rounds]]
            for name in names:
                if name in PEERS:
                    continue
                for peer in PEERS:
                    if found := summary(values, ratio(name, peer)):
                        ratios[f"{rate}|{key}|{name}|{peer}"] = found
                if found := summary(values, ratio_to_best(name, BEST_OF)):
                    ratios[f"{rate}|{key}|{name}|{BEST}"] = found
    return {"variants": variants, "ratios": ratios, "rounds": rounds}


def _pauses(by_round: list[list[float]]) -> str:
    return " ".join("[" + " ".join(f"{pause:.0f}" for pause in pauses) + "]" for pauses in by_round)


def show(result: dict[str, Any], exports_to_peers: dict[str, tuple[str, ...]]) -> None:
    settings, variants, ratios = result["settings"], result["variants"], result["ratios"]
    print(f"\nTail latency (issue #26): async route, {settings['rounds']} rotated rounds, open loop over"
          f" {settings['connections']} keep-alive connections, {settings['duration_s']:g} s per rate after"
          f" {settings['warmup_s']:g} s warm-up, server {'pinned to one core' if settings['pinned'] else 'NOT pinned'};"
          " latency from the scheduled time; medians over rounds. GC2 = full collections in the window, pauses in"
          " ms per round; late = longest oversleep of a thread sleeping 1 ms; wait = longest queue wait for a free"
          " connection (client side)")
    for rate in (f"{rate:g}" for rate in settings["rates"]):
        print(f"\n{rate} requests/s")
        print(f"{'variant':24s} {'p50 ms':>7s} {'p99 ms':>7s} {'p99.9':>7s} {'max':>7s} {'answered':>13s} {'GC2':>4s}"
              f" {'longest':>7s} {'late ms':>7s} {'wait':>6s} {'client':>6s}  full-collection pauses (ms) per round")
        for name, values in variants.items():
            found = values["rates"][rate]
            answered = min(found["answered_of_scheduled"], key=lambda pair: pair[0] - pair[1])
            print(f"{name:24s} {found['p50_ms']:7.2f} {found['p99_ms']:7.2f} {found['p99.9_ms']:7.2f}"
                  f" {found['max_ms']:7.1f} {answered[0]:6d}/{answered[1]:<6d} {found['full_collections']:4g}"
                  f" {found['longest_full_pause_ms']:7.1f} {found['longest_lateness_ms']:7.1f}"
                  f" {found['longest_queue_wait_ms']:6.1f} {found['client_cpu_us']:6.0f}"
                  f"  {_pauses(found['full_pauses_ms_by_round'])}")
        ours = [name for name in variants if name not in PEERS]
        peers = [peer for peer in (*PEERS, BEST) if any(f"{rate}|p99|{name}|{peer}" in ratios for name in ours)]
        if not peers:
            continue
        print(f"\n  paired ratios at {rate}/s, p99 / p99.9 (median over rounds); targets for {TL_ALL} ÷ {BEST}:"
              f" p99 ≤ {TARGETS['p99']:.2f}x, p99.9 ≤ {TARGETS['p99.9']:.2f}x")
        print(f"  {'variant':24s}" + "".join(f" {'÷ ' + peer:>34s}" for peer in peers))
        for name in ours:
            cells = []
            for peer in peers:
                pair = [ratios.get(f"{rate}|{key}|{name}|{peer}") for key in ("p99", "p99.9")]
                cells.append(f"{pair[0]['median']:.2f}x / {pair[1]['median']:.2f}x" if all(pair) else "")
            print(f"  {name:24s}" + "".join(f" {cell:>34s}" for cell in cells))
    print("\nServer at the end (median over rounds): objects the collector tracks, modules imported")
    for name, values in variants.items():
        heap = values["heap"]
        print(f"  {name:24s} {heap['tracked_objects']:9,.0f} objects {heap['modules']:6,.0f} modules")
    show_delivered(variants, exports_to_peers, tuple(column for column in DELIVERED_COLUMNS if column[1] != "webhooks"))
