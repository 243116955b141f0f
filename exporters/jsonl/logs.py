"""Log record exporter ``json``: one line per log record.

``extra=`` fields (which the logging bridge carries as attributes) become top-level keys, exactly as
the seed's ``logger.info('Engine executed', extra={'engine_id': ...})`` suggests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from tl_otel.exporters.jsonl.base import JsonLinesOptions, LineExporter
from tl_otel.exporters.jsonl.encoder import (
    add_attributes,
    clean_value,
    encode_line,
    identity,
    level_name,
    rfc3339,
)


def _levelno(severity_number: Any) -> int:
    # OTel severity numbers: 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL.
    value = getattr(severity_number, "value", 0) or 0
    if value >= 21:
        return 50
    if value >= 17:
        return 40
    if value >= 13:
        return 30
    if value >= 9:
        return 20
    return 10


class JsonLogExporter(LineExporter, LogRecordExporter):
    def __init__(self, options: JsonLinesOptions | None = None) -> None:
        self.options = options or JsonLinesOptions.from_environment()

    @classmethod
    def from_settings(cls, settings: Any) -> JsonLogExporter:
        return cls(JsonLinesOptions.from_settings(settings))

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        return LogRecordExportResult.SUCCESS if self._write_batch(batch) else LogRecordExportResult.FAILURE

    def _line(self, data: Any) -> tuple[int, bytes]:
        max_length = self.options.max_value_length
        record = data.log_record
        levelno = _levelno(record.severity_number)
        scope = data.instrumentation_scope
        service, pid = identity(data.resource)
        fields: dict[str, Any] = {
            "timestamp": rfc3339(record.timestamp or record.observed_timestamp),
            "level": level_name(levelno),
            "type": "log",
            "logger": scope.name if scope else "",
            "message": clean_value(record.body, max_length),
            "trace_id": format(record.trace_id, "032x") if record.trace_id else None,
            "span_id": format(record.span_id, "016x") if record.span_id else None,
            "service.name": service,
            "process.pid": pid,
        }
        add_attributes(fields, record.attributes, max_length)
        return levelno, encode_line(fields)
