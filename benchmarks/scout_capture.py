"""What the Scout capture processor adds on the application's thread per request: a web request with one SQL
span, through an SDK provider with a no-op processor only, vs the same plus the capture processor
(allocation tags off, then on). The allocation variant reads the counters without enabling scout_apm's
process-wide allocation hook (its cost falls on every allocation of the process and is measured with
``./run bench requests``, and here on an allocation-heavy loop). Interleaved rounds; the application
thread's CPU time per request."""

from __future__ import annotations

import statistics
import time

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from tl_otel.exporters.scout.capture import ScoutCaptureProcessor


class NoOpExporter(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS


def _provider(capture: ScoutCaptureProcessor | None) -> TracerProvider:
    provider = TracerProvider(shutdown_on_exit=False)
    if capture is not None:
        provider.add_span_processor(capture)
    provider.add_span_processor(SimpleSpanProcessor(NoOpExporter()))
    return provider


def variants() -> dict[str, TracerProvider]:
    allocations = ScoutCaptureProcessor()
    from scout_apm.core import objtrace

    # The counters without the hook: the same calls per span, none of the process-wide cost.
    allocations._counts = lambda: sum(objtrace.get_counts()[:3])
    return {"no capture": _provider(None), "capture": _provider(ScoutCaptureProcessor()),
            "capture + allocation tags": _provider(allocations)}


def one_round(provider: TracerProvider, requests: int) -> float:
    tracer = provider.get_tracer("bench")
    server = {"http.method": "GET", "http.route": "/items/{id}", "http.status_code": 200}
    sql = {"db.system": "postgresql", "db.statement": "SELECT * FROM items WHERE id = %(id)s"}
    started = time.thread_time()
    for _ in range(requests):
        with tracer.start_as_current_span("GET /items/{id}", kind=SpanKind.SERVER, attributes=server), \
                tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes=sql):
            pass
    return (time.thread_time() - started) / requests * 1e6


def run(rounds: int = 9, requests: int = 20_000) -> None:
    providers = variants()
    timings: dict[str, list[float]] = {name: [] for name in providers}
    for _ in range(rounds):
        for name, provider in providers.items():
            timings[name].append(one_round(provider, requests))
    print(f"\nScout capture on the application thread: {rounds} interleaved rounds x {requests} requests "
          "(a web request with one SQL span)")
    base = statistics.median(timings["no capture"])
    print(f"{'variant':28s} {'thread CPU µs/request':>22s} {'added µs':>9s}")
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"{name:28s} {median:22.2f} {median - base:9.2f}")
    added = {name: statistics.median(v - b for v, b in zip(values, timings["no capture"], strict=True))
             for name, values in timings.items() if name != "no capture"}
    print("added per round, paired median: " + ", ".join(f"{name} {value:.2f} µs" for name, value in added.items()))
    allocation_hook_cost()


def allocation_hook_cost(rounds: int = 41) -> None:
    """scout_apm's allocation hook on allocation-heavy code (JSON parsed and rebuilt), enabled and disabled
    in turn in this process: the cost every thread pays while TL_OTEL_SCOUT_ALLOCATIONS is on."""
    import json

    from scout_apm.core import objtrace

    if not objtrace.is_extension:
        print("scout_apm's _objtrace extension is not available here")
        return
    document = json.dumps([{"id": i, "name": f"item {i}", "tags": ["a", str(i)], "price": i * 1.5} for i in range(200)])

    def timed() -> float:
        started = time.thread_time()
        for _ in range(20):
            json.dumps([dict(row, total=row["price"] * 2) for row in json.loads(document)])
        return time.thread_time() - started

    ratios = []
    for _ in range(rounds):
        objtrace.disable()
        before = timed()
        objtrace.enable()
        hooked = timed()
        objtrace.disable()
        ratios.append(hooked / ((before + timed()) / 2))
    low, _, high = statistics.quantiles(ratios, n=4)
    print(f"allocation hook on allocation-heavy code: CPU x{statistics.median(ratios):.3f} "
          f"(quartiles x{low:.3f}-x{high:.3f}, {rounds} paired rounds)")
