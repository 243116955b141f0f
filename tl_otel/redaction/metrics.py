"""Redaction of metrics: every collection a metric reader takes from the SDK passes through it.

The MeterProvider hands each reader a collect callback (``MetricReader._set_collect_callback``): push
readers (``PeriodicExportingMetricReader`` and its exporter) and pull readers (Prometheus) alike get their
``MetricsData`` from it and from nowhere else. ``install`` wraps that callback, so no exporter can see a
collection before it was redacted. It runs on the reader's thread (or the scrape), never the application's.

Redacting attributes can make two data points of one metric identical (``password=a`` and ``password=b``
both become ``password=REDACTED``): they are merged as the SDK would have aggregated them had it seen one
series (sums and counts added, histogram buckets added, a gauge's latest value kept). Points carry no
``tl.redacted`` attribute: it would change their identity."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import (
    Buckets,
    ExponentialHistogramDataPoint,
    Gauge,
    HistogramDataPoint,
    Metric,
    MetricReader,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)

from tl_otel.diagnostics.self_log import logger
from tl_otel.redaction.redactor import MARKER, Redactor, with_changes

# Every field of the metrics data classes and what is done with it (a test compares these with the SDK's
# dataclasses, so a field a new SDK version adds fails it instead of leaking).
METRIC_FIELDS: dict[str, frozenset[str]] = {
    "ResourceMetrics": frozenset({"resource", "scope_metrics", "schema_url"}),
    "ScopeMetrics": frozenset({"scope", "metrics", "schema_url"}),
    "Metric": frozenset({"name", "description", "unit", "data"}),
    "NumberDataPoint": frozenset({"attributes", "start_time_unix_nano", "time_unix_nano", "value", "exemplars"}),
    "HistogramDataPoint": frozenset({"attributes", "start_time_unix_nano", "time_unix_nano", "count", "sum",
                                     "bucket_counts", "explicit_bounds", "min", "max", "exemplars"}),
    "ExponentialHistogramDataPoint": frozenset({"attributes", "start_time_unix_nano", "time_unix_nano", "count",
                                                "sum", "scale", "zero_count", "positive", "negative", "flags",
                                                "min", "max", "exemplars"}),
    "Exemplar": frozenset({"filtered_attributes", "value", "time_unix_nano", "span_id", "trace_id"}),
}

Collect = Callable[..., "MetricsData | None"]


def install(reader: MetricReader, redactor: Redactor) -> None:
    """Make every collection ``reader`` gets pass through ``redactor``. Call before the reader is given to a
    MeterProvider (which sets the callback while it is built)."""
    set_callback = reader._set_collect_callback

    def set_redacting_callback(func: Collect | None) -> None:
        if func is None:
            set_callback(None)
            return

        def collect(metric_reader: MetricReader, timeout_millis: float = 10_000) -> MetricsData | None:
            data = func(metric_reader, timeout_millis=timeout_millis)
            if data is None:
                return None
            try:
                return redact_metrics_data(redactor, data)
            except Exception as exc:
                # Never sent unredacted: this collection is lost, and said so (at most once a minute).
                _warn_lost(exc)
                return None

        set_callback(collect)

    reader._set_collect_callback = set_redacting_callback  # type: ignore[method-assign]


_last_warning = [0.0]


def _warn_lost(exc: Exception) -> None:
    now = time.monotonic()
    if now - _last_warning[0] >= 60.0:
        _last_warning[0] = now
        logger.warning("a metrics collection could not be redacted and was not exported (%s: %s)",
                       type(exc).__name__, exc)


def redact_metrics_data(redactor: Redactor, data: MetricsData) -> MetricsData:
    """``data`` with every text redacted; the same objects wherever nothing changed."""
    if not redactor.enabled:
        return data
    resources = [_resource_metrics(redactor, item) for item in data.resource_metrics]
    if _all_unchanged(resources, data.resource_metrics):
        return data
    return MetricsData(resource_metrics=resources)


def _all_unchanged(redacted: list[Any], originals: Any) -> bool:
    """Each level is rebuilt only when something below it changed: the collection stays the SDK's own objects."""
    return all(a is b for a, b in zip(redacted, originals, strict=True))


