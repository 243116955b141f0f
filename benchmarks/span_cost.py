"""Per-span cost on the application thread: the bare SDK (no processor; BatchSpanProcessor + no-op
exporter) vs tl-otel's pipeline (one append per span, three no-op destinations) vs tl-otel configured with
every destination on (JSON lines to /dev/null, PostHog to a local capture server, Scout to a fake core
agent) and alerting, interleaved. Reported as the application thread's
own CPU time per span (exporters run on other threads) and as wall time."""

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
    variants = {"SDK, no processor": (bare, None), "SDK + BatchSpanProcessor": (bsp, None),
                "tl-otel pipeline (3 destinations)": (ours, fanout)}
    runtime = _configured_with_everything()
    variants["tl-otel, all destinations + alerts"] = (runtime.tracer_provider, runtime.span_fanout)
    return variants


def _configured_with_everything():
    import os
    import tempfile

    import tl_otel
    from examples.peers.fake_core_agent import FakeCoreAgent
    from examples.peers.posthog_capture import PostHogCapture
    from tl_otel.exporters.jsonl.stream import LineWriter

    capture = PostHogCapture()
    agent = FakeCoreAgent(os.path.join(tempfile.mkdtemp(prefix="tl-otel-bench-"), "agent.sock"))
    runtime = tl_otel.configure(instrument=False, env={
        "OTEL_SERVICE_NAME": "bench", "POSTHOG_API_KEY": "phc_benchmark_key_000000", "POSTHOG_HOST": capture.url,
        "SCOUT_KEY": "bench-key", "SCOUT_CORE_AGENT_SOCKET_PATH": agent.address, "SCOUT_CORE_AGENT_LAUNCH": "false",
        "OTEL_TRACES_EXPORTER": "json,posthog,scout",
        "OTEL_LOGS_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "TL_OTEL_ALERTS": "true",
        "TL_OTEL_ALERT_STORE": "process", "TL_OTEL_SPAN_QUEUE_SIZE": "100000", "TL_OTEL_HANDLE_SIGTERM": "false"})
    devnull = os.open(os.devnull, os.O_WRONLY)
    runtime.exporter_objects["traces"]["json"].options.writer = LineWriter(devnull, devnull)
    return runtime


def one_round(provider: TracerProvider, spans: int) -> tuple[float, float]:
    tracer = provider.get_tracer("bench")
    attributes = {"http.method": "GET", "http.route": "/items/{id}", "http.status_code": 200}
    started, cpu_started = time.perf_counter(), time.thread_time()
    for index in range(spans):
        with tracer.start_as_current_span("GET /items/{id}", kind=SpanKind.SERVER, attributes=attributes) as span:
            span.set_attribute("http.target", f"/items/{index}")
    cpu = time.thread_time() - cpu_started
    return cpu / spans * 1e6, (time.perf_counter() - started) / spans * 1e6


def run(rounds: int = 7, spans: int = 20_000) -> None:
    variants = providers()
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, (provider, fanout) in variants.items():
            timings[name].append(one_round(provider, spans))
            provider.force_flush()
            if fanout is not None:
                fanout.force_flush(Deadline(30))
    cpu = {name: statistics.median(c for c, _ in values) for name, values in timings.items()}
    wall = {name: statistics.median(w for _, w in values) for name, values in timings.items()}
    bsp = "SDK + BatchSpanProcessor"
    print(f"\nPer-span cost on the application thread: {rounds} interleaved rounds x {spans} spans")
    print(f"{'variant':36s} {'thread CPU µs':>13s} {'vs BSP':>7s} {'wall µs':>8s} {'vs BSP':>7s}")
    for name in timings:
        print(f"{name:36s} {cpu[name]:13.2f} {cpu[name] / cpu[bsp]:6.2f}x"
              f" {wall[name]:8.2f} {wall[name] / wall[bsp]:6.2f}x")
