"""Span exporter ``scout_errors``: failed requests and task runs → problems on Scout's Errors page.

Its own destination (queue, worker thread, deadline, circuit breaker), so a slow or hung errors host never
holds up the core agent's requests or any other backend. It receives only the roots that may be failures
(``wants``), sampled or not: scout_apm reports an error whether or not its request is sampled."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from tl_otel.exporters.scout.error_delivery import ErrorDelivery
from tl_otel.exporters.scout.errors import ProblemBuilder, is_candidate
from tl_otel.pipeline.span_record import views


class ScoutErrorsExporter(SpanExporter):
    tl_otel_accepts_unsampled = True
    tl_otel_reads_records = True

    def __init__(self, builder: ProblemBuilder, delivery: ErrorDelivery) -> None:
        self.builder = builder
        self.delivery = delivery

    @classmethod
    def from_settings(cls, settings: Any) -> ScoutErrorsExporter:
        if not settings.scout_key:
            raise ValueError("SCOUT_KEY is not set")
        builder = ProblemBuilder(hostname=settings.scout_hostname, revision_sha=settings.scout_revision_sha or "",
                                 ignored=settings.scout_errors_ignored_exceptions)
        delivery = ErrorDelivery(
            settings.scout_errors_host, settings.scout_key, settings.scout_name, hostname=settings.scout_hostname,
            environment=settings.environment, root=settings.scout_application_root or os.getcwd(),
            batch_size=settings.scout_errors_batch_size, timeout=settings.scout_errors_timeout,
            retry_window=settings.scout_errors_retry_window)
        return cls(builder, delivery)

    def wants(self, record: tuple[Any, ...]) -> bool:
        return is_candidate(record)

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        problems = [problem for span in views(spans) if (problem := self.builder.problem(span)) is not None]
        if not problems:
            return SpanExportResult.SUCCESS
        return SpanExportResult.SUCCESS if self.delivery.send(problems) else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.delivery.close()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True
