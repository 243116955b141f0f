"""Assembling Scout requests: one per local root span (SERVER, or a Celery CONSUMER run) with its
in-process descendants.

Spans reach the exporter in the order they ended, so a request's children arrive with their root or in
earlier batches (children end first). Spans wait in a bounded buffer until their local root arrives;
the root then takes every buffered descendant. Limits (counted, never silent):
- a descendant that ends after its root has been sent is ``late``;
- a span whose root never arrives within ``window`` seconds, or that is pushed out when the buffer holds
  ``max_spans``, is ``evicted``;
- spans under a local root that is not a request (a script's INTERNAL or CLIENT root, a WebSocket session or
  a long-lived route) are ``not_request``;
- a web request the router matched to no route (404/405 with no ``http.route``) is not sent, as scout_apm's
  Starlette integration sends only requests that reached an endpoint: it counts in ``unrouted``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import SpanKind

from tl_otel.pipeline.span_record import END, SpanRecord, views
from tl_otel.semantics.request_kinds import API_REQUEST, TASK_RUN, kind_of
from tl_otel.semantics.span_attributes import first, of_span

MAX_SPANS_PER_REQUEST = 1500  # Scout's own agent caps a request at this many spans
# A router answers these itself when no route matches; with a route they come from the endpoint.
UNROUTED_STATUSES = frozenset({404, 405})


@dataclass
class AssemblyStats:
    requests: int = 0
    late: int = 0
    evicted: int = 0
    not_request: int = 0
    truncated: int = 0
    unrouted: int = 0


@dataclass
class Assembled:
    root: SpanRecord
    descendants: list[SpanRecord] = field(default_factory=list)


def is_sent_to_scout(span: Any) -> bool:
    """The one test of whether a finished local root (an SDK span, on the application's thread) becomes a
    Scout request: an API request or a task run (``tl_otel.semantics.request_kinds``; a WebSocket session or a
    long-lived route is not one, as scout_apm's own integrations send no request for them) that a route
    matched (see ``_is_unrouted``)."""
    attributes = of_span(span)
    return kind_of(span, attributes) in (API_REQUEST, TASK_RUN) and not _is_unrouted(span.kind, attributes)


def _is_unrouted(kind: SpanKind, attributes: Mapping[str, Any]) -> bool:
    """A web request no route matched: the router's own 404/405, no ``http.route``. A server without a
    router never sets ``http.route`` either; its other responses are still requests (only the router's
    refusals are dropped, so an app with no router does not lose every request)."""
    if kind is not SpanKind.SERVER or "http.route" in attributes:
        return False
    return first(attributes, "http.response.status_code", "http.status_code") in UNROUTED_STATUSES


class RequestAssembler:
    def __init__(self, window: float = 30.0, max_spans: int = 20_000) -> None:
        self.window = window
        self.max_spans = max_spans
        self.stats = AssemblyStats()
        # span_id -> (span record, arrival time); insertion order is arrival order, for eviction. The records
        # are plain tuples the garbage collector stops tracking (tl_otel.pipeline.span_record), not views.
        self._waiting: OrderedDict[tuple[int, int], tuple[tuple[Any, ...], float]] = OrderedDict()
        self._children: dict[tuple[int, int], list[tuple[int, int]]] = {}
        self._sent_roots: OrderedDict[tuple[int, int], None] = OrderedDict()

    @staticmethod
    def _key(trace_id: int, span_id: int) -> tuple[int, int]:
        return trace_id, span_id

    def add(self, spans: list[Any]) -> list[Assembled]:
        """Span records (or SDK spans) in end order → the requests whose roots arrived."""
        now = time.monotonic()
        ready: list[Assembled] = []
        for span in views(spans):
            trace_id, span_id = span.trace_id, span.span_id
            if span.is_local_root:
                descendants = self._take_descendants(self._key(trace_id, span_id))
                if _is_unrouted(span.kind, span.attributes):
                    self.stats.unrouted += 1
                elif span.request_kind in (API_REQUEST, TASK_RUN):
                    if len(descendants) > MAX_SPANS_PER_REQUEST:
                        self.stats.truncated += len(descendants) - MAX_SPANS_PER_REQUEST
                        descendants = descendants[-MAX_SPANS_PER_REQUEST:]
                    ready.append(Assembled(span, descendants))
                    self.stats.requests += 1
                    self._remember_root(trace_id, span_id)
                else:
                    self.stats.not_request += len(descendants)
                continue
            parent_key = self._key(trace_id, span.parent_span_id)
            if self._is_sent_root_or_under_one(parent_key):
                self.stats.late += 1
                continue
            key = self._key(trace_id, span_id)
            self._waiting[key] = (span.data, now)
            self._children.setdefault(parent_key, []).append(key)
        self._evict(now)
        return ready

    def _take_descendants(self, root_key: tuple[int, int]) -> list[SpanRecord]:
        collected: list[tuple[Any, ...]] = []
        stack = list(self._children.pop(root_key, ()))
        while stack:
            key = stack.pop()
            entry = self._waiting.pop(key, None)
            if entry is not None:
                collected.append(entry[0])
            stack.extend(self._children.pop(key, ()))
        # Completion order (children before parents), as Scout's own agent sends them.
        collected.sort(key=lambda record: record[END])
        return [SpanRecord(record) for record in collected]

    def _remember_root(self, trace_id: int, span_id: int) -> None:
        self._sent_roots[(trace_id, span_id)] = None
        if len(self._sent_roots) > 10_000:
            self._sent_roots.popitem(last=False)

    def _is_sent_root_or_under_one(self, parent_key: tuple[int, int]) -> bool:
        # A late child's parent is the sent root itself, or a descendant that went out with it.
        return parent_key in self._sent_roots and parent_key not in self._waiting

    def _evict(self, now: float) -> None:
        while self._waiting:
            _key, (_span, arrived) = next(iter(self._waiting.items()))
            if len(self._waiting) <= self.max_spans and now - arrived < self.window:
                break
            self._waiting.popitem(last=False)
            self.stats.evicted += 1
        if not self._waiting:
            self._children.clear()

    @property
    def buffered(self) -> int:
        return len(self._waiting)
