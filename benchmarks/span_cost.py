"""Per-span cost on the application thread: the bare SDK (no processor; BatchSpanProcessor + no-op
exporter) vs tl-otel's pipeline (one append per span, three no-op destinations), interleaved."""

from __future__ import annotations

import statistics
import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import DEFAULT_ON
from opentelemetry.trace import SpanKind

from tl_otel.pipeline.deadline import Deadline
from tl_otel.pipeline.destination import Destination
from tl_otel.pipeline.fanout import Fanout
from tl_otel.pipeline.processors import FanoutSpanProcessor
from tl_otel.sampling import LocalRootRecordingSampler


class NoOpExporter(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS


def providers() -> dict[str, tuple[TracerProvider, object]]:
    bare = TracerProvider(shutdown_on_exit=False)
    bsp = TracerProvider(shutdown_on_exit=False)
    bsp.add_span_processor(BatchSpanProcessor(NoOpExporter(), max_queue_size=100_000))
    ours = TracerProvider(sampler=LocalRootRecordingSampler(DEFAULT_ON), shutdown_on_exit=False)
    fanout = Fanout("spans", [Destination(f"d{i}", NoOpExporter(), 100_000) for i in range(3)], 100_000, 512, 1.0)
    ours.add_span_processor(FanoutSpanProcessor(fanout, 5))
    return {"SDK, no processor": (bare, None), "SDK + BatchSpanProcessor": (bsp, None),
            "tl-otel pipeline (3 destinations)": (ours, fanout)}


def one_round(provider: TracerProvider, spans: int) -> float:
    tracer = provider.get_tracer("bench")
    started = time.perf_counter()
    for _ in range(spans):
        with tracer.start_as_current_span("GET /items/{id}", kind=SpanKind.SERVER):
            pass
    return (time.perf_counter() - started) / spans * 1e6


def run(rounds: int = 7, spans: int = 20_000) -> None:
    variants = providers()
    timings: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (provider, fanout) in variants.items():
            timings[name].append(one_round(provider, spans))
            provider.force_flush()
            if fanout is not None:
                fanout.force_flush(Deadline(10))
    base = statistics.median(timings["SDK, no processor"])
    print(f"\nPer-span cost on the application thread: {rounds} interleaved rounds x {spans} spans")
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"{name:36s} {median:7.2f} µs/span  {median / base:5.2f}x")
