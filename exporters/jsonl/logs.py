"""Log record exporter ``json``: one line per log record.

``extra=`` fields (which the logging bridge carries as attributes) become top-level keys, exactly as
the seed's ``logger.info('Engine executed', extra={'engine_id': ...})`` suggests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult

from tl_otel.exporters.jsonl.base import JsonLinesOptions, LineExporter
from tl_otel.exporters.jsonl.encoder import (
    add_attributes,
    clean_value,
    encode_line,
    level_name,
    rfc3339,
)
from tl_otel.pipeline.log_record import (
    ATTRIBUTES,
    BODY,
    PID,
    SCOPE,
    SERVICE,
    SEVERITY,
    SPAN_HEX,
    TIMESTAMP,
    TRACE_HEX,
    from_log,
)


def _levelno(value: int) -> int:
    # OTel severity numbers: 1-4 TRACE, 5-8 DEBUG, 9-12 INFO, 13-16 WARN, 17-20 ERROR, 21-24 FATAL.
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
    # Works from tl-otel's log records (tl_otel.pipeline.log_record).
    tl_otel_reads_records = True

    def __init__(self, options: JsonLinesOptions | None = None) -> None:
        self.options = options or JsonLinesOptions.from_environment()

    @classmethod
    def from_settings(cls, settings: Any) -> JsonLogExporter:
        return cls(JsonLinesOptions.from_settings(settings))

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        return LogRecordExportResult.SUCCESS if self._write_batch(batch) else LogRecordExportResult.FAILURE

    def _line(self, item: Any) -> tuple[int, bytes]:
        """One line for a log record (tl-otel's compact record, or an SDK log record)."""
        max_length = self.options.max_value_length
        record = item if type(item) is tuple else from_log(item)
        levelno = _levelno(record[SEVERITY])
        fields: dict[str, Any] = {
            "timestamp": rfc3339(record[TIMESTAMP]),
            "level": level_name(levelno),
            "type": "log",
            "logger": record[SCOPE],
            "message": clean_value(record[BODY], max_length),
            "trace_id": record[TRACE_HEX],
            "span_id": record[SPAN_HEX],
            "service.name": record[SERVICE],
            "process.pid": record[PID],
        }
        add_attributes(fields, record[ATTRIBUTES], max_length)
        return levelno, encode_line(fields)
