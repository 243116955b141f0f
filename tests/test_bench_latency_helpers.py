"""The latency benchmark's helpers on small inputs: the open-loop schedule, nearest-rank percentiles, the pause
probe inside the server, the ratio to the better peer, the OTLP sink's counts, and the open-loop client timing
requests from when they were scheduled against a real local server that stalls."""

from __future__ import annotations

import asyncio
import gc
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from benchmarks.latency_report import ratio_to_best
from benchmarks.open_loop_client import Schedule, load
from benchmarks.pause_probe import GcPauses, SleepLateness
from benchmarks.percentiles import nearest_rank, summary_ms
from examples.peers.otlp_sink import OtlpSink
from examples.peers.waiting import wait_for


def test_the_schedule_hands_out_every_due_request_with_its_own_time_even_after_a_late_wakeup():
    schedule = Schedule(rate=200, start=10.0)
    assert schedule.due(9.999) == []
    assert schedule.due(10.0) == [10.0]
    # Woken 12 ms late: the two requests due meanwhile go out now, each keeping its scheduled time.
    assert schedule.due(10.0124) == pytest.approx([10.005, 10.010])
    assert schedule.next_due() == pytest.approx(10.015)
    with pytest.raises(ValueError, match="rate"):
        Schedule(rate=0, start=0.0)


def test_percentiles_are_nearest_rank():
    thousands = [float(value) for value in range(1, 4001)]
    assert nearest_rank(thousands, 0.999) == 3996.0  # exactly 4 of 4,000 were slower: not the maximum
    assert nearest_rank(thousands, 0.99) == 3960.0
    assert nearest_rank([float(value) for value in range(1, 11)], 0.5) == 5.0
    assert nearest_rank([7.0], 0.999) == 7.0
    assert nearest_rank([1.0, 2.0], 1.0) == 2.0
    assert math.isnan(nearest_rank([], 0.5))
    found = summary_ms([0.003, 0.001, 0.002])
    assert found == pytest.approx({"p50": 2.0, "p99": 3.0, "p99.9": 3.0, "max": 3.0})


def test_full_collections_are_timed_and_younger_ones_only_counted():
    now = [100.0]
    pauses = GcPauses(clock=lambda: now[0])
    pauses.on_gc("start", {"generation": 0})
    pauses.on_gc("stop", {"generation": 0})
    pauses.on_gc("start", {"generation": 2})
    now[0] += 0.043
    pauses.on_gc("stop", {"generation": 2})
    assert pauses.take() == {"full_pauses_ms": [pytest.approx(43.0)], "young_collections": 1}
    assert pauses.take() == {"full_pauses_ms": [], "young_collections": 0}


def test_the_gc_probe_sees_a_real_full_collection():
    pauses = GcPauses()
    pauses.install()
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(pauses.on_gc)
    taken = pauses.take()
    assert len(taken["full_pauses_ms"]) == 1 and taken["full_pauses_ms"][0] >= 0.0


def test_the_sleep_probe_keeps_its_longest_lateness_per_window():
    probe = SleepLateness(sleep_s=0.001)
    probe.observe(0.004)
    probe.observe(0.002)
    assert probe.take() == {"longest_lateness_ms": pytest.approx(3.0), "probe_wakeups": 2}
    assert probe.take() == {"longest_lateness_ms": 0.0, "probe_wakeups": 0}
    thread = probe.start()
    try:
        assert wait_for(lambda: probe.wakeups > 0, timeout=30)
    finally:
        probe.stop()
        thread.join(30)
    assert not thread.is_alive()


def test_the_target_compares_with_the_better_peer_of_the_same_round():
    of = ratio_to_best("ours", ("upstream", "scout"))
    assert of({"ours": 6.0, "upstream": 4.0, "scout": 3.0}) == 2.0
    assert of({"ours": 6.0, "upstream": 4.0}) is None


def test_the_otlp_sink_counts_the_spans_the_sdk_exporter_ships():
    sink = OtlpSink()
    try:
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{sink.url}/v1/traces")))
        tracer = provider.get_tracer("test")
        for index in range(3):
            with tracer.start_as_current_span(f"span {index}"):
                pass
        provider.shutdown()
        assert sink.take() == {"spans": 3, "log_records": 0}
        assert sink.take() == {"spans": 0, "log_records": 0}
    finally:
        sink.stop()


def test_open_loop_latency_counts_from_the_scheduled_time_so_a_stall_delays_every_request_behind_it():
    # One connection, 200 requests/s, and the server holds request 30 for 0.2 s. Requests 31-50 are scheduled
    # 5-100 ms after it was, so each waits at least 100 ms behind the stall: a client timing from the moment it
    # sent would see one slow request in a hundred, and a p99 that hides the stall.
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK wait

        def log_message(self, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            paths.append(self.path)
            if self.path == "/hello/30":
                time.sleep(0.2)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = asyncio.run(load(server.server_address[1], rate=200, connections=1, warmup=0.1, duration=0.5))
    finally:
        server.shutdown()
        server.server_close()
    assert result["answered"] == result["scheduled"] and 99 <= result["scheduled"] <= 101
    assert result["p99_ms"] >= 100.0
    assert result["p50_ms"] <= result["p99_ms"] <= result["p99.9_ms"] <= result["max_ms"]
    assert len(paths) == len(set(paths)) and all(path.startswith("/hello/") for path in paths)
