"""Span exporter ``json``: one line per span worth a log line.

Worth a line: requests served (SERVER), worker tasks (CONSUMER), calls to remote services (CLIENT,
PRODUCER), engine runs, and any span that ended in error. Database calls are remote calls too, but one
line per query would drown the log: they get a line when they fail or take at least
``SLOW_DB_CALL_MS``. Other internal spans are detail for trace backends."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, StatusCode

from tl_otel.exporters.jsonl.base import JsonLinesOptions, LineExporter
from tl_otel.exporters.jsonl.encoder import add_attributes, clean_value, encode_line, identity, rfc3339
from tl_otel.span_attributes import of_span
from tl_otel.span_names import without_query

_NOTABLE_KINDS = {SpanKind.SERVER, SpanKind.CONSUMER, SpanKind.CLIENT, SpanKind.PRODUCER}
_STATUS = {StatusCode.UNSET: "unset", StatusCode.OK: "ok", StatusCode.ERROR: "error"}
_KIND = {kind: kind.name.lower() for kind in SpanKind}


SLOW_DB_CALL_MS = 100.0
# Values a destination's own span processor leaves on spans for its exporter alone (Scout's memory and
# allocation readings, exporters/scout/capture.py): numbers that mean nothing in a log line.
HANDOFF_PREFIX = "tl_otel.scout."


def is_notable(span: ReadableSpan) -> bool:
    if span.status.status_code is StatusCode.ERROR:
        return True
    attributes = of_span(span)
    if span.kind in _NOTABLE_KINDS:
        if span.kind is SpanKind.CLIENT and ("db.system" in attributes or "db.system.name" in attributes):
            duration_ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
            return duration_ms >= SLOW_DB_CALL_MS
        return True
    return "engine.id" in attributes


class JsonSpanExporter(LineExporter, SpanExporter):
    def __init__(self, options: JsonLinesOptions | None = None) -> None:
        self.options = options or JsonLinesOptions.from_environment()

    @classmethod
    def from_settings(cls, settings: Any) -> JsonSpanExporter:
        return cls(JsonLinesOptions.from_settings(settings))

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS if self._write_batch(spans) else SpanExportResult.FAILURE

    def _line(self, span: ReadableSpan) -> tuple[int, bytes] | None:
        if not is_notable(span):
            return None
        max_length = self.options.max_value_length
        context = span.context
        error = span.status.status_code is StatusCode.ERROR
        level = logging.ERROR if error else logging.INFO
        start, end = span.start_time or 0, span.end_time or 0
        service, pid = identity(span.resource)
        fields: dict[str, Any] = {
            "timestamp": rfc3339(start),
            "level": "ERROR" if error else "INFO",
            "type": "span",
            "logger": span.instrumentation_scope.name if span.instrumentation_scope else "",
            "message": clean_value(without_query(span.name), max_length),
            "trace_id": format(context.trace_id, "032x") if context else None,
            "span_id": format(context.span_id, "016x") if context else None,
            "parent_span_id": format(span.parent.span_id, "016x") if span.parent else None,
            "service.name": service,
            "process.pid": pid,
            "span.kind": _KIND[span.kind],
            "duration_ms": round((end - start) / 1e6, 3) if end and start else None,
            "status": _STATUS[span.status.status_code],
        }
        if span.status.description:
            fields["status_message"] = clean_value(span.status.description, max_length)
        attributes = of_span(span)
        add_attributes(fields, attributes, max_length)
        for key in [key for key in attributes if key.startswith(HANDOFF_PREFIX)]:
            fields.pop(key, None)
        for event in span.events:
            if event.name == "exception":
                add_attributes(fields, event.attributes, max_length)
                break
        return level, encode_line(fields)
