"""FastAPI request path under load on loopback: plain app vs upstream instrumentation with no exporter
vs tl-otel with its JSON exporters. Reports requests/s, server CPU time per request (all threads, from
/proc) and client-side p50/p99 latency, interleaving the variants round by round."""

from __future__ import annotations

import http.client
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from examples.processes import BIN, REPO, free_port, wait_http

TICKS = os.sysconf("SC_CLK_TCK")


def variants(port: int) -> dict[str, tuple[list[str], dict[str, str]]]:
    uvicorn = [str(BIN / "uvicorn"), "benchmarks.app:app", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", "--no-access-log"]
    return {
        "plain": (uvicorn, {}),
        "upstream, no exporter": ([sys.executable, "-m", "benchmarks.upstream_launch", str(port)], {}),
        "tl-otel, json": ([str(BIN / "opentelemetry-instrument"), *uvicorn], {}),
        "tl-otel, all + alerts": ([str(BIN / "opentelemetry-instrument"), *uvicorn], ALL_DESTINATIONS),
        # scout_apm's allocation counter hooks every allocation of the process (TL_OTEL_SCOUT_ALLOCATIONS)
        "tl-otel, all + allocations": ([str(BIN / "opentelemetry-instrument"), *uvicorn],
                                       {**ALL_DESTINATIONS, "TL_OTEL_SCOUT_ALLOCATIONS": "true"}),
    }


# PostHog to a local capture server, Scout to a fake core agent, JSON lines, alerting with a webhook: filled
# in by run() once the peers are up (they live in this process, so the server's CPU is its own).
ALL_DESTINATIONS: dict[str, str] = {}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime, all threads


def load(port: int, requests: int) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port)
    latencies = []
    for index in range(requests):
        started = time.perf_counter()
        connection.request("GET", f"/items/{index}")
        response = connection.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
    connection.close()
    return latencies


def measure(command: list[str], port: int, requests: int, **extra_env: str) -> dict[str, float]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "TL_OTEL_"))}
    env.update(PYTHONPATH=str(REPO), OTEL_SERVICE_NAME="bench", OTEL_METRICS_EXPORTER="none", **extra_env)
    server = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/items/0", timeout=30)
        load(port, 200)  # warm-up
        cpu_before, started = cpu_seconds(server.pid), time.perf_counter()
        latencies = load(port, requests)
        elapsed, cpu = time.perf_counter() - started, cpu_seconds(server.pid) - cpu_before
    finally:
        server.terminate()
        server.wait(30)
    latencies.sort()
    return {
        "rps": requests / elapsed,
        "cpu_us": cpu / requests * 1e6,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def run(rounds: int = 5, requests: int = 3000) -> None:
    import tempfile

    from examples.peers.fake_core_agent import FakeCoreAgent
    from examples.peers.posthog_capture import PostHogCapture
    from examples.peers.webhook import WebhookReceiver

    capture, hook = PostHogCapture(), WebhookReceiver()
    agent = FakeCoreAgent(os.path.join(tempfile.mkdtemp(prefix="tl-otel-bench-"), "agent.sock"))
    ALL_DESTINATIONS.update({
        "POSTHOG_API_KEY": "phc_benchmark_key_000000", "POSTHOG_HOST": capture.url, "SCOUT_KEY": "bench-key",
        "SCOUT_CORE_AGENT_SOCKET_PATH": agent.address, "SCOUT_CORE_AGENT_LAUNCH": "false", "TL_OTEL_ALERTS": "true",
        "TL_OTEL_ALERT_SLACK_WEBHOOK_URL": hook.url, "TL_OTEL_ALERT_STORE": "process"})
    results: dict[str, list[dict[str, float]]] = {}
    try:
        for _ in range(rounds):
            port = free_port()
            for name, (command, extra_env) in variants(port).items():
                results.setdefault(name, []).append(measure(command, port, requests, **extra_env))
    finally:
        capture.stop()
        agent.stop()
        hook.stop()
    print(f"\nFastAPI request path: {rounds} interleaved rounds x {requests} sequential keep-alive requests")
    base = statistics.median(r["cpu_us"] for r in results["plain"])
    upstream = statistics.median(r["cpu_us"] for r in results["upstream, no exporter"])
    print(f"{'variant':24s} {'req/s':>8s} {'CPU µs/req':>11s} {'vs plain':>9s} {'vs upstream':>12s}"
          f" {'p50 ms':>7s} {'p99 ms':>7s}")
    for name, rows in results.items():
        cpu = statistics.median(r["cpu_us"] for r in rows)
        print(f"{name:24s} {statistics.median(r['rps'] for r in rows):8.0f} {cpu:11.0f} {cpu / base:8.2f}x"
              f" {cpu / upstream:11.2f}x {statistics.median(r['p50_ms'] for r in rows):7.2f}"
              f" {statistics.median(r['p99_ms'] for r in rows):7.2f}")
