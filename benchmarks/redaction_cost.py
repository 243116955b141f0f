"""Redaction cost on the export (dispatcher) thread, the redactor before issue 14 (loaded from git at
``BENCH_REDACTION_BASELINE``, default 59f3783) against the current one, interleaved round by round in one
run on identical copies of the items.

Workloads: today's (the attribute sets the example engine produces - a FastAPI server span with a distinct
URL per request, an httpx client span with captured headers, a parameterized SQL span, all named ``span``;
with and without secrets in the query), the extended one (the same spans with distinct names, a quarter of
them carrying a query string with a token), metric points (a collection of request counters and latency
histograms, some attributes holding secrets; only the current redactor redacts metrics), and 16 KiB
adversarial strings (the worst case of each pattern). CPU microseconds; the machine is shared, so compare
the two columns of one run, not runs with each other."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from benchmarks.git_baseline import module_at
from tl_otel.redaction.metrics import redact_metrics_data
from tl_otel.redaction.redactor import Redactor

ROUNDS = 7
BASELINE = "59f3783"  # the redactor before issue 14
SPANS = 3000
SECRETS = ["phc_benchmarkkey1234567890", "https://hooks.slack.com/services/T1/B1/xyz123456"]


def make_spans(count: int, offset: int, with_secrets: bool, distinct_names: bool) -> list:
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("bench")
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
            name = f"POST /engines/{index}/run"
        elif kind == 1:
            attributes = {
                "http.method": "GET", "http.url": f"http://pricing:8080/prices/engine-{index}",
                "http.request.header.host": ("pricing:8080",), "http.request.header.accept": ("*/*",),
                "http.request.header.user_agent": ("python-httpx/0.28.1",),
                "http.request.header.authorization": ("Bearer abc",), "http.status_code": 200}
            span_kind = SpanKind.CLIENT
            name = f"GET /prices/engine-{index}"
        else:
            attributes = {
                "db.system": "postgresql", "db.name": "test", "db.user": "postgres", "net.peer.name": "127.0.0.1",
                "net.peer.port": 5432,
                "db.statement": "SELECT executions.id, executions.status FROM executions "
                                "WHERE executions.id = %(pk_1)s"}
            span_kind = SpanKind.CLIENT
            name = f"SELECT executions {index}"
        if distinct_names and index % 4 == 0:
            name = f"GET /reset?token=t{index}x&next=/home"
        with tracer.start_as_current_span(name if distinct_names else "span", kind=span_kind, attributes=attributes):
            pass
    return list(memory.get_finished_spans())


def make_logs(count: int, offset: int) -> list:
    """Log records as the logging bridge makes them: five loggers, repeated messages and fields."""
    records: list[Any] = []

    class Keep:
        def on_emit(self, record: Any) -> None:
            records.append(record)

        def shutdown(self) -> None: ...

        def force_flush(self, timeout_millis: int = 0) -> bool:
            return True

    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(Keep())
    loggers = [provider.get_logger(f"engine.module{index}") for index in range(5)]
    for index in range(offset, offset + count):
        loggers[index % 5].emit(LogRecord(body=f"Engine executed {index % 50}", severity_text="INFO", attributes={
            "engine_id": f"engine-{index % 20}", "code.function.name": "run", "code.line.number": 9}))
    return records


def make_metrics(series: int) -> Any:
    """One collection: request counters and latency histograms over ``series`` attribute sets (a tenth
    carrying a password or userinfo, which redaction merges)."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    meter = provider.get_meter("bench")
    counter = meter.create_counter("http.server.requests")
    histogram = meter.create_histogram("http.server.duration")
    for index in range(series):
        attributes: dict[str, Any] = {"http.route": f"/engines/{index % 50}/run", "http.method": "POST",
                                      "http.status_code": 200 + index % 3, "tenant": f"t{index}"}
        if index % 10 == 0:
            attributes["db.url"] = f"postgresql://app:pw{index}@db/x"
            attributes["password"] = f"pw{index}"
        counter.add(1, attributes)
        histogram.record(index % 97, attributes)
    data = reader.get_metrics_data()
    provider.shutdown()
    return data


