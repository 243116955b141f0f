"""Logs exporter ``posthog``: log records to PostHog's own OTLP logs endpoint (``/i/v1/logs``, bearer
key), with the standard OTLP exporter configured from the same settings. Opt-in
(``OTEL_LOGS_EXPORTER=json,posthog``): PostHog's Logs product, not analytics events.

Records from the ``posthog``, ``urllib3`` and ``requests`` loggers (the delivery path's own) and from
tl-otel are filtered out, so a delivery error never feeds back into what is delivered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from posthog import request as posthog_request

LOGS_PATH = "/i/v1/logs"
FILTERED_LOGGERS = ("posthog", "urllib3", "requests", "tl_otel")


def _filtered(name: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in FILTERED_LOGGERS)


class PostHogLogExporter(LogRecordExporter):
    def __init__(self, api_key: str, host: str, timeout: float = 10.0) -> None:
        if not api_key:
            raise ValueError("POSTHOG_API_KEY is not set")
        base = posthog_request.remove_trailing_slash(posthog_request.determine_server_host(host))
        self.endpoint = base + LOGS_PATH
        self._otlp = OTLPLogExporter(endpoint=self.endpoint, headers={"Authorization": f"Bearer {api_key}"},
                                     timeout=timeout, compression=Compression.Gzip)

    @classmethod
    def from_settings(cls, settings: Any) -> PostHogLogExporter:
        if not settings.posthog_host:
            raise ValueError("POSTHOG_HOST was refused (see the warning above): PostHog is off")
        return cls(settings.posthog_api_key or "", settings.posthog_host, settings.posthog_timeout)

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        kept = [data for data in batch
                if not (data.instrumentation_scope and _filtered(data.instrumentation_scope.name))]
        if not kept:
            return LogRecordExportResult.SUCCESS
        return self._otlp.export(kept)

    def shutdown(self) -> None:
        self._otlp.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._otlp.force_flush(timeout_millis)
