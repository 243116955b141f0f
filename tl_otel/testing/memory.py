"""An in-memory metric reader, selectable as ``OTEL_METRICS_EXPORTER=memory`` (used by the pytest plugin)."""

from __future__ import annotations

from opentelemetry.sdk.metrics.export import InMemoryMetricReader


class MemoryMetricReader(InMemoryMetricReader):
    pass
