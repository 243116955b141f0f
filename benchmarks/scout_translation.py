"""Scout exporter cost: spans per CPU-second assembled, translated and framed on one core, and bytes per
request on the wire compared with Scout's own agent for the same requests (the parity app, run once under
each, against a fake core agent)."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from examples.processes import REPO
from tl_otel.exporters.scout.agent_client import encode
from tl_otel.exporters.scout.assembly import RequestAssembler
from tl_otel.exporters.scout.commands import build


def cpu() -> float:
    return time.process_time()  # this process's CPU, all threads; finer-grained than os.times()


def requests_spans(count: int) -> list:
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    for index in range(count):
        with tracer.start_as_current_span("GET /items/{item_id}", kind=SpanKind.SERVER, attributes={
                "http.method": "GET", "http.route": "/items/{item_id}", "http.target": f"/items/{index}?q=1",
                "http.status_code": 200, "net.peer.ip": "127.0.0.1", "code.function.name": "app.read_item"}):
            for _ in range(3):
                with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes={
                        "db.system": "postgresql", "db.statement": "SELECT * FROM items WHERE id = %s"}):
                    pass
            with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT, attributes={
                    "http.method": "GET", "http.url": "http://pricing:8080/v1/prices/1"}):
                pass
    return list(memory.get_finished_spans())


def translate(spans: list) -> int:
    assembler = RequestAssembler()
    size = 0
    for offset in range(0, len(spans), 512):
        for request in assembler.add(spans[offset:offset + 512]):
            size += len(encode(build(request)))
    return size


PARITY_REQUESTS = 7  # what tests/parity/app.py sends to Scout (its unrouted 404 sends nothing)


def wire_bytes() -> dict[str, float]:
    from examples.peers.fake_core_agent import FakeCoreAgent
    from tests.test_scout_parity import Prices

    server = ThreadingHTTPServer(("127.0.0.1", 0), Prices)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    outbound = f"http://127.0.0.1:{server.server_address[1]}"
    sizes = {}
    with tempfile.TemporaryDirectory() as folder:
        # scout_apm always sends allocation tags; tl-otel when TL_OTEL_SCOUT_ALLOCATIONS is on
        for variant, mode, allocations in (("scout", "scout", "false"), ("otel", "otel", "false"),
                                           ("otel + allocations", "otel", "true")):
            path = str(Path(folder) / f"{mode}-{allocations}.sock")
            agent = FakeCoreAgent(path)
            env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "TL_OTEL_"))}
            env.update(PYTHONPATH=str(REPO), SCOUT_MONITOR="true", SCOUT_KEY="abcdefghij0123456789",
                       SCOUT_CORE_AGENT_SOCKET_PATH=path, SCOUT_CORE_AGENT_LAUNCH="false", SCOUT_NAME="bench",
                       TL_OTEL_SCOUT_ALLOCATIONS=allocations)
            subprocess.run([sys.executable, "-m", "tests.parity.app", mode, outbound], env=env, cwd=REPO,
                           check=True, capture_output=True, timeout=120)
            agent.wait_for(lambda agent=agent: len(agent.requests()) >= PARITY_REQUESTS, timeout=10)
            batches = [size for message, size in zip(agent.messages, agent.frame_sizes, strict=True)
                       if "BatchCommand" in message]
            sizes[variant] = statistics.mean(batches)
            agent.stop()
    server.shutdown()
    return sizes


def run(rounds: int = 7, requests: int = 4000) -> None:
    spans = requests_spans(requests)
    rates = []
    for _ in range(rounds):
        started = cpu()
        translate(spans)
        rates.append(len(spans) / (cpu() - started))
    print(f"\nScout translation: {rounds} rounds x {requests} requests of {len(spans) // requests} spans "
          f"(assemble + BatchCommand + framing)")
    print(f"median {statistics.median(rates):,.0f} spans per CPU-second (min {min(rates):,.0f})")
    sizes = wire_bytes()
    print(f"bytes per request on the wire (parity app, {PARITY_REQUESTS} requests): scout_apm "
          f"{sizes['scout']:,.0f}, tl-otel {sizes['otel']:,.0f} ({sizes['otel'] / sizes['scout']:.2f}x), "
          f"tl-otel with allocation tags {sizes['otel + allocations']:,.0f} "
          f"({sizes['otel + allocations'] / sizes['scout']:.2f}x)")
