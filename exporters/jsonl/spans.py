"""Span exporter ``json``: one line per span worth a log line.

Worth a line: requests served (SERVER), worker tasks (CONSUMER), calls to remote services (CLIENT,
PRODUCER), engine runs, and any span that ended in error. Database calls are remote calls too, but one
line per query would drown the log: they get a line when they fail or take at least
``SLOW_DB_CALL_MS``. Other internal spans are detail for trace backends, unless TL_OTEL_JSON_ALL_SPANS asks for every
span (development: `tl-otel tail` then shows whole trees)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode

from tl_otel.exporters.jsonl.base import JsonLinesOptions, LineExporter
from tl_otel.exporters.jsonl.encoder import add_attributes, clean_value, encode_line, rfc3339
from tl_otel.pipeline.span_record import (
    ATTRIBUTES,
    END,
    EVENT_ATTRIBUTES,
    EVENT_NAME,
    EVENTS,
    KIND,
    NAME,
    PARENT_HEX,
    PID,
    SCOPE,
    SERVICE,
    SPAN_HEX,
    START,
    STATUS,
    STATUS_DESCRIPTION,
    TRACE_HEX,
    as_record,
)
from tl_otel.semantics.span_names import without_query

_NOTABLE_KINDS = frozenset(kind.value for kind in (SpanKind.SERVER, SpanKind.CONSUMER, SpanKind.CLIENT,
                                                    SpanKind.PRODUCER))
_ERROR = StatusCode.ERROR.value
_STATUS = {status.value: status.name.lower() for status in StatusCode}
_KIND = {kind.value: kind.name.lower() for kind in SpanKind}


SLOW_DB_CALL_MS = 100.0
# Values a destination's own span processor leaves on spans for its exporter alone (Scout's memory and
# allocation readings, exporters/scout/capture.py): numbers that mean nothing in a log line.
HANDOFF_PREFIX = "tl_otel.scout."


def is_notable(span: Any) -> bool:
    """Whether a span gets a line (a span record, or an SDK span)."""
    record = as_record(span)
    if record[STATUS] == _ERROR:
        return True
    attributes = record[ATTRIBUTES]
    kind = record[KIND]
    if kind in _NOTABLE_KINDS:
        if kind == SpanKind.CLIENT.value and ("db.system" in attributes or "db.system.name" in attributes):
            return (record[END] - record[START]) / 1e6 >= SLOW_DB_CALL_MS
        return True
    return "engine.id" in attributes


class JsonSpanExporter(LineExporter, SpanExporter):
    # Works from tl-otel's span records (tl_otel.pipeline.span_record), and receives only the spans it writes.
    tl_otel_reads_records = True

    def __init__(self, options: JsonLinesOptions | None = None) -> None:
        self.options = options or JsonLinesOptions.from_environment()

    @classmethod
    def from_settings(cls, settings: Any) -> JsonSpanExporter:
        return cls(JsonLinesOptions.from_settings(settings))

    def wants(self, record: tuple[Any, ...]) -> bool:
        return self.options.all_spans or is_notable(record)

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS if self._write_batch(spans) else SpanExportResult.FAILURE

    def _line(self, span: Any) -> tuple[int, bytes] | None:
        record = as_record(span)
        if not (self.options.all_spans or is_notable(record)):
            return None
        max_length = self.options.max_value_length
        error = record[STATUS] == _ERROR
        start, end = record[START], record[END]
        fields: dict[str, Any] = {
            "timestamp": rfc3339(start),
            "level": "ERROR" if error else "INFO",
            "type": "span",
            "logger": record[SCOPE],
            "message": clean_value(without_query(record[NAME]), max_length),
            "trace_id": record[TRACE_HEX],
            "span_id": record[SPAN_HEX],
            "parent_span_id": record[PARENT_HEX],
            "service.name": record[SERVICE],
            "process.pid": record[PID],
            "span.kind": _KIND[record[KIND]],
            "duration_ms": round((end - start) / 1e6, 3) if end and start else None,
            "status": _STATUS[record[STATUS]],
        }
        if record[STATUS_DESCRIPTION]:
            fields["status_message"] = clean_value(record[STATUS_DESCRIPTION], max_length)
        attributes = record[ATTRIBUTES]
        add_attributes(fields, attributes, max_length)
        for key in [key for key in attributes if key.startswith(HANDOFF_PREFIX)]:
            fields.pop(key, None)
        for event in record[EVENTS]:
            if event[EVENT_NAME] == "exception":
                add_attributes(fields, event[EVENT_ATTRIBUTES], max_length)
                break
        return (logging.ERROR if error else logging.INFO), encode_line(fields)
