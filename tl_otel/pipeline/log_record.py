"""The compact form of a log record that tl-otel's own log exporters work from.

Made once per record on the log pipeline's dispatcher thread, after redaction (:func:`from_log`), for the
same reason as span records (``tl_otel.pipeline.span_record``): a plain tuple of plain values, one object the
garbage collector tracks where the SDK's record is a handful, which is released at once. Read through
:class:`LogView`; records are read-only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tl_otel.resource import identity

(TIMESTAMP, SEVERITY, BODY, ATTRIBUTES, TRACE_ID, SPAN_ID, TRACE_HEX, SPAN_HEX, SCOPE, SERVICE, PID) = range(11)


def _plain_attributes(attributes: Any) -> Any:
    inner = getattr(attributes, "_dict", None)
    if type(inner) is dict:
        return inner
    return dict(attributes) if attributes else {}


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
        _plain_attributes(record.attributes),
        trace_id,
        span_id,
        format(trace_id, "032x") if trace_id else None,
        format(span_id, "016x") if span_id else None,
        scope.name if scope is not None else "",
        service,
        pid,
    )


def _field(index: int) -> Any:
    return property(lambda view: view.data[index])


class LogView:
    """A view over one log record."""

    __slots__ = ("data",)

    def __init__(self, data: tuple[Any, ...]) -> None:
        self.data = data

    timestamp: int | None = _field(TIMESTAMP)
    severity_number: int = _field(SEVERITY)
    body: Any = _field(BODY)
    attributes: Mapping[str, Any] = _field(ATTRIBUTES)
    trace_id: int = _field(TRACE_ID)
    span_id: int = _field(SPAN_ID)
    trace_hex: str | None = _field(TRACE_HEX)
    span_hex: str | None = _field(SPAN_HEX)
    scope_name: str = _field(SCOPE)
    service: Any = _field(SERVICE)
    pid: Any = _field(PID)


def log_views(items: Iterable[Any]) -> list[LogView]:
    """Views over records, or over SDK log records (an exporter used outside tl-otel's pipeline, or a test)."""
    return [LogView(item if type(item) is tuple else from_log(item)) for item in items]
