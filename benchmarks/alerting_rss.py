"""Memory of alerting in a forked child: the parent configures the alerting processor and engine (default
settings, the default local store), forks, and the child runs 20,000 simulated seconds of server spans over
1,000 distinct routes (20 spans a simulated second, each route every 50 s) straight into ``on_end``. Reports
the child's RSS after the first window (300 simulated seconds, and one evaluation) and its growth from
there to the end (after one more evaluation).
With BENCH_ALERTS_BASELINE=<git ref>, the same child with that revision's processor and engine beside it.
Usage: ./run bench alerts-rss."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind

from benchmarks.git_baseline import module_at

SECONDS, ROUTES, PER_SECOND, WINDOW = 20_000, 1_000, 20, 300


def baseline_processor_class(ref: str) -> Any:
    """The AlertingSpanProcessor class as it was at ``ref`` (for before/after comparisons in one run)."""
    return module_at(ref, "tl_otel/alerting/processor.py", "baseline_alerting_processor").AlertingSpanProcessor


def rss_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def _child(processor: Any, engine: Any, out: int) -> None:
    import threading

    # Evaluations happen in this child only if it has an evaluation thread (before the fix it had none).
    evaluates = any(thread.name == "tl-otel-alerts" for thread in threading.enumerate())
    start = int(time.time()) - SECONDS
    context = SpanContext(0x1234, 0x5678, is_remote=False)
    rss_after_window = 0
    index = 0
    for second in range(SECONDS):
        end = (start + second) * 1_000_000_000
        for _ in range(PER_SECOND):
            route = f"/items/{index % ROUTES}/detail"
            index += 1
            processor.on_end(ReadableSpan(name=f"GET {route}", context=context, kind=SpanKind.SERVER,
                                          attributes={"http.route": route, "http.status_code": 200},
                                          start_time=end - 1_000_000, end_time=end))
        if second == WINDOW + 10:
            # One evaluation as the thread does every 10 s in real time (the simulated seconds run faster):
            # what its first use costs (the store's library and connection) belongs to the baseline.
            if evaluates:
                engine.evaluate_once()
            rss_after_window = rss_kib()
    if evaluates:
        engine.evaluate_once()
    os.write(out, f"{rss_after_window} {rss_kib()}".encode())


def measure(processor_class: Any, engine_class: Any) -> tuple[int, int]:
    from tl_otel.alerting.setup import build_store
    from tl_otel.settings import resolve

    settings = resolve({}, {})
    max_seconds = int(settings.alert_window_s + settings.alert_eval_interval_s) + 2
    try:
        processor = processor_class("bench", settings.alert_latency_ms, settings.alert_max_keys, max_seconds)
    except TypeError:  # an older processor without the bounds
        processor = processor_class("bench", settings.alert_latency_ms)
    with tempfile.TemporaryDirectory() as folder:
        os.environ["XDG_RUNTIME_DIR"] = folder  # the default local store, in a private directory of its own
        store = build_store(settings, "bench")
        engine = engine_class(processor, settings, "bench", [], store=store)
        engine.start()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                _child(processor, engine, write)
            finally:
                os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        after_window, final = (int(x) for x in os.read(read, 100).split())
        os.close(read)
        engine.stop()
    return after_window, final


def run() -> None:
    from tl_otel.alerting.engine import AlertEngine
    from tl_otel.alerting.processor import AlertingSpanProcessor

    print(f"\nAlerting memory in a forked child: {SECONDS:,} simulated seconds x {PER_SECOND} spans over "
          f"{ROUTES:,} routes")
    variants = [("now", AlertingSpanProcessor, AlertEngine)]
    ref = os.environ.get("BENCH_ALERTS_BASELINE")
    if ref:
        processor_class = baseline_processor_class(ref)
        engine_module = module_at(ref, "tl_otel/alerting/engine.py", "baseline_alerting_engine")
        variants.insert(0, (ref, processor_class, engine_module.AlertEngine))
    for name, processor_class, engine_class in variants:
        after_window, final = measure(processor_class, engine_class)
        print(f"  {name}: RSS {after_window / 1024:.1f} MiB after the first window, {final / 1024:.1f} MiB at the "
              f"end: {(final - after_window) / 1024:+.1f} MiB")
