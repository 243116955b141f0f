"""What the ``telemetry`` fixture captures, and the views a test asserts on."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk._logs import LogRecordProcessor
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

# Deterministic clock: 2026-01-01T00:00:00Z, advancing 1 ms each time the SDK reads it.
EPOCH_NS = 1_767_225_600_000_000_000
TICK_NS = 1_000_000


class Clock:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._ticks = itertools.count()
        self.last_ns = EPOCH_NS

    def __call__(self) -> int:
        self.last_ns = EPOCH_NS + next(self._ticks) * TICK_NS
        return self.last_ns

    def now_seconds(self) -> float:
        return self.last_ns / 1e9 + 1.0  # just after everything this test produced


class SequentialIds:
    """Trace ids 1, 2, 3... and span ids 1, 2, 3... within a test."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._traces, self._spans = itertools.count(1), itertools.count(1)

    def trace_id(self) -> int:
        return next(self._traces)

    def span_id(self) -> int:
        return next(self._spans)


class _CaptureProcessor:
    """Keeps each finished item, redacted exactly as the pipeline redacts it before any destination."""

    def __init__(self, redact: Callable[[Any], None]) -> None:
        self.items: list[Any] = []
        self._redact = redact
        self._lock = threading.Lock()

    def keep(self, item: Any) -> None:
        try:
            self._redact(item)
        except Exception:
            return
        with self._lock:
            self.items.append(item)

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class SpanCapture(_CaptureProcessor, SpanProcessor):
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        self.keep(span)


class LogCapture(_CaptureProcessor, LogRecordProcessor):
    def on_emit(self, log_record: Any) -> None:
        self.keep(log_record)


class MemoryChannel:
    """An alert channel that keeps notifications instead of sending them."""

    name = "memory"

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, notification: Any) -> bool:
        self.sent.append(notification)
        return True

    def wait_idle(self, timeout: float) -> bool:
        return True


class Telemetry:
    """The telemetry one test produced. Every view is computed when asked for, from the captured items."""

    def __init__(self, runtime: Any, spans: SpanCapture, logs: LogCapture, channel: MemoryChannel,
                 metric_reader: Any, clock: Clock) -> None:
        self._runtime, self._spans, self._logs = runtime, spans, logs
        self._channel, self._metric_reader, self._clock = channel, metric_reader, clock

    # -- raw ----------------------------------------------------------------------------------------
    @property
    def spans(self) -> list[ReadableSpan]:
        return list(self._spans.items)

    def span(self, name: str) -> ReadableSpan:
        found = [span for span in self._spans.items if span.name == name]
        if len(found) != 1:
            raise AssertionError(f"expected one span named {name!r}, found {len(found)}: "
                                 f"{sorted({s.name for s in self._spans.items})}")
        return found[0]

    @property
    def logs(self) -> list[dict[str, Any]]:
        records = []
        for data in self._logs.items:
            record = data.log_record
            records.append({"message": record.body, "level": record.severity_text,
                            "attributes": dict(record.attributes or {}),
                            "trace_id": record.trace_id, "span_id": record.span_id})
        return records

    def metrics(self) -> dict[str, list[dict[str, Any]]]:
        """Metric name → its data points (value and attributes), collected now."""
        points: dict[str, list[dict[str, Any]]] = {}
        data = self._metric_reader.get_metrics_data() if self._metric_reader is not None else None
        for resource_metrics in getattr(data, "resource_metrics", None) or []:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        if value is None:
                            value = {"count": getattr(point, "count", None), "sum": getattr(point, "sum", None)}
                        points.setdefault(metric.name, []).append(
                            {"value": value, "attributes": dict(point.attributes or {})})
        return points

    # -- as each destination would receive it -------------------------------------------------------
    def posthog_events(self) -> list[dict[str, Any]]:
        from tl_otel.exporters.posthog.mapping import MappingOptions, SpanMapper
        from tl_otel.startup.resource import distro_version

        settings = self._runtime.settings
        mapper = SpanMapper(MappingOptions(
            service=str(settings.service_name or "unknown_service"),
            distinct_id_attributes=tuple(settings.posthog_distinct_id_attributes),
            excluded_routes=tuple(settings.posthog_excluded_routes),
            api_request_sample_rate=1.0, rules=tuple(settings.posthog_events), lib_version=distro_version()))
        return mapper.events(self.spans)

    def posthog_event(self, name: str) -> dict[str, Any]:
        found = [event for event in self.posthog_events() if event["event"] == name]
        if len(found) != 1:
            raise AssertionError(f"expected one {name!r} event, found {len(found)}: "
                                 f"{[e['event'] for e in self.posthog_events()]}")
        return found[0]

    def scout_requests(self) -> list[dict[str, Any]]:
        """One entry per request Scout would receive: its operation, tags and the framed commands."""
        from tl_otel.exporters.scout.assembly import RequestAssembler
        from tl_otel.exporters.scout.commands import build

        assembler = RequestAssembler()
        requests = []
        for assembled in assembler.add(self.spans):
            message = build(assembled)
            commands = message["BatchCommand"]["commands"]
            operation = next(c["StartSpan"]["operation"] for c in commands if "StartSpan" in c)
            tags = {c["TagRequest"]["tag"]: c["TagRequest"]["value"] for c in commands if "TagRequest" in c}
            requests.append({"operation": operation, "tags": tags, "commands": commands})
        return requests

    def alerts(self) -> list[Any]:
        """Evaluate the alert rules over what this test produced and return the notifications sent."""
        engine = self._runtime.alert_engine
        if engine is None:
            return []
        engine.evaluate_once(now=self._clock.now_seconds())
        return list(self._channel.sent)

    def clear(self) -> None:
        self._spans.items.clear()
        self._logs.items.clear()
        self._channel.sent.clear()
