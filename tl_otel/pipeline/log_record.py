"""The compact form of a log record that tl-otel's own log exporters work from.

Made once per record on the log pipeline's dispatcher thread, after redaction (:func:`from_log`), for the
same reason as span records (``tl_otel.pipeline.span_record``): a plain tuple of plain values, one object the
garbage collector tracks where the SDK's record is a handful, which is released at once. Read through
:class:`LogView`; records are read-only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tl_otel.pipeline.span_record import record_field
from tl_otel.semantics.span_attributes import as_dict
from tl_otel.startup.resource import identity

(TIMESTAMP, SEVERITY, BODY, ATTRIBUTES, TRACE_ID, SPAN_ID, TRACE_HEX, SPAN_HEX, SCOPE, SERVICE, PID) = range(11)


def from_log(data: Any) -> tuple[Any, ...]:
    """The record of a ReadableLogRecord (or ReadWriteLogRecord)."""
    record = data.log_record
    scope = data.instrumentation_scope
    service, pid = identity(data.resource)
    trace_id, span_id = record.trace_id or 0, record.span_id or 0
    severity = record.severity_number
    return (
        record.timestamp or record.observed_timestamp,
        getattr(severity, "value", 0) or 0,
        record.body,
        as_dict(record.attributes),
        trace_id,
        span_id,
        format(trace_id, "032x") if trace_id else None,
        format(span_id, "016x") if span_id else None,
        scope.name if scope is not None else "",
        service,
        pid,
    )


class LogView:
    """A view over one log record."""

    __slots__ = ("data",)

    def __init__(self, data: tuple[Any, ...]) -> None:
        self.data = data

    timestamp: int | None = record_field(TIMESTAMP)
    severity_number: int = record_field(SEVERITY)
    body: Any = record_field(BODY)
    attributes: Mapping[str, Any] = record_field(ATTRIBUTES)
    trace_id: int = record_field(TRACE_ID)
    span_id: int = record_field(SPAN_ID)
    trace_hex: str | None = record_field(TRACE_HEX)
    span_hex: str | None = record_field(SPAN_HEX)
    scope_name: str = record_field(SCOPE)
    service: Any = record_field(SERVICE)
    pid: Any = record_field(PID)


def log_views(items: Iterable[Any]) -> list[LogView]:
    """Views over records, or over SDK log records (an exporter used outside tl-otel's pipeline, or a test)."""
    return [LogView(item if type(item) is tuple else from_log(item)) for item in items]
