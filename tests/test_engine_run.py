"""tl_otel.engine_run: the span it makes and the exception it never alters."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from tl_otel import engine_run

_exporter = InMemorySpanExporter()


@pytest.fixture(autouse=True)
def spans():
    # The global provider can be set once per process; this file owns it (configure() tests run in
    # subprocesses).
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_exporter))
        trace.set_tracer_provider(provider)
    _exporter.clear()
    return _exporter


def test_success_as_context_manager(spans):
    with engine_run("engine-123", input_size=3, tags=["a", "b"]) as span:
        assert span.is_recording()
    [recorded] = spans.get_finished_spans()
    assert recorded.name == "engine.run"
    assert dict(recorded.attributes) == {"engine.id": "engine-123", "engine.status": "success",
                                         "input_size": 3, "tags": ("a", "b")}
    assert recorded.status.status_code is StatusCode.UNSET
    assert recorded.end_time > recorded.start_time


def test_failure_marks_the_span_and_propagates_the_same_exception(spans):
    error = ValueError("bad input")
    with pytest.raises(ValueError) as raised, engine_run("engine-9"):
        raise error
    assert raised.value is error
    [recorded] = spans.get_finished_spans()
    assert recorded.attributes["engine.status"] == "failed"
    assert recorded.attributes["error.type"] == "ValueError"
    assert recorded.status.status_code is StatusCode.ERROR
    [event] = recorded.events
    assert event.name == "exception" and event.attributes["exception.message"] == "bad input"


def test_an_exception_whose_str_raises_still_reaches_the_caller_unchanged(spans):
    class Nasty(Exception):
        def __str__(self):
            raise RuntimeError("str exploded")

    error = Nasty()
    with pytest.raises(Nasty) as raised, engine_run("engine-9"):
        raise error
    assert raised.value is error
    [recorded] = spans.get_finished_spans()
    assert recorded.attributes["engine.status"] == "failed"
    assert recorded.events[0].attributes["exception.type"] == "Nasty"


def test_as_decorator_sync_and_async(spans):
    @engine_run("engine-sync")
    def run(value):
        return value * 2

    @engine_run("engine-async")
    async def run_async(value):
        return value + 1

    assert run(21) == 42
    assert asyncio.run(run_async(1)) == 2
    assert run(1) == 2  # reusable: one span per call
    names = [s.attributes["engine.id"] for s in spans.get_finished_spans()]
    assert names == ["engine-sync", "engine-async", "engine-sync"]


def test_odd_attribute_values_do_not_break_the_run(spans):
    circular = {}
    circular["me"] = circular
    with engine_run("engine-odd", config=circular, raw=b"\xff"):
        pass
    [recorded] = spans.get_finished_spans()
    assert recorded.attributes["config"] == "{'me': '<cyclic>'}"
