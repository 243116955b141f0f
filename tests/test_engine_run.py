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


def test_generator_functions_are_refused_at_decoration_with_what_to_do_instead(spans):
    def stream():
        yield 1

    async def stream_async():
        yield 1

    for func in (stream, stream_async):
        with pytest.raises(TypeError) as refused:
            engine_run("engine-gen")(func)
        message = str(refused.value)
        assert func.__qualname__ in message and "generator function" in message
        assert "with tl_otel.engine_run('engine-gen')" in message
    assert spans.get_finished_spans() == ()


def _by_span_id(spans):
    return {recorded.context.span_id: recorded for recorded in spans.get_finished_spans()}


def test_one_object_entered_by_two_threads_at_once_makes_two_independent_runs(spans):
    import threading

    shared = engine_run("engine-shared")
    both_inside, first_done = threading.Barrier(2, timeout=30), threading.Event()
    entered = {}

    def worker(name):
        try:
            with shared as span:
                entered[name] = span
                both_inside.wait()
                if name == "second":
                    assert first_done.wait(30)
                    raise ValueError("second run fails")
        except ValueError:
            pass
        finally:
            if name == "first":
                first_done.set()

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    recorded = _by_span_id(spans)
    assert len(recorded) == 2
    first, second = (recorded[entered[name].get_span_context().span_id] for name in ("first", "second"))
    assert first.attributes["engine.status"] == "success" and first.status.status_code is StatusCode.UNSET
    assert second.attributes["engine.status"] == "failed" and second.attributes["error.type"] == "ValueError"
    assert second.end_time >= first.end_time  # each ended by its own exit: the second waited for the first


def test_one_object_entered_by_two_asyncio_tasks_at_once_makes_two_independent_runs(spans):
    shared = engine_run("engine-shared")

    async def main():
        release_short, short_done = asyncio.Event(), asyncio.Event()
        entered = {}

        async def short():
            with shared as span:
                entered["short"] = span
                await release_short.wait()
            short_done.set()

        async def long():
            with shared as span:
                entered["long"] = span
                release_short.set()
                await short_done.wait()
                await asyncio.sleep(0.05)
                raise KeyError("long run fails")

        results = await asyncio.gather(short(), long(), return_exceptions=True)
        assert results[0] is None and isinstance(results[1], KeyError)
        return entered

    entered = asyncio.run(main())
    recorded = _by_span_id(spans)
    assert len(recorded) == 2
    short, long = (recorded[entered[name].get_span_context().span_id] for name in ("short", "long"))
    assert short.attributes["engine.status"] == "success"
    assert long.attributes["engine.status"] == "failed" and long.attributes["error.type"] == "KeyError"
    assert long.end_time - long.start_time > short.end_time - short.start_time
    assert short.parent is None and long.parent is None  # neither run became the other's child


def test_one_object_re_entered_nests_two_runs(spans):
    shared = engine_run("engine-nested")
    with shared as outer, shared as inner:
        assert inner is not outer
    recorded = _by_span_id(spans)
    inner_span = recorded[inner.get_span_context().span_id]
    assert inner_span.parent.span_id == outer.get_span_context().span_id
    assert {r.attributes["engine.status"] for r in recorded.values()} == {"success"}


def test_asyncio_cancellation_is_not_a_failure_and_propagates_unchanged(spans):
    from tl_otel.exporters.posthog.mapping import MappingOptions, SpanMapper

    shared = engine_run("engine-slow", execution_id="x2")

    @engine_run("engine-decorated")
    async def decorated(started):
        started.set()
        await asyncio.sleep(60)

    async def main():
        async def in_with(started):
            with shared:
                started.set()
                await asyncio.sleep(60)

        outcomes = []
        for body in (in_with, decorated):
            started = asyncio.Event()
            task = asyncio.create_task(body(started))
            await started.wait()
            task.cancel("stop")
            try:
                await task
            except asyncio.CancelledError as exc:
                outcomes.append((type(exc), exc.args))
        return outcomes

    assert asyncio.run(main()) == [(asyncio.CancelledError, ("stop",))] * 2
    recorded = spans.get_finished_spans()
    assert [r.attributes["engine.status"] for r in recorded] == ["cancelled", "cancelled"]
    assert all(r.status.status_code is StatusCode.UNSET and not r.events for r in recorded)
    assert all("error.type" not in r.attributes for r in recorded)

    mapper = SpanMapper(MappingOptions(service="svc", distinct_id_attributes=(), excluded_routes=(),
                                       api_request_sample_rate=1.0, rules=(), lib_version="test"))
    events = mapper.events(recorded)  # no $exception: only the runs' own events
    assert [(e["event"], e["properties"]["status"]) for e in events] == [("engine_cancelled", "cancelled")] * 2
    assert events[0]["properties"]["execution_id"] == "x2" and "error_type" not in events[0]["properties"]


def test_a_generator_closed_early_ends_its_run_as_cancelled(spans):
    def results():
        with engine_run("engine-stream"):
            yield from range(10)

    for item in results():
        if item == 2:
            break
    [recorded] = spans.get_finished_spans()
    assert recorded.attributes["engine.status"] == "cancelled" and not recorded.events
