"""Per-destination wire costs (issue 16 items 5 and 6), each variant interleaved round by round in one run,
CPU time of this process (all threads); the peers run in other processes so their CPU is not counted.

- Scout: the core-agent client's CPU per request and throughput for a burst of realistic requests, and the
  requests dropped at a paced 1,000 requests/s with the default 500-request queue; frames written by orjson
  against json.
- PostHog: CPU per event by gzip level and events per request (level 5 at 128 events per request was the
  previous setting: one 512-span batch of 4-span requests).
- JSON lines: µs per span line and log line, orjson path against the json path (byte-identical)."""

from __future__ import annotations

import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchmarks.posthog_delivery import SERVER
from benchmarks.posthog_delivery import spans as posthog_spans
from benchmarks.scout_translation import requests_spans
from examples.processes import REPO, free_port, wait_http

ROUNDS = 5


def _median_ratio(values: list[float], base: list[float]) -> float:
    return statistics.median(value / reference for value, reference in zip(values, base, strict=True))


# -- Scout -----------------------------------------------------------------------------------------------
def _scout_messages() -> list[dict[str, Any]]:
    from tl_otel.exporters.scout.assembly import RequestAssembler
    from tl_otel.exporters.scout.commands import build

    return [build(request) for request in RequestAssembler().add(requests_spans(200))]


