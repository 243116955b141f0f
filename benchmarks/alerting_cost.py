"""Alerting cost: ``on_end`` per span on the application thread beside the bare SDK in the same run (and,
with BENCH_ALERTS_BASELINE=<git ref>, beside that revision's processor, interleaved in the same run), and
the evaluation thread's CPU at 1,000 spans/s over 20 routes, without a store and with the default local
store."""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind

from benchmarks.alerting_rss import baseline_processor_class
from tl_otel.alerting.engine import AlertEngine
from tl_otel.alerting.processor import AlertingSpanProcessor
from tl_otel.alerting.setup import build_store
from tl_otel.settings import resolve


def per_span(provider: TracerProvider, spans: int) -> float:
    tracer = provider.get_tracer("bench")
    attributes = {"http.route": "/engines/{engine_id}", "http.status_code": 200}
    started = time.perf_counter()
    for _ in range(spans):
        with tracer.start_as_current_span("GET /engines/{engine_id}", kind=SpanKind.SERVER, attributes=attributes):
            pass
    return (time.perf_counter() - started) / spans * 1e6


def on_end_alone(processor: Any, calls: int) -> float:
    """``on_end`` on one finished server span, in thread CPU time (less sensitive to a loaded machine)."""
    provider = TracerProvider(shutdown_on_exit=False)
    span = provider.get_tracer("bench").start_span("GET /engines/{engine_id}", kind=SpanKind.SERVER, attributes={
        "http.route": "/engines/{engine_id}", "http.status_code": 200})
    span.end()
    on_end = processor.on_end
    started = time.thread_time()
    for _ in range(calls):
        on_end(span)
    return (time.thread_time() - started) / calls * 1e6


def evaluation_cpu(store: Any = None, seconds: float = 10.0, rate: int = 1000) -> float:
    settings = resolve({}, {"TL_OTEL_ALERT_EVAL_INTERVAL_S": "1", "TL_OTEL_ALERT_WINDOW_S": "300"})
    processor = AlertingSpanProcessor("bench", settings.alert_latency_ms)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    engine = AlertEngine(processor, settings, "bench", [], store=store)
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
    variants: dict[str, TracerProvider] = {"SDK, no processor": TracerProvider(shutdown_on_exit=False)}
    baseline_ref = os.environ.get("BENCH_ALERTS_BASELINE")
    if baseline_ref:
        variants[f"SDK + processor of {baseline_ref}"] = TracerProvider(shutdown_on_exit=False)
        variants[f"SDK + processor of {baseline_ref}"].add_span_processor(
            baseline_processor_class(baseline_ref)("bench", 1000))
    variants["SDK + AlertingSpanProcessor"] = TracerProvider(shutdown_on_exit=False)
    variants["SDK + AlertingSpanProcessor"].add_span_processor(AlertingSpanProcessor("bench", 1000))
    results: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, provider in variants.items():
            results[name].append(per_span(provider, spans))
    medians = {name: statistics.median(values) for name, values in results.items()}
    base = medians["SDK, no processor"]
    print(f"\nAlerting on_end: {rounds} interleaved rounds x {spans} server spans (medians)")
    for name, value in medians.items():
        print(f"  {name}: {value:.2f} µs/span ({value - base:+.2f} µs, {(value / base - 1) * 100:+.1f} % vs the SDK)")
    if baseline_ref:
        processors = {baseline_ref: baseline_processor_class(baseline_ref)("bench", 1000),
                      "now": AlertingSpanProcessor("bench", 1000)}
        alone: dict[str, list[float]] = {name: [] for name in processors}
        for _ in range(rounds):
            for name, processor in processors.items():
                alone[name].append(on_end_alone(processor, 100_000))
        then, now = (statistics.median(alone[name]) for name in processors)
        print(f"  on_end alone, thread CPU, {rounds} interleaved rounds x 100,000 calls (medians): {baseline_ref} "
              f"{then:.2f} µs, now {now:.2f} µs ({(now / then - 1) * 100:+.1f} %)")
        old = medians[f"SDK + processor of {baseline_ref}"] - base
        new = medians["SDK + AlertingSpanProcessor"] - base
        print(f"  processor's own cost: {baseline_ref} {old:.2f} µs, now {new:.2f} µs ({(new / old - 1) * 100:+.0f} %)")
    print(f"evaluation thread at 1,000 spans/s over 20 routes, 1 s interval, no store: {evaluation_cpu():.3f} % "
          "of one core")
    with tempfile.TemporaryDirectory() as folder:
        os.environ["XDG_RUNTIME_DIR"] = folder  # the store's private directory goes there
        store = build_store(resolve({}, {"TL_OTEL_ALERT_WINDOW_S": "300"}), "bench")
        print(f"  same with the default local store (SQLite): {evaluation_cpu(store):.3f} % of one core")

