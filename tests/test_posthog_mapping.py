"""Spans → PostHog events (unit level: spans from an in-memory SDK provider)."""

from __future__ import annotations

import pytest
from opentelemetry.trace import SpanKind, Status, StatusCode

from tl_otel.exporters.posthog.mapping import MappingOptions, SpanMapper


def options(**changes):
    base = dict(service="tl-engine-api", distinct_id_attributes=("enduser.id",), excluded_routes=("/health",),
                api_request_sample_rate=1.0, rules=(), lib_version="test")
    base.update(changes)
    return MappingOptions(**base)


def server_span(tracer, route="/engines/{engine_id}", status=200, **extra):
    attributes = {"http.method": "GET", "http.route": route, "http.target": route + "?q=1",
                  "http.status_code": status, **extra}
    with tracer.start_as_current_span(f"GET {route}", kind=SpanKind.SERVER, attributes=attributes) as span:
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))


def test_server_span_becomes_api_request(recorder):
    tracer, memory = recorder
    server_span(tracer)
    [event] = SpanMapper(options()).events(memory.get_finished_spans())
    span = memory.get_finished_spans()[0]
    assert event["event"] == "api_request"
    props = event["properties"]
    assert (props["method"], props["route"], props["status_code"], props["path"]) == (
        "GET", "/engines/{engine_id}", 200, "/engines/{engine_id}")
    assert props["service"] == "tl-engine-api" and props["duration_ms"] >= 0 and props["success"] is True
    assert props["$trace_id"] == format(span.context.trace_id, "032x")
    assert props["$span_id"] == format(span.context.span_id, "016x")
    assert event["distinct_id"] == "service:tl-engine-api" and props["$process_person_profile"] is False
    assert event["timestamp"].endswith("+00:00")


def test_uuid_is_the_same_on_every_translation_of_a_span(recorder):
    tracer, memory = recorder
    server_span(tracer)
    spans = memory.get_finished_spans()
    first = SpanMapper(options()).events(spans)[0]["uuid"]
    assert SpanMapper(options()).events(spans)[0]["uuid"] == first


def test_excluded_routes_and_sampling_keep_failures(recorder):
    tracer, memory = recorder
    server_span(tracer, route="/health")
    for _ in range(50):
        server_span(tracer, route="/engines")
    server_span(tracer, route="/engines", status=503)
    events = SpanMapper(options(api_request_sample_rate=0.0)).events(memory.get_finished_spans())
    assert [(e["properties"]["route"], e["properties"]["status_code"]) for e in events] == [("/engines", 503)]
    half = SpanMapper(options(api_request_sample_rate=0.5)).events(memory.get_finished_spans())
    assert 5 < len(half) < 46


def test_enduser_id_identifies_the_person(recorder):
    tracer, memory = recorder
    server_span(tracer, **{"enduser.id": "user-42"})
    [event] = SpanMapper(options()).events(memory.get_finished_spans())
    assert event["distinct_id"] == "user-42" and "$process_person_profile" not in event["properties"]


def test_celery_run_span_becomes_worker_task(recorder):
    tracer, memory = recorder
    attributes = {"celery.action": "run", "celery.task_name": "tl_engine.execute", "celery.state": "FAILURE",
                  "messaging.message.id": "task-1", "messaging.destination": "engine", "celery.retries": 2}
    with tracer.start_as_current_span("run/tl_engine.execute", kind=SpanKind.CONSUMER, attributes=attributes) as span:
        span.set_status(Status(StatusCode.ERROR))
    [event] = SpanMapper(options()).events(memory.get_finished_spans())
    assert event["event"] == "worker_task"
    props = event["properties"]
    assert (props["task_name"], props["task_id"], props["queue"], props["status"], props["retries"]) == (
        "tl_engine.execute", "task-1", "engine", "failure", 2)


def test_engine_runs_become_the_seed_events(recorder):
    tracer, memory = recorder
    with tracer.start_as_current_span("engine.run", attributes={"engine.id": "engine-123", "engine.status": "success",
                                                                "execution_id": "x1"}):
        pass
    with tracer.start_as_current_span("engine.run", attributes={"engine.id": "engine-broken"}) as span:
        span.set_attribute("engine.status", "failed")
        span.set_attribute("error.type", "EngineError")
        span.set_status(Status(StatusCode.ERROR))
    executed, failed = SpanMapper(options()).events(memory.get_finished_spans())
    assert executed["event"] == "engine_executed"
    assert {k: executed["properties"][k] for k in ("engine_id", "status", "execution_id")} == {
        "engine_id": "engine-123", "status": "success", "execution_id": "x1"}
    assert isinstance(executed["properties"]["duration_ms"], float)
    assert failed["event"] == "engine_failed"
    assert (failed["properties"]["status"], failed["properties"]["error_type"]) == ("failed", "EngineError")