def _resource_metrics(redactor: Redactor, item: ResourceMetrics) -> ResourceMetrics:
    resource = redactor.redact_resource(item.resource)
    scopes = [_scope_metrics(redactor, scope) for scope in item.scope_metrics]
    schema_url = redactor.scrub_text(item.schema_url) if item.schema_url else item.schema_url
    if resource is item.resource and schema_url is item.schema_url and _all_unchanged(scopes, item.scope_metrics):
        return item
    return ResourceMetrics(resource=resource, scope_metrics=scopes, schema_url=schema_url)


def _scope_metrics(redactor: Redactor, item: ScopeMetrics) -> ScopeMetrics:
    scope = redactor.redact_scope(item.scope)
    metrics = [_metric(redactor, metric) for metric in item.metrics]
    schema_url = redactor.scrub_text(item.schema_url) if item.schema_url else item.schema_url
    if scope is item.scope and schema_url is item.schema_url and _all_unchanged(metrics, item.metrics):
        return item
    return ScopeMetrics(scope=scope, metrics=metrics, schema_url=schema_url)


def _metric(redactor: Redactor, metric: Metric) -> Metric:
    scrub = redactor.scrub_text
    name = scrub(metric.name) if metric.name else metric.name
    description = scrub(metric.description) if metric.description else metric.description
    unit = scrub(metric.unit) if metric.unit else metric.unit
    points = metric.data.data_points
    new_points, changed = _points(redactor, points)
    if changed:
        new_points = _merged(new_points, changed, isinstance(metric.data, Gauge))
    if name is metric.name and description is metric.description and unit is metric.unit and not changed:
        return metric
    data = dataclasses.replace(metric.data, data_points=new_points) if changed else metric.data
    return Metric(name=name, description=description, unit=unit, data=data)


# Bound of the per-series cache (one entry per attribute set of every metric).
MAX_CACHED_SERIES = 16384


def _redacted_attributes(redactor: Redactor, attributes: Any) -> Any:
    cache = redactor.metric_attributes_cache
    cached = cache.get(id(attributes))
    if cached is not None and cached[0] is attributes:
        return cached[1]
    changes, _ = redactor.redact_attributes(attributes)
    redacted = with_changes(attributes, changes) if changes else attributes
    if len(cache) >= MAX_CACHED_SERIES:
        cache.clear()
    cache[id(attributes)] = (attributes, redacted)
    return redacted


def _points(redactor: Redactor, points: Sequence[Any]) -> tuple[Sequence[Any], set[int]]:
    """The points with their attributes and exemplars redacted, and the ids of those that changed."""
    out: list[Any] = []
    changed: set[int] = set()
    for point in points:
        attributes = point.attributes
        redacted = _redacted_attributes(redactor, attributes) if attributes else attributes
        exemplars = point.exemplars
        new_exemplars = _exemplars(redactor, exemplars) if exemplars else exemplars
        if redacted is not attributes or new_exemplars is not exemplars:
            point = dataclasses.replace(point, attributes=redacted, exemplars=new_exemplars)
            changed.add(id(point))
        out.append(point)
    return (out, changed) if changed else (points, changed)


def _exemplars(redactor: Redactor, exemplars: Sequence[Any]) -> Sequence[Any]:
    out = []
    changed = False
    for exemplar in exemplars:
        changes, _ = redactor.redact_attributes(exemplar.filtered_attributes)
        if changes:
            exemplar = dataclasses.replace(exemplar,
                                           filtered_attributes=with_changes(exemplar.filtered_attributes, changes))
            changed = True
        out.append(exemplar)
    return out if changed else exemplars


# -- merging points that redaction made identical ------------------------------------------------------
def _identity(attributes: Any) -> tuple[Any, ...]:
    return tuple(sorted((key, tuple(value) if isinstance(value, list) else value)
                        for key, value in (attributes or {}).items()))


def _carries_marker(attributes: Any) -> bool:
    for value in (attributes or {}).values():  # noqa: SIM110 - a plain loop: this runs per point
        if type(value) is str and MARKER in value:
            return True
    return False


