"""PostHog delivery cost: CPU time per delivered event (all threads of the sending process: translation,
serialisation, gzip, HTTP) and events per CPU-second, tl-otel's exporter against the ``posthog`` client's
own ``capture()`` path, interleaved round by round. The capture server runs in another process, so its
CPU is not counted."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from examples.processes import free_port, wait_http
from tl_otel.settings import resolve

SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200); self.send_header("Content-Length", "12"); self.end_headers()
        self.wfile.write(b'{"status":1}')
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

ATTRIBUTES = {"http.method": "GET", "http.route": "/engines/{engine_id}", "http.target": "/engines/engine-123",
              "http.status_code": 200, "http.scheme": "http", "http.flavor": "1.1", "net.peer.ip": "127.0.0.1"}


def cpu() -> float:
    times = os.times()
    return times.user + times.system


def spans(count: int) -> list:
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for _ in range(count):
        with tracer.start_as_current_span("GET /engines/{engine_id}", kind=SpanKind.SERVER, attributes=ATTRIBUTES):
            pass
    return list(memory.get_finished_spans())


def ours(host: str, batch: list, count: int) -> float:
    from tl_otel.exporters.posthog.spans import PostHogSpanExporter

    settings = resolve({"posthog_api_key": "phc_bench", "posthog_host": host, "service_name": "bench"}, {})
    exporter = PostHogSpanExporter.from_settings(settings)
    started = cpu()
    for offset in range(0, count, 512):
        exporter.export(batch[offset:offset + 512])
    elapsed = cpu() - started
    assert exporter.delivery.stats.delivered == count, exporter.delivery.stats
    exporter.shutdown()
    return elapsed


def client(host: str, count: int) -> float:
    from posthog import Posthog

    ph = Posthog("phc_bench", host=host, max_queue_size=count + 1, gzip=True)
    started = cpu()
    for index in range(count):
        ph.capture("api_request", distinct_id="service:bench", properties={
            "method": "GET", "route": "/engines/{engine_id}", "path": "/engines/engine-123", "status_code": 200,
            "duration_ms": 1.5, "success": True, "service": "bench", "$process_person_profile": False,
            "$trace_id": f"{index:032x}", "$span_id": f"{index:016x}"})
    ph.flush(timeout_seconds=120)
    elapsed = cpu() - started
    ph.shutdown()
    return elapsed


def run(rounds: int = 5, count: int = 10_000) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    host = f"http://127.0.0.1:{port}"
    try:
        wait_http(host + "/", timeout=10)
        batch = spans(count)
        results: dict[str, list[float]] = {"tl-otel exporter": [], "posthog capture()": []}
        for _ in range(rounds):
            results["tl-otel exporter"].append(ours(host, batch, count))
            results["posthog capture()"].append(client(host, count))
            time.sleep(0.2)
    finally:
        server.terminate()
        server.wait()
    print(f"\nPostHog delivery: {rounds} interleaved rounds x {count} api_request events to a local capture server")
    rates = {name: count / statistics.median(values) for name, values in results.items()}
    for name, values in results.items():
        print(f"{name:20s} {statistics.median(values) / count * 1e6:7.1f} µs CPU/event"
              f"  {rates[name]:9,.0f} events per CPU-second")
    print(f"ratio: {rates['tl-otel exporter'] / rates['posthog capture()']:.1f}x the client's events per CPU-second")
