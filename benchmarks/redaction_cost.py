"""Redaction cost per span on the export (dispatcher) thread, with the attribute sets the example engine
produces: a FastAPI server span (old semconv, a distinct URL per request), an httpx client span with
captured headers, a parameterized SQL span, and the same server span carrying secrets in its query.
Reported in microseconds per span next to the cost of creating the span with the bare SDK on this machine
(the figure that says how noisy and slow the machine is); both measured in interleaved rounds."""

from __future__ import annotations

import statistics
import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tl_otel.redaction.redactor import Redactor

ROUNDS = 7
SPANS = 3000


def make_spans(count: int, offset: int, with_secrets: bool) -> tuple[list, float]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
    started = time.process_time()
    for index in range(offset, offset + count):
        query = f"mode=fast&password=pw{index}&api_key=k{index}" if with_secrets else "mode=fast"
        kind = index % 3
        if kind == 0:
            attributes = {
                "http.scheme": "http", "http.host": "127.0.0.1:8000", "net.host.port": 8000, "http.flavor": "1.1",
                "http.target": f"/engines/{index}/run?{query}", "http.url": f"http://127.0.0.1:8000/engines/{index}/run?{query}",
                "http.method": "POST", "http.server_name": "127.0.0.1:8000", "http.user_agent": "python-httpx/0.28.1",
                "net.peer.ip": "127.0.0.1", "net.peer.port": 40000 + index % 20000,
                "http.route": "/engines/{engine_id}/run", "code.function.name": "examples.engine.api.run_engine",
                "http.status_code": 200}
            span_kind = SpanKind.SERVER
        elif kind == 1:
            attributes = {
                "http.method": "GET", "http.url": f"http://pricing:8080/prices/engine-{index}",
                "http.request.header.host": ("pricing:8080",), "http.request.header.accept": ("*/*",),
                "http.request.header.user_agent": ("python-httpx/0.28.1",),
                "http.request.header.authorization": ("Bearer abc",), "http.status_code": 200}
            span_kind = SpanKind.CLIENT
        else:
            attributes = {
                "db.system": "postgresql", "db.name": "test", "db.user": "postgres", "net.peer.name": "127.0.0.1",
                "net.peer.port": 5432,
                "db.statement": "SELECT executions.id, executions.status FROM executions "
                                "WHERE executions.id = %(pk_1)s"}
            span_kind = SpanKind.CLIENT
        with tracer.start_as_current_span("span", kind=span_kind, attributes=attributes):
            pass
    created = time.process_time() - started
    return list(memory.get_finished_spans()), created / count


def run() -> None:
    redactor = Redactor(secrets=["phc_benchmarkkey1234567890", "https://hooks.slack.com/services/T1/B1/xyz123456"])
    plain, secret, creation = [], [], []
    offset = 0
    for _ in range(ROUNDS):
        for bucket, with_secrets in ((plain, False), (secret, True)):
            spans, per_span_creation = make_spans(SPANS, offset, with_secrets)
            offset += SPANS
            started = time.process_time()
            for span in spans:
                redactor.redact_span(span)
            bucket.append((time.process_time() - started) / SPANS * 1e6)
            creation.append(per_span_creation * 1e6)
    print("redaction cost per span (export thread; CPU µs, median of "
          f"{ROUNDS} interleaved rounds of {SPANS} spans: server/client/SQL mix, distinct URLs)")
    print(f"  no secrets present        {statistics.median(plain):6.2f} µs")
    print(f"  password+api_key in query {statistics.median(secret):6.2f} µs")
    print(f"  bare SDK span creation    {statistics.median(creation):6.2f} µs  (this machine's yardstick)")