def _merged(points: Sequence[Any], changed: set[int], gauge: bool) -> list[Any]:
    """Points that redaction made identical, merged. Only a changed point can now equal another one; it
    carries the marker, so an unchanged point can equal it only if it carries the marker as well: the
    others are kept as they are without computing their identity."""
    out: list[Any] = []
    where: dict[tuple[Any, ...], int] = {}
    for point in points:
        if id(point) not in changed and not _carries_marker(point.attributes):
            out.append(point)
            continue
        key = _identity(point.attributes)
        index = where.get(key)
        if index is None:
            where[key] = len(out)
            out.append(point)
        else:
            out[index] = _merge(out[index], point, gauge)
    return out


def _merge(a: Any, b: Any, gauge: bool) -> Any:
    # A gauge's points have no start time.
    starts = [t for t in (a.start_time_unix_nano, b.start_time_unix_nano) if t is not None]
    start = min(starts) if starts else None
    end = max(a.time_unix_nano or 0, b.time_unix_nano or 0)
    exemplars = [*a.exemplars, *b.exemplars]
    if isinstance(a, NumberDataPoint):
        # A gauge is a last value: the later one wins. A sum (delta or cumulative) adds.
        value = (b.value if (b.time_unix_nano or 0) >= (a.time_unix_nano or 0) else a.value) if gauge else (
            a.value + b.value)
        return dataclasses.replace(a, start_time_unix_nano=start, time_unix_nano=end, value=value,
                                   exemplars=exemplars)
    if isinstance(a, HistogramDataPoint) and list(a.explicit_bounds) == list(b.explicit_bounds):
        return dataclasses.replace(
            a, start_time_unix_nano=start, time_unix_nano=end, count=a.count + b.count, sum=a.sum + b.sum,
            bucket_counts=[x + y for x, y in zip(a.bucket_counts, b.bucket_counts, strict=True)],
            min=min(a.min, b.min), max=max(a.max, b.max), exemplars=exemplars)
    if isinstance(a, ExponentialHistogramDataPoint):
        scale, positive, negative = _common_buckets(a, b)
        return dataclasses.replace(
            a, start_time_unix_nano=start, time_unix_nano=end, count=a.count + b.count, sum=a.sum + b.sum,
            scale=scale, zero_count=a.zero_count + b.zero_count, positive=positive, negative=negative,
            flags=a.flags | b.flags, min=min(a.min, b.min), max=max(a.max, b.max), exemplars=exemplars)
    # Histograms of one instrument share their bounds; if they ever did not, the larger point is kept.
    return a if a.count >= b.count else b


# The SDK's default (and usual) number of buckets of an exponential histogram.
MAX_EXPONENTIAL_BUCKETS = 160


def _common_buckets(a: Any, b: Any) -> tuple[int, Buckets, Buckets]:
    """The buckets of two exponential points added at one scale: the lower of the two, lowered further until
    the buckets fit the SDK's default size. Lowering the scale by one merges neighbouring pairs of buckets
    (index >> 1), as the SDK does when it downscales."""
    scale = min(a.scale, b.scale)
    sides = []
    for side in ("positive", "negative"):
        counts: dict[int, int] = {}
        for point in (a, b):
            buckets = getattr(point, side)
            shift = point.scale - scale
            for offset, count in enumerate(buckets.bucket_counts):
                if count:
                    index = (buckets.offset + offset) >> shift
                    counts[index] = counts.get(index, 0) + count
        sides.append(counts)
    shift = 0
    while any(counts and (max(counts) >> shift) - (min(counts) >> shift) >= MAX_EXPONENTIAL_BUCKETS
              for counts in sides):
        shift += 1
    return scale - shift, _buckets(sides[0], shift), _buckets(sides[1], shift)


def _buckets(counts: dict[int, int], shift: int) -> Buckets:
    if not counts:
        return Buckets(offset=0, bucket_counts=[])
    shifted: dict[int, int] = {}
    for index, count in counts.items():
        shifted[index >> shift] = shifted.get(index >> shift, 0) + count
    low, high = min(shifted), max(shifted)
    return Buckets(offset=low, bucket_counts=[shifted.get(index, 0) for index in range(low, high + 1)])
