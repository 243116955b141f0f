"""``./run bench latency``: tail latency under a steady load (issue #26), and what explains a tail.

The async route of benchmarks/app.py (a path parameter, one ``logger.info(..., extra=...)``) under uvicorn
pinned to one core; the open-loop client (benchmarks/open_loop_client.py) on the other core sends at fixed
rates over 48 keep-alive connections and times each request from when it was scheduled; the peers (PostHog
capture, fake Scout agent, Slack webhook, OTLP sink) run in their own process on the client's core. Every round
starts each variant's server afresh (order rotated each round) and measures each rate for a fixed window after
a warm-up; inside the server benchmarks/pause_probe.py records full collections, their pauses and the longest
lateness of a thread sleeping 1 ms, per window. Percentiles are medians over rounds; the ratios against each
peer are paired within a round, then the median over rounds."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks import bench_venv, latency_report
from benchmarks.paired import rotated
from benchmarks.peers import Peers
from benchmarks.request_path import delivered, selected
from benchmarks.request_server import Variant, command, environment, get_json
from examples.processes import REPO, free_port, stop_process, wait_http

PER_DESTINATION = {"OTEL_LOGS_EXPORTER": "none", "TL_OTEL_ALERTS": "false"}
VARIANTS = [
    Variant(latency_report.PLAIN, "plain"),
    Variant(latency_report.UPSTREAM, "upstream"),
    Variant(latency_report.OTLP, "upstream", otlp=True),
    Variant(latency_report.SCOUT, "scout"),
    Variant(latency_report.TL_ALL, "tl-otel", destinations=True),
    Variant("tl-otel, json only", "tl-otel"),
    Variant("tl-otel, posthog only", "tl-otel", destinations=True,
            env={**PER_DESTINATION, "OTEL_TRACES_EXPORTER": "posthog"}),
    Variant("tl-otel, scout only", "tl-otel", destinations=True,
            env={**PER_DESTINATION, "OTEL_TRACES_EXPORTER": "scout"}),
]

# What must arrive at the peers, per variant: a variant that silently exports nothing would show a cheap tail.
EXPORTS_TO_PEERS = {
    latency_report.OTLP: ("otlp_spans", "otlp_log_records"),
    latency_report.SCOUT: ("scout_batches",),
    latency_report.TL_ALL: ("posthog_events", "scout_batches"),
    "tl-otel, posthog only": ("posthog_events",),
    "tl-otel, scout only": ("scout_batches",),
}


def core_pinning() -> tuple[list[str], list[str]]:
    """Command prefixes putting the server on one core and the client (and peers) on another; none when this
    machine has fewer than two cores for us or no ``taskset``."""
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2 or not shutil.which("taskset"):
        return [], []
    return ["taskset", "-c", str(cores[0])], ["taskset", "-c", str(cores[1])]


def take_pauses(port: int) -> dict[str, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/__bench/pauses", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def one_rate(port: int, rate: float, options: argparse.Namespace, client_pin: list[str], name: str) -> dict[str, Any]:
    client = subprocess.Popen([*client_pin, sys.executable, "-m", "benchmarks.open_loop_client", str(port),
                               "--rate", str(rate), "--warmup", str(options.warmup), "--duration",
                               str(options.duration), "--connections", str(options.connections)],
                              cwd=REPO, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        if client.stdout.readline().strip() != "start":
            raise RuntimeError(f"{name}: the load client failed at {rate:g}/s (exit code {client.wait()})")
        take_pauses(port)  # the warm-up's collections and lateness are not the window's
        line = client.stdout.readline()
        pauses = take_pauses(port)
        if not line:
            raise RuntimeError(f"{name}: the load client failed at {rate:g}/s (exit code {client.wait()})")
        client.wait(30)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    return {**json.loads(line), **pauses}


def measure(variant: Variant, bin_dir: Path, peers: Peers, options: argparse.Namespace,
            pinning: tuple[list[str], list[str]]) -> dict[str, Any]:
    """One fresh server of ``variant``, every rate in turn; its heap at the end."""
    server_pin, client_pin = pinning
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="tl-otel-bench-latency-") as tmpdir:
        env = {**environment(variant, peers.addresses, tmpdir), "BENCH_PAUSE_PROBE": "1"}
        server = subprocess.Popen([*server_pin, *command(variant, bin_dir, port)], env=env, cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            try:
                wait_http(f"http://127.0.0.1:{port}/hello/0", timeout=60)
            except TimeoutError:
                raise RuntimeError(f"{variant.name}: server did not answer (exit code {server.poll()})") from None
            rates = {f"{rate:g}": one_rate(port, rate, options, client_pin, variant.name) for rate in options.rates}
            heap = get_json(port, "/__bench/heap")
        finally:
            stop_process(server)
    return {"rates": rates, "heap": heap}


def one_round(variants: list[Variant], round_index: int, bin_dir: Path, peers: Peers, options: argparse.Namespace,
              pinning: tuple[list[str], list[str]]) -> dict[str, dict[str, Any]]:
    results = {}
    for variant in rotated(variants, round_index):
        counts = peers.counts()
        result = measure(variant, bin_dir, peers, options, pinning)
        result["delivered"] = delivered(counts, peers.counts())  # whole server life, warm-up included
        results[variant.name] = result
        cells = "  ".join(f"{rate}/s p99 {found['p99_ms']:.1f} p99.9 {found['p99.9_ms']:.1f} ms"
                          for rate, found in result["rates"].items())
        print(f"  round {round_index + 1}: {variant.name:24s} {cells}", file=sys.stderr, flush=True)
    return results


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="./run bench latency", description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="500,1000", help="comma-separated requests per second (default 500,1000)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (every variant once per round, rotated)")
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per rate")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load at each rate before its window")
    parser.add_argument("--connections", type=int, default=48, help="keep-alive connections of the client")
    parser.add_argument("--variants", help="comma-separated substrings of variant names to run")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    options = parser.parse_args(argv)
    try:
        options.rates = [float(rate) for rate in options.rates.split(",") if rate.strip()]
    except ValueError:
        parser.error(f"--rates takes comma-separated numbers, got {options.rates!r}")
    if not options.rates or min(options.rates) <= 0:
        parser.error(f"--rates takes numbers above 0, got {options.rates!r}")
    return options


def run(argv: list[str] | None = None) -> None:
    options = parse(argv or [])
    variants = selected(options.variants, VARIANTS)
    if not variants:
        raise SystemExit(f"no variant matches {options.variants!r}; variants: {', '.join(v.name for v in VARIANTS)}")
    bin_dir = bench_venv.ensure()
    pinning = core_pinning()
    if not pinning[0]:
        print("note: fewer than two cores or no taskset: server and client are not pinned", file=sys.stderr)
    peers = Peers(pinned=pinning[1])
    try:
        rounds = [one_round(variants, index, bin_dir, peers, options, pinning) for index in range(options.rounds)]
    finally:
        peers.stop()
    result = latency_report.summarise([variant.name for variant in variants], rounds)
    result["settings"] = {"rates": options.rates, "rounds": options.rounds, "duration_s": options.duration,
                          "warmup_s": options.warmup, "connections": options.connections,
                          "pinned": bool(pinning[0])}
    latency_report.show(result, EXPORTS_TO_PEERS)
    if options.json:
        options.json.write_text(json.dumps(result, indent=2))
        print(f"results written to {options.json}")


if __name__ == "__main__":
    run(sys.argv[1:])
