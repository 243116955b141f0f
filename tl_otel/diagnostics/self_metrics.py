"""tl-otel's own numbers as OpenTelemetry metrics, under the names the semantic conventions define for SDK
self-observability (``otel.sdk.*``, semantic-conventions ``docs/otel/sdk-metrics.md``), plus the retries
only tl-otel's exporters make. Observable instruments read the counters the pipeline already keeps, so
nothing is added on the application thread; they are exported with every other metric.

``otel.component.type`` is ``tl_otel_fanout`` (the queue the application appends to) or
``tl_otel_destination`` (one per exporter); ``otel.component.name`` is the queue or destination name
(``spans``, ``traces-posthog``...). ``error.type`` names why items were not processed or exported."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation

_SIGNALS = (("span", "span_fanout"), ("log", "log_fanout"))


def _component(kind: str, name: str) -> dict[str, str]:
    return {"otel.component.type": kind, "otel.component.name": name}


def retries(destination: Any) -> int:
    delivery = getattr(destination.exporter, "delivery", None)
    client = getattr(destination.exporter, "client", None)
    count = getattr(getattr(delivery, "stats", None), "retries", 0) or 0
    count += getattr(getattr(client, "stats", None), "connect_failures", 0) or 0
    return int(count)


def register(meter_provider: Any, runtime: Any) -> None:
    meter = meter_provider.get_meter("tl_otel")

    def fanouts() -> Iterable[tuple[str, Any]]:
        for signal, attribute in _SIGNALS:
            fanout = getattr(runtime, attribute, None)
            if fanout is not None:
                yield signal, fanout

    def per_queue(signal: str, of_fanout: Callable[[Any], int], of_destination: Callable[[Any], int]):
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            for kind, fanout in fanouts():
                if kind == signal:
                    yield Observation(of_fanout(fanout), _component("tl_otel_fanout", fanout.name))
                    for destination in fanout.destinations:
                        yield Observation(of_destination(destination),
                                          _component("tl_otel_destination", destination.name))
        return observe

    def processed(signal: str):
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            for kind, fanout in fanouts():
                if kind == signal:
                    component = _component("tl_otel_fanout", fanout.name)
                    yield Observation(fanout.accepted, component)
                    # Error series appear once there is something to count (cumulative: they then stay).
                    if fanout.dropped:
                        yield Observation(fanout.dropped, {**component, "error.type": "queue_full"})
                    if fanout.dropped_unprepared:
                        yield Observation(fanout.dropped_unprepared, {**component, "error.type": "redaction_failed"})
                    if fanout.dropped_unreadable:
                        yield Observation(fanout.dropped_unreadable, {**component, "error.type": "record_failed"})
        return observe

    def exported(signal: str):
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            for kind, fanout in fanouts():
                if kind != signal:
                    continue
                for destination in fanout.destinations:
                    component = _component("tl_otel_destination", destination.name)
                    stats = destination.stats
                    yield Observation(stats.exported, component)
                    if stats.dropped_queue_full:
                        yield Observation(stats.dropped_queue_full, {**component, "error.type": "queue_full"})
                    for reason, count in stats.by_reason.items():
                        yield Observation(count, {**component, "error.type": reason})
        return observe

    def inflight(signal: str):
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            for kind, fanout in fanouts():
                if kind == signal:
                    for destination in fanout.destinations:
                        yield Observation(destination.in_flight, _component("tl_otel_destination", destination.name))
        return observe

    def observe_retries(options: CallbackOptions) -> Iterable[Observation]:
        for _, fanout in fanouts():
            for destination in fanout.destinations:
                yield Observation(retries(destination), _component("tl_otel_destination", destination.name))

    for signal, _ in _SIGNALS:
        unit = "{" + signal + "}"
        meter.create_observable_up_down_counter(
            f"otel.sdk.processor.{signal}.queue.size",
            [per_queue(signal, lambda f: f.queue_depth, lambda d: d.queue_depth)], unit=unit,
            description=f"{signal.capitalize()}s waiting in tl-otel's queues")
        meter.create_observable_up_down_counter(
            f"otel.sdk.processor.{signal}.queue.capacity",
            [per_queue(signal, lambda f: f.capacity, lambda d: d.capacity)], unit=unit,
            description="Capacity of tl-otel's queues")
        meter.create_observable_counter(
            f"otel.sdk.processor.{signal}.processed", [processed(signal)], unit=unit,
            description="Items the application handed over; with error.type, those dropped")
        meter.create_observable_counter(
            f"otel.sdk.exporter.{signal}.exported", [exported(signal)], unit=unit,
            description="Items each destination exported; with error.type, those it lost and why")
        meter.create_observable_up_down_counter(
            f"otel.sdk.exporter.{signal}.inflight", [inflight(signal)], unit=unit,
            description="Items being exported right now")
    meter.create_observable_counter(
        "tl_otel.exporter.retries", [observe_retries], unit="{retry}",
        description="Retried requests and reconnections of tl-otel's own exporters (PostHog, Scout)")