def adversarial() -> dict[str, str]:
    size = 16384
    return {
        "key=key=…": ("password=" * size)[:size],
        "key + spaces": ("password " * size)[:size],
        "unclosed quote": '"password": "' + ('\\"x' * size)[:size],
        "://…@ runs": ("://" + "a:" * size)[:size],
        "many @": ("a@" * size)[:size],
        "digits then a letter (SQL)": "1" * size + "a",
        "near-secret shapes": ("ghp_" + "A" * 20 + " ") * (size // 25),
    }


def _timed(work: Callable[[], None]) -> float:
    started = time.process_time()
    work()
    return time.process_time() - started


def run() -> None:
    baseline = os.environ.get("BENCH_REDACTION_BASELINE", BASELINE)
    old = module_at(baseline, "tl_otel/redaction/redactor.py", "baseline_redactor").Redactor(secrets=SECRETS)
    new = Redactor(secrets=SECRETS)
    results: dict[str, dict[str, list[float]]] = {}
    offset = 0
    for round_index in range(ROUNDS):
        for label, with_secrets, distinct in (("today: no secrets", False, False),
                                              ("today: password+api_key in query", True, False),
                                              ("extended: distinct names, 1/4 with ?token=", False, True),
                                              ("extended + password+api_key in query", True, True)):
            pair = {"old": make_spans(SPANS, offset, with_secrets, distinct),
                    "new": make_spans(SPANS, offset, with_secrets, distinct)}
            offset += SPANS
            order = (("old", old), ("new", new)) if round_index % 2 else (("new", new), ("old", old))
            for which, redactor in order:
                spans = pair[which]
                seconds = _timed(lambda spans=spans, redactor=redactor: [redactor.redact_span(s) for s in spans])
                results.setdefault(label, {}).setdefault(which, []).append(seconds / SPANS * 1e6)
        pair = {"old": make_logs(SPANS, offset), "new": make_logs(SPANS, offset)}
        for which, redactor in order:
            records = pair[which]
            seconds = _timed(lambda records=records, redactor=redactor: [redactor.redact_log(r) for r in records])
            results.setdefault("log records", {}).setdefault(which, []).append(seconds / SPANS * 1e6)
    data = make_metrics(2000)
    points = sum(len(m.data.data_points) for rm in data.resource_metrics for sm in rm.scope_metrics
                 for m in sm.metrics)
    # The first collection meets every series for the first time; later ones find them cached.
    metric_rounds = [_timed(lambda: redact_metrics_data(new, data)) / points * 1e6 for _ in range(ROUNDS)]
    print(f"redaction cost on the export thread (CPU µs, median of {ROUNDS} interleaved rounds; shared machine)")
    print(f"  {'workload':52} {'before':>8} {'now':>8} {'ratio':>6}")
    for label, by in results.items():
        before, now = statistics.median(by["old"]), statistics.median(by["new"])
        unit = "per record" if label.startswith("log") else "per span"
        print(f"  {label + f' ({unit})':52} {before:8.2f} {now:8.2f} {now / before:6.2f}")
    print(f"  {'metric points, first collection (per point)':52} {'-':>8} {metric_rounds[0]:8.2f}")
    print(f"  {'metric points, later collections (per point)':52} {'-':>8} "
          f"{statistics.median(metric_rounds[1:]):8.2f}   ({points} points, 1/10 merged)")
    print("16 KiB adversarial strings (ms, one scrub each, uncached)")
    for label, text in adversarial().items():
        before = _timed(lambda text=text: old.scrub_text(text)) * 1e3
        now = _timed(lambda text=text: new.scrub_text(text)) * 1e3
        print(f"  {label:52} {before:8.2f} {now:8.2f}")