def _fake_agent(path: str) -> subprocess.Popen:
    code = ("import sys; from examples.peers.fake_core_agent import FakeCoreAgent; FakeCoreAgent(sys.argv[1]); "
            "print('ready', flush=True); sys.stdin.read()")
    agent = subprocess.Popen([sys.executable, "-c", code, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert agent.stdout is not None
    agent.stdout.readline()
    return agent


def _client(path: str, **options: Any) -> Any:
    from tl_otel.exporters.scout.agent_client import CoreAgentClient

    client = CoreAgentClient(path, "bench", "abcdefghij0123456789", "bench-host", **options)
    return client


def _scout_burst(path: str, messages: list[dict[str, Any]], count: int) -> tuple[float, float]:
    client = _client(path, queue_size=count + 10)
    client.send(messages[0])
    client.flush(30)
    cpu, wall = time.process_time(), time.monotonic()
    for index in range(count):
        client.send(messages[index % len(messages)])
    assert client.flush(120)
    cpu, wall = time.process_time() - cpu, time.monotonic() - wall
    client.close()
    return cpu / count * 1e6, count / wall


def _scout_paced(path: str, messages: list[dict[str, Any]], rate: int, seconds: float) -> int:
    client = _client(path)  # the default queue: 500 requests
    client.send(messages[0])
    client.flush(30)
    started, sent = time.monotonic(), 0
    while sent < rate * seconds:
        ahead = started + sent / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        for _ in range(10):
            client.send(messages[sent % len(messages)])
            sent += 1
    client.flush(60)
    client.close()
    return client.stats.dropped_queue_full


def scout() -> None:
    from tl_otel.exporters.scout import agent_client

    messages = _scout_messages()
    encodes: dict[str, list[float]] = {"json": [], "orjson": []}
    for _ in range(ROUNDS):
        for name in encodes:
            started = time.process_time()
            for message in messages:
                if name == "orjson":
                    agent_client.encode(message)
                else:
                    json.dumps(message, separators=(", ", ": ")).encode("utf-8")
            encodes[name].append((time.process_time() - started) / len(messages) * 1e6)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "agent.sock")
        agent = _fake_agent(path)
        try:
            bursts = [_scout_burst(path, messages, 3000) for _ in range(ROUNDS)]
            drops = [_scout_paced(path, messages, 1000, 4.0) for _ in range(2)]
        finally:
            assert agent.stdin is not None
            agent.stdin.close()
            agent.wait()
    print(f"\nScout core-agent client ({len(agent_client.encode(messages[0]))}-byte requests, {ROUNDS} rounds)")
    print(f"frame encoding: json {statistics.median(encodes['json']):.1f} µs, orjson "
          f"{statistics.median(encodes['orjson']):.1f} µs per request "
          f"(paired ratio {_median_ratio(encodes['orjson'], encodes['json']):.2f})")
    print(f"burst of 3000: {statistics.median(b[0] for b in bursts):.1f} µs CPU per request (framing, queue, "
          f"write, reply reading), {statistics.median(b[1] for b in bursts):,.0f} requests/s")
    print(f"paced 1,000 requests/s for 4 s, queue 500: dropped {drops}")


# -- PostHog ---------------------------------------------------------------------------------------------
def posthog() -> None:
    from tl_otel.exporters.posthog import delivery as delivery_module
    from tl_otel.exporters.posthog.spans import PostHogSpanExporter
    from tl_otel.settings import resolve

    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    host = f"http://127.0.0.1:{port}"
    total = 6144
    variants = [(5, 128), (3, 128), (5, 512), (3, 512)]
    results: dict[tuple[int, int], list[float]] = {variant: [] for variant in variants}
    sizes: dict[tuple[int, int], float] = {}
    chosen = delivery_module.GZIP_LEVEL
    try:
        wait_http(host + "/", timeout=10)
        settings = resolve({"posthog_api_key": "phc_bench", "posthog_host": host, "service_name": "bench"}, {})
        events = PostHogSpanExporter.from_settings(settings).mapper.events(posthog_spans(total))
        for _ in range(ROUNDS):
            for level, per_request in variants:
                delivery_module.GZIP_LEVEL = level
                delivery = delivery_module.Delivery("phc_bench", host)
                started = time.process_time()
                for offset in range(0, total, per_request):
                    delivery.send(events[offset:offset + per_request])
                results[(level, per_request)].append((time.process_time() - started) / total * 1e6)
                assert delivery.stats.delivered == total
                delivery.close()
                body = b",".join(json.dumps(event).encode() for event in events[:per_request])
                sizes[(level, per_request)] = len(gzip.compress(body, compresslevel=level)) / per_request
    finally:
        delivery_module.GZIP_LEVEL = chosen
        server.terminate()
        server.wait()
    base = results[(5, 128)]
    print(f"\nPostHog delivery ({ROUNDS} rounds x {total} api_request events, keep-alive server in another process)")
    for (level, per_request), values in results.items():
        print(f"gzip {level}, {per_request:3d} events/request: {statistics.median(values):5.1f} µs CPU per event, "
              f"{sizes[(level, per_request)]:4.0f} bytes/event; paired ratio to gzip 5 at 128: "
              f"{_median_ratio(values, base):.2f}")


# -- JSON lines ------------------------------------------------------------------------------------------
def json_lines() -> None:
    from tl_otel.exporters.jsonl import encoder, spans

    captured: list[dict[str, Any]] = []

    def capture(fields: dict[str, Any]) -> bytes:
        captured.append(dict(fields))
        return b""

    exporter = spans.JsonSpanExporter()
    original = spans.encode_line
    spans.encode_line = capture
    try:
        for span in requests_spans(50):
            exporter._line(span)
    finally:
        spans.encode_line = original
    logs = [{"timestamp": "2026-11-29T19:40:00.123456Z", "level": "INFO", "type": "log", "logger": "app.engines",
             "message": f"engine run {index} finished", "trace_id": "0af7651916cd43dd8448eb211c80319c",
             "span_id": "b7ad6b7169203331", "service.name": "tl-engine-api", "process.pid": 1234,
             "engine_id": f"engine-{index}", "duration_ms": 12.5 + index, "rows": index * 3, "ok": True}
            for index in range(50)]
    print(f"\nJSON lines ({ROUNDS * 3} rounds; orjson {'present' if encoder.orjson else 'ABSENT'})")
    for kind, lines in (("span", captured), ("log", logs)):
        assert all(encoder.encode_line(fields) == encoder.encode_line_json(fields) for fields in lines)
        timings: dict[str, list[float]] = {"json": [], "orjson": []}
        for _ in range(ROUNDS * 3):
            for name, encode in (("json", encoder.encode_line_json), ("orjson", encoder.encode_line)):
                started = time.process_time()
                for _ in range(40):
                    for fields in lines:
                        encode(fields)
                timings[name].append((time.process_time() - started) / (40 * len(lines)) * 1e6)
        print(f"{kind} line: json {statistics.median(timings['json']):.2f} µs, orjson path "
              f"{statistics.median(timings['orjson']):.2f} µs (paired ratio "
              f"{_median_ratio(timings['orjson'], timings['json']):.2f}); lines byte-identical")


def run() -> None:
    json_lines()
    posthog()
    scout()


if __name__ == "__main__":
    run()
