"""Span exporter ``posthog``: business events and ``$exception`` to PostHog's ``/batch/`` endpoint.

It runs on its destination's own worker thread (never the application's) and receives the local roots
of unsampled traces too, so business events do not shrink with trace sampling. It also offers a log
companion: ERROR records with ``exc_info`` become ``$exception`` events through the same occurrence
memory, so an exception recorded on spans and logged as well is sent once."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from tl_otel.exporters.posthog.delivery import Delivery
from tl_otel.exporters.posthog.mapping import MappingOptions, SpanMapper
from tl_otel.resource import distro_version
from tl_otel.span_attributes import plain


class PostHogSpanExporter(SpanExporter):
    tl_otel_accepts_unsampled = True
    # One HTTP request costs as much CPU as ~100 events in it (measured: 37 µs per event at 50 events per
    # request, 15 at 150, 8-11 at 500): the destination joins its queued batches up to this many spans
    # (at most half its queue), waiting up to a second for them. Flushes and shutdown do not wait.
    preferred_batch_items = 2048
    batch_linger = 1.0

    def __init__(self, api_key: str, host: str, mapper: SpanMapper, delivery: Delivery) -> None:
        if not api_key:
            raise ValueError("POSTHOG_API_KEY is not set")
        self.mapper = mapper
        self.delivery = delivery
        self._lock = threading.Lock()  # the span and log sides share the occurrence memory

    @classmethod
    def from_settings(cls, settings: Any) -> PostHogSpanExporter:
        from tl_otel.redaction import current
        from tl_otel.resource import build_resource

        # The service name is sent with every event: redacted like the resource every span carries.
        service = build_resource(settings, current()).attributes.get("service.name", "unknown_service")
        mapper = SpanMapper(MappingOptions(
            service=str(service),
            distinct_id_attributes=tuple(settings.posthog_distinct_id_attributes),
            excluded_routes=tuple(settings.posthog_excluded_routes),
            api_request_sample_rate=settings.posthog_api_request_sample_rate,
            rules=tuple(settings.posthog_events),
            lib_version=distro_version(),
        ))
        delivery = Delivery(settings.posthog_api_key or "", settings.posthog_host, timeout=settings.posthog_timeout,
                            retry_window=settings.posthog_retry_window, use_gzip=settings.posthog_gzip)
        return cls(settings.posthog_api_key or "", settings.posthog_host, mapper, delivery)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            events = self.mapper.events(spans)
        if not events:
            return SpanExportResult.SUCCESS
        return SpanExportResult.SUCCESS if self.delivery.send(events) else SpanExportResult.FAILURE

    def log_companion(self) -> LogRecordExporter:
        return PostHogExceptionLogs(self)

    def shutdown(self) -> None:
        self.delivery.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _LogAsSpan:
    """The parts of a span that the exception mapping reads, taken from a log record."""

    def __init__(self, record: Any) -> None:
        self.context = _Context(record.trace_id or 0, record.span_id or 0)
        self.name = None
        self.end_time = record.timestamp


class _Context:
    def __init__(self, trace_id: int, span_id: int) -> None:
        self.trace_id = trace_id
        self.span_id = span_id


class PostHogExceptionLogs(LogRecordExporter):
    """Log companion of the span exporter: ``$exception`` for log records that carry an exception."""

    def __init__(self, spans: PostHogSpanExporter) -> None:
        self.spans = spans

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        events = []
        with self.spans._lock:
            for data in batch:
                record = data.log_record
                attributes = plain(record.attributes)
                if "exception.type" not in attributes:
                    continue
                event = self.spans.mapper.exception_event(
                    _LogAsSpan(record), attributes, attributes, record.timestamp, handled=True)
                if event is not None:
                    event["properties"]["logger"] = data.instrumentation_scope.name if data.instrumentation_scope \
                        else None
                    events.append(event)
        if not events:
            return LogRecordExportResult.SUCCESS
        ok = self.spans.delivery.send(events)
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
