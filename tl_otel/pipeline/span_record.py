"""The compact form of a finished span that tl-otel's own exporters work from.

Made once per span on the dispatcher thread, after redaction (:func:`from_span`), and handed to every
tl-otel destination instead of the SDK's span, which is then released at once. What the destinations
share is computed here, once: ids as hex, the request kind (``tl_otel.semantics.request_kinds``), the service and
pid of the resource, the exception events.

Why a plain tuple of plain values: a record is one object the garbage collector tracks (the tuple: CPython
never stops tracking a tuple that holds a dict), its attributes dict and every value in it are untracked, against
about ten tracked objects for an SDK span and its parts. Records waiting in a destination's queue (PostHog joins
batches for up to a second; Scout holds a request's children until its root ends) add one object each to what
the collector promotes to its oldest generation, where promoted objects bring on full collections. A tuple of
plain values also crosses a pipe with ``marshal`` as it is (benchmarks/export_helper.py).

:class:`SpanRecord` is a view over one record for readable exporter code: exporters make views while they
export (they die young) and keep only the tuples. Records are read-only: the attributes dict is the SDK
span's own, shared with any other exporter that received the span."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.trace import SpanKind, StatusCode

from tl_otel.semantics.request_kinds import kind_of
from tl_otel.semantics.span_attributes import as_dict
from tl_otel.startup.resource import identity

(NAME, KIND, TRACE_ID, SPAN_ID, PARENT_SPAN_ID, PARENT_IS_REMOTE, SAMPLED, START, END, STATUS, STATUS_DESCRIPTION,
 SCOPE, ATTRIBUTES, EVENTS, TRACE_HEX, SPAN_HEX, PARENT_HEX, REQUEST_KIND, SERVICE, PID) = range(20)
# An event in EVENTS: (name, timestamp, attributes).
EVENT_NAME, EVENT_TIME, EVENT_ATTRIBUTES = range(3)

_KINDS = {kind.value: kind for kind in SpanKind}
_STATUSES = {status.value: status for status in StatusCode}


def from_span(span: Any) -> tuple[Any, ...]:
    """The record of a ReadableSpan (or of anything with its interface).

    Read through the SDK's own fields where they are there: each ReadableSpan property is a function call, and
    this runs for every span (the redaction step relies on the same fields, tests/test_redaction.py)."""
    try:
        context, parent, status = span._context, span._parent, span._status
        scope, events, attributes = span._instrumentation_scope, span._events, span._attributes
        name, kind, start, end, resource = span._name, span._kind, span._start_time, span._end_time, span._resource
    except AttributeError:
        context, parent, status = span.context, span.parent, span.status
        scope, events, attributes = span.instrumentation_scope, span.events, span.attributes
        name, kind, start, end, resource = span.name, span.kind, span.start_time, span.end_time, span.resource
    trace_id, span_id = context.trace_id, context.span_id
    parent_id = parent.span_id if parent is not None else None
    service, pid = identity(resource)
    return (
        name,
        kind._value_,
        trace_id,
        span_id,
        parent_id,
        parent is not None and parent.is_remote,
        bool(context.trace_flags & 1),
        start or 0,
        end or 0,
        status.status_code._value_,
        status.description,
        scope.name if scope is not None else "",
        as_dict(attributes),
        _events(events),
        format(trace_id, "032x"),
        format(span_id, "016x"),
        format(parent_id, "016x") if parent_id is not None else None,
        kind_of(span) if kind is SpanKind.SERVER or kind is SpanKind.CONSUMER else None,
        service,
        pid,
    )


def _events(events: Any) -> tuple[tuple[str, int, Any], ...]:
    # The SDK's BoundedList answers len() in Python; its deque in C (most spans have no events).
    if not getattr(events, "_dq", events):
        return ()
    return tuple((event.name, event.timestamp, as_dict(event.attributes)) for event in events)


def is_sampled(record: tuple[Any, ...]) -> bool:
    return record[SAMPLED]


def record_field(index: int) -> Any:
    """A view's read-only property for one position of its record."""
    return property(lambda view: view.data[index])


class SpanRecord:
    """A view over one record, with the names of ReadableSpan where the meaning is the same."""

    __slots__ = ("data",)

    def __init__(self, data: tuple[Any, ...]) -> None:
        self.data = data

    name: str = record_field(NAME)  # type: ignore[assignment]
    trace_id: int = record_field(TRACE_ID)  # type: ignore[assignment]
    span_id: int = record_field(SPAN_ID)  # type: ignore[assignment]
    parent_span_id: int | None = record_field(PARENT_SPAN_ID)  # type: ignore[assignment]
    sampled: bool = record_field(SAMPLED)  # type: ignore[assignment]
    start_time: int = record_field(START)  # type: ignore[assignment]
    end_time: int = record_field(END)  # type: ignore[assignment]
    scope_name: str = record_field(SCOPE)  # type: ignore[assignment]
    attributes: Mapping[str, Any] = record_field(ATTRIBUTES)  # type: ignore[assignment]
    events: tuple[tuple[str, int, Mapping[str, Any]], ...] = record_field(EVENTS)  # type: ignore[assignment]
    trace_hex: str = record_field(TRACE_HEX)  # type: ignore[assignment]
    span_hex: str = record_field(SPAN_HEX)  # type: ignore[assignment]
    request_kind: str | None = record_field(REQUEST_KIND)  # type: ignore[assignment]
    service: Any = record_field(SERVICE)  # type: ignore[assignment]
    pid: Any = record_field(PID)  # type: ignore[assignment]

    @property
    def kind(self) -> SpanKind:
        return _KINDS[self.data[KIND]]

    @property
    def status_code(self) -> StatusCode:
        return _STATUSES[self.data[STATUS]]

    @property
    def failed(self) -> bool:
        return self.data[STATUS] == StatusCode.ERROR.value

    @property
    def is_local_root(self) -> bool:
        data = self.data
        return data[PARENT_SPAN_ID] is None or data[PARENT_IS_REMOTE]

    @property
    def duration_ms(self) -> float:
        data = self.data
        return round((data[END] - data[START]) / 1e6, 3)

    def __repr__(self) -> str:
        return f"SpanRecord({self.data[NAME]!r}, {self.data[SPAN_HEX]})"


def as_record(item: Any) -> tuple[Any, ...]:
    """A record as it is, or the record of an SDK span (an exporter used on its own, outside tl-otel's
    pipeline, or called directly in a test, still takes ReadableSpans)."""
    return item if type(item) is tuple else from_span(item)


def views(items: Iterable[Any]) -> list[SpanRecord]:
    return [SpanRecord(item if type(item) is tuple else from_span(item)) for item in items]


