"""``AlertingSpanProcessor``: counts what the alert rules need, in one-second buckets.

``on_end`` runs on the application thread: it classifies the span (a few attribute reads) and bumps
integers in the current bucket under a lock held for that update only. No I/O, no evaluation, and
nothing raises out of it. It sees every local root span, sampled or not (the sampler records unsampled
local roots), so counts do not shrink with trace sampling.

Memory is bounded whether or not this process evaluates: at most ``max_seconds`` buckets are kept (creating
a bucket past that drops the oldest one, so a process whose evaluation thread is missing still stays flat),
and at most ``max_keys`` distinct routes, tasks and peers are tracked at a time; spans of any other key are
counted under ``OVERFLOW`` for their signal (``overflowed`` says how many, the engine warns once).

Keys are counted as the spans name them (no redaction on the application's thread); every bucket and
total leaves this processor through ``_published`` on the evaluation thread, which names each key as
``key_names.published_name`` says (redacted, encodable): the stores, the rules and the notifications only
ever see those names.

After a fork the child starts empty: the parent's buckets stay the parent's to report (counting them in
the child too would double them in the shared store), and the lock is new (another thread may have held
the parent's at the fork)."""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

from tl_otel.alerting.key_names import published_name
from tl_otel.integrations.celery import FAILURE, task_run_outcome
from tl_otel.semantics.request_kinds import API_REQUEST, TASK_RUN, kind_of
from tl_otel.semantics.span_attributes import first, of_span

# counter slots per (second, signal, key)
TOTAL, ERRORS, SLOW, LIMITED = range(4)
API, TASK, PEER = "api", "task", "peer"
_SIGNALS = {SpanKind.SERVER: API, SpanKind.CONSUMER: TASK, SpanKind.CLIENT: PEER}
_REQUEST_KIND = {API: API_REQUEST, TASK: TASK_RUN}
OVERFLOW = "(other: over TL_OTEL_ALERT_MAX_KEYS)"
Buckets = dict[int, dict[tuple[str, str], list[int]]]


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
    def __init__(self, service: str, latency_ms: int, max_keys: int = 1000, max_seconds: int = 3600) -> None:
        self.service = service
        self.latency_ns = latency_ms * 1_000_000
        self.max_keys = max_keys
        self.max_seconds = max(2, max_seconds)
        self._init_state()
        weak = weakref.WeakMethod(self._init_state)
        os.register_at_fork(after_in_child=lambda: (method := weak()) and method())

    def _init_state(self) -> None:
        self._lock = threading.Lock()
        self._buckets: Buckets = {}  # in insertion order, which is time order but for late spans
        # how many buckets hold each (signal, key): the keys tracked now, bounded by max_keys
        self._tracked: dict[tuple[str, str], int] = {}
        self.overflowed = 0
        # the last failing (or slow, or 429) span's trace id per (signal, key): "a trace to look at"
        self.example_traces: dict[tuple[str, str], str] = {}
        self._published_names: dict[tuple[str, str], tuple[str, str]] = {}  # evaluation thread only

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
        slot_key = (signal, key)
        with self._lock:
            buckets = self._buckets
            bucket = buckets.get(second)
            if bucket is None:
                if len(buckets) >= self.max_seconds:  # nobody pruned (no evaluation here): drop the oldest
                    self._forget(next(iter(buckets)))
                bucket = buckets[second] = {}
            counts = bucket.get(slot_key)
            if counts is None:
                tracked = self._tracked.get(slot_key)
                if tracked is None and len(self._tracked) >= self.max_keys:
                    self.overflowed += 1
                    slot_key = (signal, OVERFLOW)
                    counts = bucket.get(slot_key)
                    tracked = self._tracked.get(slot_key)
                if counts is None:
                    counts = bucket[slot_key] = [0, 0, 0, 0]
                    self._tracked[slot_key] = (tracked or 0) + 1
            counts[TOTAL] += 1
            if failed:
                counts[ERRORS] += 1
            if slow:
                counts[SLOW] += 1
            if status == 429:
                counts[LIMITED] += 1
        if (failed or slow or status == 429) and len(self.example_traces) < 10_000:
            self.example_traces[slot_key] = format(span.context.trace_id, "032x")

    def _forget(self, second: int) -> dict[tuple[str, str], list[int]]:
        """Remove one bucket and release its keys (called with the lock held)."""
        bucket = self._buckets.pop(second)
        tracked = self._tracked
        for key in bucket:
            left = tracked[key] - 1
            if left:
                tracked[key] = left
            else:
                del tracked[key]
        return bucket

    def _published(self, key: tuple[str, str]) -> tuple[str, str]:
        """The one place a key is named for what is outside this processor (evaluation thread)."""
        names = self._published_names
        name = names.get(key)
        if name is None:
            if len(names) >= 4 * self.max_keys:  # bounded like the keys themselves
                names.clear()
            name = names[key] = (key[0], published_name(key[1]))
        return name

    def _published_bucket(self, bucket: dict[tuple[str, str], list[int]]) -> dict[tuple[str, str], list[int]]:
        out: dict[tuple[str, str], list[int]] = {}
        for key, counts in bucket.items():
            target = out.get(self._published(key))
            if target is None:
                out[self._published(key)] = list(counts)
            else:  # two names that differ only in a secret are one key
                for slot in range(4):
                    target[slot] += counts[slot]
        return out

    def examples(self) -> dict[tuple[str, str], str]:
        """``example_traces`` by published key."""
        return {self._published(key): trace for key, trace in list(self.example_traces.items())}

    def tracked_keys(self) -> int:
        return len(self._tracked)

    def reset(self) -> None:
        """Forget every count (the pytest plugin starts each test from nothing)."""
        with self._lock:
            self._buckets.clear()
            self._tracked.clear()

    def window(self, now_s: float, window_s: float) -> dict[tuple[str, str], list[int]]:
        """Totals per (signal, key) over the last ``window_s`` seconds; older buckets are discarded."""
        oldest = int(now_s - window_s) + 1
        totals: dict[tuple[str, str], list[int]] = {}
        with self._lock:
            for second in [s for s in self._buckets if s < oldest]:
                self._forget(second)
            snapshot = [(key, list(counts)) for bucket in self._buckets.values() for key, counts in bucket.items()]
        for key, counts in snapshot:
            target = totals.setdefault(self._published(key), [0, 0, 0, 0])
            for slot in range(4):
                target[slot] += counts[slot]
        return totals

    def drain_closed(self, now_s: float | None = None) -> Buckets:
        """Take the buckets of seconds that are over (for the shared store); the current one stays. With no
        ``now_s``, take them all (the process is ending: its last counts go to the store too)."""
        with self._lock:
            seconds = [s for s in self._buckets if now_s is None or s < int(now_s)]
            taken = {second: self._forget(second) for second in seconds}
        return {second: self._published_bucket(bucket) for second, bucket in taken.items()}

    def restore(self, buckets: Buckets, oldest_s: float) -> None:
        """Put drained buckets back (the store did not take them), except those older than ``oldest_s``."""
        with self._lock:
            for second, bucket in sorted(buckets.items()):
                if second < oldest_s:
                    continue
                target = self._buckets.get(second)
                if target is None:
                    if len(self._buckets) >= self.max_seconds:
                        continue
                    target = self._buckets[second] = {}
                for key, counts in bucket.items():
                    mine = target.get(key)
                    if mine is None:
                        mine = target[key] = [0, 0, 0, 0]
                        self._tracked[key] = self._tracked.get(key, 0) + 1
                    for slot in range(4):
                        mine[slot] += counts[slot]

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
