"""The request-path benchmark's helpers on small inputs: ratios are paired within a round, rounds rotate, CPU
is attributed to the right thread group, and the load client counts what a real local server answered."""

from __future__ import annotations

import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from benchmarks.load_client import load
from benchmarks.paired import ratio, rotated, summary
from benchmarks.request_report import extra_span_ratio
from benchmarks.request_server import split_by_thread


def test_rounds_rotate_through_every_starting_variant():
    assert [rotated("abc", index)[0] for index in range(4)] == ["a", "b", "c", "a"]
    assert sorted(rotated("abc", 2)) == ["a", "b", "c"]


def test_ratios_are_paired_within_a_round_and_summarised_per_run():
    # A slow second round doubles both sides: paired, the ratio stays 2.
    runs = [[{"x": 2.0, "base": 1.0}, {"x": 4.0, "base": 2.0}, {"x": 3.0, "base": 1.0}],
            [{"x": 5.0, "base": 5.0}, {"base": 1.0}]]
    found = summary(runs, ratio("x", "base"))
    assert found == {"median": 1.5, "runs": [2.0, 1.0]}
    assert summary(runs, ratio("missing", "base")) is None


def test_extra_span_cost_is_the_difference_per_span_of_each_side():
    values = {"upstream, no exporter": 100.0, "upstream +5 spans": 110.0,
              "tl-otel, all + alerts": 120.0, "tl-otel all +5 spans": 135.0}
    assert extra_span_ratio(5)(values) == 1.5


def test_cpu_is_split_by_thread_group_with_exited_threads_in_other():
    before = {1: ("uvicorn", 1.0), 2: ("uvicorn", 0.5), 3: ("uvicorn", 0.0)}
    after = {1: ("uvicorn", 2.0), 2: ("uvicorn", 1.5), 3: ("uvicorn", 0.25), 4: ("worker-native", 0.25)}
    names = {"1": "MainThread", "2": "AnyIO worker thread", "3": "tl-otel-export-json"}
    split = split_by_thread(1, before, after, total=3.0, python_names=names)
    assert split == {"app": 2.0, "tl-otel": 0.25, "other": 0.75}


def test_load_client_counts_the_requests_a_local_server_answers():
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            paths.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = asyncio.run(load(server.server_address[1], connections=2, warmup=0.1, duration=0.3))
    finally:
        server.shutdown()
        server.server_close()
    assert 0 < result["requests"] <= len(paths)
    assert len(set(paths)) == len(paths) and all(path.startswith("/items/") for path in paths)
    assert result["p50_ms"] <= result["p99_ms"]
