"""Compact records (issue #16): tl-otel's own exporters read plain tuples made once at the dispatcher, one object
for the garbage collector to track; the SDK's span is released as soon as the dispatcher has passed; each of
tl-otel's destinations receives only what it uses, and any other exporter still receives the SDK's objects."""

from __future__ import annotations

import gc
import io
import json
import weakref

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from tl_otel.app_thread.processors import FanoutSpanProcessor
from tl_otel.exporters.jsonl.base import JsonLinesOptions
from tl_otel.exporters.jsonl.spans import JsonSpanExporter
from tl_otel.exporters.posthog.delivery import _dumps, _encode_event
from tl_otel.exporters.posthog.mapping import MappingOptions, SpanMapper
from tl_otel.pipeline.deadline import Deadline
from tl_otel.pipeline.destination import Destination
from tl_otel.pipeline.fanout import Fanout
from tl_otel.pipeline.span_record import SpanRecord, from_span, is_sampled


class RecordingExporter:
    """A tl-otel-style exporter that reads records and keeps what it was given."""

    tl_otel_reads_records = True

    def __init__(self, wants=None) -> None:
        self.received: list = []
        self._wants = wants

    def wants(self, record) -> bool:
        return self._wants is None or self._wants(record)

    def export(self, batch):
        self.received.extend(batch)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def fanout_with(*exporters):
    destinations = [Destination(f"d{index}", exporter, 1000, getattr(exporter, "wants", None),
                                takes_records=getattr(exporter, "tl_otel_reads_records", False))
                    for index, exporter in enumerate(exporters)]
    fanout = Fanout("spans", destinations, 1000, 100, 60, record=from_span)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(FanoutSpanProcessor(fanout, 5.0))
    return provider, fanout


def test_tl_otel_exporters_get_records_and_any_other_exporter_gets_readable_spans():
    ours, theirs = RecordingExporter(), InMemorySpanExporter()
    provider, fanout = fanout_with(ours, theirs)
    with provider.get_tracer("t").start_as_current_span("GET /x", kind=SpanKind.SERVER,
                                                       attributes={"http.route": "/x"}):
        pass
    assert fanout.force_flush(Deadline(5))
    [record] = ours.received
    [span] = theirs.get_finished_spans()
    assert type(record) is tuple and isinstance(span, ReadableSpan)
    view = SpanRecord(record)
    assert (view.name, view.kind, view.trace_hex, view.span_hex, view.request_kind, view.attributes["http.route"]) == (
        "GET /x", SpanKind.SERVER, format(span.context.trace_id, "032x"), format(span.context.span_id, "016x"),
        "api_request", "/x")
    assert view.is_local_root and is_sampled(record)


def test_a_destination_receives_only_what_its_exporter_wants():
    servers = RecordingExporter(wants=lambda record: SpanRecord(record).kind is SpanKind.SERVER)
    everything = RecordingExporter()
    provider, fanout = fanout_with(servers, everything)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("root", kind=SpanKind.SERVER):
        for _ in range(3):
            with tracer.start_as_current_span("internal"):
                pass
    assert fanout.force_flush(Deadline(5))
    assert [SpanRecord(r).name for r in servers.received] == ["root"]
    assert len(everything.received) == 4


def test_a_record_is_one_object_for_the_collector_and_the_sdk_span_is_released():
    exporter = RecordingExporter()
    provider, fanout = fanout_with(exporter)
    with provider.get_tracer("t").start_as_current_span(
            "GET /x", kind=SpanKind.SERVER, attributes={"http.route": "/x", "http.status_code": 200}) as span:
        pass
    ended = weakref.ref(fanout._items[0])  # the ReadableSpan the SDK handed to on_end
    del span
    assert fanout.force_flush(Deadline(5))
    gc.collect()
    assert ended() is None  # nothing of tl-otel's holds the SDK's span once the dispatcher has passed
    [record] = exporter.received
    # Everything in it but the tuple itself is untracked: a record waiting in a queue is one object to promote.
    assert [item for item in record if gc.is_tracked(item)] == []


def test_json_lines_are_the_same_from_a_record_and_from_a_readable_span():
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span("GET /x", kind=SpanKind.SERVER,
                                                       attributes={"http.route": "/x"}) as span:
        span.set_status(Status(StatusCode.ERROR, "boom"))
        span.record_exception(ValueError("bad"))
    [readable] = memory.get_finished_spans()
    exporter = JsonSpanExporter(JsonLinesOptions(writer=_NullWriter()))
    assert exporter._line(readable) == exporter._line(from_span(readable))


def test_posthog_events_encode_to_the_same_json_with_orjson_and_with_the_json_module():
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("t").start_as_current_span(
            "GET /é", kind=SpanKind.SERVER, attributes={"http.route": "/é", "http.status_code": 500}):
        pass
    events = SpanMapper(MappingOptions("svc", (), (), 1.0, (), "0")).events(memory.get_finished_spans())
    assert events
    for event in events:
        assert json.loads(_encode_event(event)) == json.loads(_dumps(event))
    big = {"event": "x", "properties": {"n": 1 << 70}}  # beyond orjson's 64 bits: the json module takes it
    assert json.loads(_encode_event(big)) == big


class _NullWriter:
    def __init__(self) -> None:
        self.out = io.BytesIO()

    def write(self, lines, stderr_levelno) -> None:
        for _, line in lines:
            self.out.write(line)


def test_a_due_batch_ends_a_destination_lingering_for_a_larger_one():
    """An exporter that is not tl-otel's gets batches joined up to the batch size, but what has already waited
    the schedule delay at the dispatcher is exported without waiting again (here a linger of 60 s)."""
    from examples.peers.waiting import wait_for

    exporter = InMemorySpanExporter()
    destination = Destination("otlp-like", exporter, 1000, batch_items=100, linger=60.0)
    provider, fanout = fanout_with()
    tracer = provider.get_tracer("t")
    spans = []
    for name in ("first", "second"):
        with tracer.start_as_current_span(name):
            pass
        spans.append(fanout._items.pop())
    destination.offer([spans[0]])
    destination.offer([spans[1]], due=True)
    assert wait_for(lambda: len(exporter.get_finished_spans()) == 2, 30)
    assert destination.shutdown(Deadline(5))


def test_an_exporter_filter_that_raises_costs_only_its_items_and_the_dispatcher_goes_on():
    def wants(record):
        if SpanRecord(record).name == "poison":
            raise RuntimeError("a third-party filter's bug")
        return True

    exporter = RecordingExporter(wants=wants)
    provider, fanout = fanout_with(exporter)
    tracer = provider.get_tracer("t")
    for name in ("ok-1", "poison", "ok-2"):
        with tracer.start_as_current_span(name):
            pass
    assert fanout.force_flush(Deadline(5))
    assert [SpanRecord(r).name for r in exporter.received] == ["ok-1", "ok-2"]
    assert fanout.destinations[0].stats.by_reason == {"filter_failed": 1}
    with tracer.start_as_current_span("later"):
        pass
    assert fanout.force_flush(Deadline(5))
    assert SpanRecord(exporter.received[-1]).name == "later"
