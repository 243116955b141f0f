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
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from tl_otel.exporters.posthog.delivery import Delivery
from tl_otel.exporters.posthog.mapping import MappingOptions, SpanMapper
from tl_otel.pipeline.log_record import LogView, log_views
from tl_otel.startup.resource import distro_version


class PostHogSpanExporter(SpanExporter):
    tl_otel_accepts_unsampled = True
    # Works from tl-otel's span records (tl_otel.pipeline.span_record); receives only what ``wants`` keeps.
    tl_otel_reads_records = True
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
        from tl_otel.startup.resource import build_resource

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
        if not settings.posthog_host:
            raise ValueError("POSTHOG_HOST was refused (see the warning above): PostHog is off")
        delivery = Delivery(settings.posthog_api_key or "", settings.posthog_host, timeout=settings.posthog_timeout,
                            retry_window=settings.posthog_retry_window, use_gzip=settings.posthog_gzip)
        return cls(settings.posthog_api_key or "", settings.posthog_host, mapper, delivery)

    def wants(self, record: tuple[Any, ...]) -> bool:
        return self.mapper.wants(record)

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
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
    """The ids an ``$exception`` event takes from its span, taken from a log record."""

    name = None
    failed = False

    def __init__(self, record: LogView) -> None:
        name = record.attributes.get("exception.span_name")
        self.name = name if isinstance(name, str) else None
        self.trace_id = record.trace_id
        self.trace_hex = record.trace_hex or format(0, "032x")
        self.span_hex = record.span_hex or format(0, "016x")
        self.end_time = record.timestamp


class PostHogExceptionLogs(LogRecordExporter):
    """Log companion of the span exporter: ``$exception`` for log records that carry an exception."""

    # Works from tl-otel's log records (tl_otel.pipeline.log_record); receives only those with an exception.
    tl_otel_reads_records = True

    def __init__(self, spans: PostHogSpanExporter) -> None:
        self.spans = spans

    def wants(self, record: tuple[Any, ...]) -> bool:
        return "exception.type" in LogView(record).attributes

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        events = []
        with self.spans._lock:
            for record in log_views(batch):
                attributes = record.attributes
                if "exception.type" not in attributes:
                    continue
                # A logged exception is handled unless it ended its request in error (the logging bridge says).
                event = self.spans.mapper.exception_event(
                    _LogAsSpan(record), attributes, attributes, record.timestamp,
                    handled=attributes.get("exception.handled") is not False)
                if event is not None:
                    event["properties"]["logger"] = record.scope_name or None
                    events.append(event)
        if not events:
            return LogRecordExportResult.SUCCESS
        ok = self.spans.delivery.send(events)
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
