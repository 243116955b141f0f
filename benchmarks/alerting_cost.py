"""Alerting cost: ``on_end`` per span on the application thread beside the bare SDK in the same run, and the
evaluation thread's CPU at 1,000 spans/s."""

from __future__ import annotations

import statistics
import threading
import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from tl_otel.alerting.engine import AlertEngine
from tl_otel.alerting.processor import AlertingSpanProcessor
from tl_otel.settings import resolve


def per_span(provider: TracerProvider, spans: int) -> float:
    tracer = provider.get_tracer("bench")
    attributes = {"http.route": "/engines/{engine_id}", "http.status_code": 200}
    started = time.perf_counter()
    for _ in range(spans):
        with tracer.start_as_current_span("GET /engines/{engine_id}", kind=SpanKind.SERVER, attributes=attributes):
            pass
    return (time.perf_counter() - started) / spans * 1e6


def evaluation_cpu(seconds: float = 10.0, rate: int = 1000) -> float:
    settings = resolve({}, {"TL_OTEL_ALERT_EVAL_INTERVAL_S": "1", "TL_OTEL_ALERT_WINDOW_S": "300"})
    processor = AlertingSpanProcessor("bench", settings.alert_latency_ms)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    engine = AlertEngine(processor, settings, "bench", [])
    tracer = provider.get_tracer("bench")
    cpu = {"total": 0.0}

    def evaluator() -> None:
        stop = time.monotonic() + seconds
        while time.monotonic() < stop:
            started = time.thread_time()
            engine.evaluate_once()
            cpu["total"] += time.thread_time() - started
            time.sleep(settings.alert_eval_interval_s)

    thread = threading.Thread(target=evaluator)
    thread.start()
    end = time.monotonic() + seconds
    routes = [f"/route/{index}" for index in range(20)]
    while time.monotonic() < end:
        tick = time.monotonic()
        for index in range(rate // 10):
            with tracer.start_as_current_span("GET", kind=SpanKind.SERVER,
                                              attributes={"http.route": routes[index % 20], "http.status_code": 200}):
                pass
        time.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
    thread.join()
    return cpu["total"] / seconds * 100


def run(rounds: int = 7, spans: int = 20_000) -> None:
    bare = TracerProvider(shutdown_on_exit=False)
    alerting = TracerProvider(shutdown_on_exit=False)
    alerting.add_span_processor(AlertingSpanProcessor("bench", 1000))
    results: dict[str, list[float]] = {"SDK, no processor": [], "SDK + AlertingSpanProcessor": []}
    for _ in range(rounds):
        results["SDK, no processor"].append(per_span(bare, spans))
        results["SDK + AlertingSpanProcessor"].append(per_span(alerting, spans))
    base = statistics.median(results["SDK, no processor"])
    ours = statistics.median(results["SDK + AlertingSpanProcessor"])
    print(f"\nAlerting on_end: {rounds} interleaved rounds x {spans} server spans")
    print(f"SDK alone {base:.2f} µs/span, with the alerting processor {ours:.2f} µs/span: "
          f"+{ours - base:.2f} µs ({(ours / base - 1) * 100:+.1f} %)")
    print(f"evaluation thread at 1,000 spans/s over 20 routes, 1 s interval: {evaluation_cpu():.3f} % of one core")
