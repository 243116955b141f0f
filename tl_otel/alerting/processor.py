"""``AlertingSpanProcessor``: counts what the alert rules need, in one-second buckets.

``on_end`` runs on the application thread: it classifies the span (a few attribute reads) and bumps
integers in the current bucket under a lock held for that update only. No I/O, no evaluation, and
nothing raises out of it. It sees every local root span, sampled or not (the sampler records unsampled
local roots), so counts do not shrink with trace sampling."""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

from tl_otel.request_kinds import API_REQUEST, TASK_RUN, kind_of
from tl_otel.span_attributes import first, of_span
from tl_otel.task_outcome import FAILURE, task_run_outcome

# counter slots per (second, signal, key)
TOTAL, ERRORS, SLOW, LIMITED = range(4)
API, TASK, PEER = "api", "task", "peer"
_SIGNALS = {SpanKind.SERVER: API, SpanKind.CONSUMER: TASK, SpanKind.CLIENT: PEER}
_REQUEST_KIND = {API: API_REQUEST, TASK: TASK_RUN}


def peer_of(attributes: Any) -> str | None:
    host = first(attributes, "server.address", "net.peer.name", "db.name")
    port = first(attributes, "server.port", "net.peer.port")
    system = first(attributes, "db.system.name", "db.system")
    if host is None:
        url = first(attributes, "url.full", "http.url")
        if url:
            from urllib.parse import urlsplit

            parts = urlsplit(str(url))
            host, port = parts.hostname, parts.port
    if host is None:
        return str(system) if system else None
    name = f"{host}:{port}" if port else str(host)
    return f"{system}://{name}" if system else name


class AlertingSpanProcessor(SpanProcessor):
    def __init__(self, service: str, latency_ms: int) -> None:
        self.service = service
        self.latency_ns = latency_ms * 1_000_000
        self._lock = threading.Lock()
        self._buckets: dict[int, dict[tuple[str, str], list[int]]] = {}
        # the last failing (or slow, or 429) span's trace id per (signal, key): "a trace to look at"
        self.example_traces: dict[tuple[str, str], str] = {}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        # try/except rather than contextlib.suppress: this runs on the application thread for every span.
        try:  # noqa: SIM105
            self._count(span)
        except Exception:
            pass

    def _count(self, span: ReadableSpan) -> None:
        signal = _SIGNALS.get(span.kind)
        if signal is None:
            return
        parent = span.parent
        if signal is not PEER and parent is not None and not parent.is_remote:
            return  # only local roots are requests / task runs
        attributes = of_span(span)
        if signal is not PEER and kind_of(span, attributes) != _REQUEST_KIND[signal]:
            return  # a WebSocket session or long-lived route: its length is no response time
        status = attributes.get("http.status_code")
        if status is None:
            status = attributes.get("http.response.status_code")
        failed = span.status.status_code is StatusCode.ERROR or (type(status) is int and status >= 500)
        end = span.end_time or 0
        if signal is API:
            key = attributes.get("http.route") or span.name
            slow = end - (span.start_time or end) > self.latency_ns
        elif signal is TASK:
            failed = task_run_outcome(attributes, span.status.status_code) == FAILURE  # a retry is not an error
            key = attributes.get("celery.task_name") or span.name
            slow = False
        else:
            key = peer_of(attributes) or span.name
            slow = False
        second = end // 1_000_000_000
        with self._lock:
            bucket = self._buckets.get(second)
            if bucket is None:
                bucket = self._buckets[second] = {}
            counts = bucket.get((signal, key))
            if counts is None:
                counts = bucket[(signal, key)] = [0, 0, 0, 0]
            counts[TOTAL] += 1
            if failed:
                counts[ERRORS] += 1
            if slow:
                counts[SLOW] += 1
            if status == 429:
                counts[LIMITED] += 1
        if (failed or slow or status == 429) and len(self.example_traces) < 10_000:
            self.example_traces[(signal, key)] = format(span.context.trace_id, "032x")

    def reset(self) -> None:
        """Forget every count (the pytest plugin starts each test from nothing)."""
        with self._lock:
            self._buckets.clear()

    def window(self, now_s: float, window_s: float) -> dict[tuple[str, str], list[int]]:
        """Totals per (signal, key) over the last ``window_s`` seconds; older buckets are discarded."""
        oldest = int(now_s - window_s) + 1
        totals: dict[tuple[str, str], list[int]] = {}
        with self._lock:
            for second in [s for s in self._buckets if s < oldest]:
                del self._buckets[second]
            snapshot = [(key, list(counts)) for bucket in self._buckets.values() for key, counts in bucket.items()]
        for key, counts in snapshot:
            target = totals.setdefault(key, [0, 0, 0, 0])
            for slot in range(4):
                target[slot] += counts[slot]
        return totals

    def drain_closed(self, now_s: float) -> dict[int, dict[tuple[str, str], list[int]]]:
        """Take the buckets of seconds that are over (for the shared store); the current one stays."""
        current = int(now_s)
        with self._lock:
            closed = {second: bucket for second, bucket in self._buckets.items() if second < current}
            for second in closed:
                del self._buckets[second]
        return closed

    def restore(self, buckets: dict[int, dict[tuple[str, str], list[int]]]) -> None:
        """Put drained buckets back (the store did not take them)."""
        with self._lock:
            for second, bucket in buckets.items():
                target = self._buckets.setdefault(second, {})
                for key, counts in bucket.items():
                    mine = target.setdefault(key, [0, 0, 0, 0])
                    for slot in range(4):
                        mine[slot] += counts[slot]

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