def raise_here():
    raise ValueError("bad input")  # the line every recording must point at


def test_one_exception_recorded_on_nested_spans_is_one_event_pointing_at_the_raise(recorder):
    tracer, memory = recorder
    server = {"http.route": "/x", "http.status_code": 500}
    with (pytest.raises(ValueError), tracer.start_as_current_span("GET /x", kind=SpanKind.SERVER, attributes=server),
          tracer.start_as_current_span("outer step"), tracer.start_as_current_span("inner step")):
        raise_here()
    events = SpanMapper(options()).events(memory.get_finished_spans())
    exceptions = [e for e in events if e["event"] == "$exception"]
    assert len(exceptions) == 1
    [entry] = exceptions[0]["properties"]["$exception_list"]
    assert (entry["type"], entry["value"], entry["mechanism"]["handled"]) == ("ValueError", "bad input", False)
    frame = entry["stacktrace"]["frames"][-1]
    assert frame["function"] == "raise_here" and frame["filename"] == "test_posthog_mapping.py"
    assert frame["context_line"] == 'raise ValueError("bad input")  # the line every recording must point at'
    assert frame["in_app"] is True
    assert exceptions[0]["properties"]["span_name"] == "inner step"  # the innermost recording won
    assert [e["event"] for e in events].count("api_request") == 1


def test_chained_causes_follow_in_order(recorder):
    tracer, memory = recorder
    with pytest.raises(RuntimeError), tracer.start_as_current_span("job"):
        try:
            raise KeyError("missing")
        except KeyError as exc:
            raise RuntimeError("wrapped") from exc
    [event] = SpanMapper(options()).events(memory.get_finished_spans())
    outer, cause = event["properties"]["$exception_list"]
    assert (outer["type"], cause["type"], cause["value"]) == ("RuntimeError", "KeyError", "'missing'")
    assert cause["mechanism"] == {"handled": False, "synthetic": False, "type": "chained", "exception_id": 1,
                                  "parent_id": 0, "source": "cause"}


def test_user_rules_add_events_by_span_name_or_attribute(recorder):
    tracer, memory = recorder
    with tracer.start_as_current_span("POST /checkout", attributes={"order.id": "o-1", "order.total": 12.5}):
        pass
    with tracer.start_as_current_span("report", attributes={"report.kind": "nightly"}):
        pass
    rules = ({"event": "checkout_completed", "span_name": "POST /checkout*",
              "properties": {"order_id": "order.id", "total": "order.total"}},
             {"event": "nightly_report", "attribute": "report.kind=nightly"},
             {"event": "never", "attribute": "report.kind=weekly"})
    events = SpanMapper(options(rules=rules)).events(memory.get_finished_spans())
    assert [(e["event"], e["properties"].get("order_id"), e["properties"].get("total")) for e in events] == [
        ("checkout_completed", "o-1", 12.5), ("nightly_report", None, None)]


def test_other_spans_produce_nothing(recorder):
    tracer, memory = recorder
    with tracer.start_as_current_span("internal"), tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT):
        pass
    assert SpanMapper(options()).events(memory.get_finished_spans()) == []


def test_in_app_frames_are_where_the_exception_happened_not_what_started_the_process():
    """A traceback through a manage.py that called uvicorn.run, from a venv's console script: only the
    application's frames below the last library frame that called back into it are in_app."""
    import os
    import sys
    import sysconfig

    from tl_otel.exporters.posthog.exceptions import exception_list

    library = sysconfig.get_paths()["purelib"]
    script = os.path.join(os.path.dirname(sys.executable), "shop")
    stacktrace = "\n".join([
        "Traceback (most recent call last):",
        f'  File "{script}", line 6, in <module>', "    sys.exit(main())",
        '  File "/srv/shop/manage.py", line 79, in main', "    app()",
        f'  File "{library}/click/core.py", line 1, in invoke', "    return callback()",
        '  File "/srv/shop/manage.py", line 12, in runserver', "    uvicorn.run(api)",
        f'  File "{library}/uvicorn/main.py", line 2, in run', "    server.run()",
        '  File "/srv/shop/orders.py", line 30, in pay', "    charge(order)",
        '  File "/srv/shop/billing.py", line 8, in charge', "    gateway.charge(order)",
        f'  File "{library}/gateway/client.py", line 3, in charge', "    raise Declined()",
        "gateway.Declined: card declined",
    ])
    [entry] = exception_list("gateway.Declined", "card declined", stacktrace, handled=False)
    frames = entry["stacktrace"]["frames"]
    assert [(frame["filename"], frame["function"]) for frame in frames if frame["in_app"]] == [
        ("orders.py", "pay"), ("billing.py", "charge")]
    assert len(frames) == 8
