"""Metric exporter ``json``: one line per data point."""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    Sum,
)

from tl_otel.exporters.jsonl.base import JsonLinesOptions
from tl_otel.exporters.jsonl.encoder import add_attributes, encode_line, rfc3339


def _point_fields(data: Any, point: Any) -> dict[str, Any]:
    if isinstance(data, Histogram):
        return {
            "metric.type": "histogram",
            "count": point.count,
            "sum": point.sum,
            "min": point.min,
            "max": point.max,
            "bucket_counts": list(point.bucket_counts),
            "explicit_bounds": list(point.explicit_bounds),
        }
    if isinstance(data, Sum):
        return {"metric.type": "sum", "value": point.value, "monotonic": data.is_monotonic}
    if isinstance(data, Gauge):
        return {"metric.type": "gauge", "value": point.value}
    return {"metric.type": type(data).__name__.lower(), "value": getattr(point, "value", None)}


class JsonMetricExporter(MetricExporter):
    def __init__(self, options: JsonLinesOptions | None = None, self_metrics: bool = False) -> None:
        super().__init__()
        self.options = options or JsonLinesOptions.from_environment()
        # tl-otel's own otel.sdk.* metrics are a score of lines per interval: on stdout only when asked for
        # (health() and the shutdown summary line say the same); OTLP metric exporters always get them.
        self.self_metrics = self_metrics

    @classmethod
    def from_settings(cls, settings: Any) -> JsonMetricExporter:
        return cls(JsonLinesOptions.from_settings(settings), settings.json_self_metrics)

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        max_length = self.options.max_value_length
        lines = []
        for resource_metrics in metrics_data.resource_metrics:
            service = resource_metrics.resource.attributes.get("service.name")
            for scope_metrics in resource_metrics.scope_metrics:
                if scope_metrics.scope.name == "tl_otel" and not self.self_metrics:
                    continue
                for metric in scope_metrics.metrics:
                    for point in metric.data.data_points:
                        try:
                            fields: dict[str, Any] = {
                                "timestamp": rfc3339(point.time_unix_nano),
                                "level": "INFO",
                                "type": "metric",
                                "logger": scope_metrics.scope.name,
                                "message": metric.name,
                                "service.name": service,
                                "metric.unit": metric.unit or None,
                                **_point_fields(metric.data, point),
                            }
                            add_attributes(fields, point.attributes, max_length)
                            lines.append((logging.INFO, encode_line(fields)))
                        except Exception:
                            continue
        # A metric collection has no per-point count to keep: a lost line fails the export (the reader says so).
        lost = getattr(self.options.write(lines), "lost", None)
        return MetricExportResult.FAILURE if lost else MetricExportResult.SUCCESS

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True
