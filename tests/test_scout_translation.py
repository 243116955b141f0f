"""Scout translation at unit level: names, tags, request assembly across batches, JSON-safe values and
command shapes identical to scout_apm's own."""

from __future__ import annotations

import datetime as dt
import time

from opentelemetry.trace import SpanKind, Status, StatusCode

from examples.peers.fake_core_agent import summarise
from tl_otel.exporters.scout.assembly import RequestAssembler
from tl_otel.exporters.scout.commands import build, tag_value
from tl_otel.semantics.span_attributes import of_span


def web_request(tracer, status=200, target="/items/7?q=abc&password=hunter2", headers=None):
    attributes = {"http.method": "GET", "http.route": "/items/{item_id}", "http.target": target,
                  "http.status_code": status, "net.peer.ip": "10.0.0.9",
                  "code.function.name": "app.main.read_item", **(headers or {})}
    with tracer.start_as_current_span("GET /items/{item_id}", kind=SpanKind.SERVER, attributes=attributes) as root:
        with tracer.start_as_current_span("SELECT items", kind=SpanKind.CLIENT,
                                          attributes={"db.system": "postgresql",
                                                      "db.statement": "SELECT * FROM items WHERE id = %s"}):
            pass
        with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT,
                                          attributes={"http.method": "GET", "http.url": "http://pricing:8080/v1/p?x=1"}):
            pass
        with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT, attributes={"db.system": "redis",
                                                                                   "db.statement": "GET key"}):
            pass
        with tracer.start_as_current_span("GET /items/{item_id} http send"):
            pass
        with tracer.start_as_current_span("engine.run", attributes={"engine.id": "e1"}):
            pass
        if status >= 500:
            root.set_status(Status(StatusCode.ERROR))


def one_request(memory):
    [request] = RequestAssembler().add(list(memory.get_finished_spans()))
    return summarise(build(request)["BatchCommand"]["commands"])


def test_web_request_operations_and_tags(recorder):
    tracer, memory = recorder
    web_request(tracer, headers={"http.request.header.x_forwarded_for": ("203.0.113.5, 10.0.0.1",)})
    shape = one_request(memory)
    assert shape["tags"] == {"path": "/items/7?password=%5BFILTERED%5D&q=abc", "user_ip": "203.0.113.5"}
    [(root, root_tags, children)] = shape["tree"]
    assert root == "Controller/app.main.read_item" and root_tags == {}
    assert sorted((op, tags) for op, tags, _ in children) == sorted([
        ("SQL/Query", {"db.statement": "SELECT * FROM items WHERE id = %s"}),
        ("HTTP/GET", {"url": "http://pricing:8080/"}),
        ("Redis/GET", {}),
        ("Custom/engine.run", {}),
    ])  # the ASGI "http send" span is dropped


def test_fallback_name_peer_ip_and_errors(recorder):
    tracer, memory = recorder
    with tracer.start_as_current_span("GET /x", kind=SpanKind.SERVER,
                                      attributes={"http.method": "GET", "http.route": "/x", "http.target": "/x",
                                                  "http.status_code": 503, "net.peer.ip": "10.0.0.9"}):
        pass
    shape = one_request(memory)
    assert shape["tree"][0][0] == "Controller/GET /x"
    assert shape["tags"] == {"path": "/x", "user_ip": "10.0.0.9", "error": "true"}


def test_a_4xx_is_not_an_error(recorder):
    tracer, memory = recorder
    web_request(tracer, status=404)
    assert "error" not in one_request(memory)["tags"]


def test_queue_time_from_x_request_start(recorder):
    tracer, memory = recorder
    queued_at_ms = int(time.time() * 1000) - 250
    web_request(tracer, headers={"http.request.header.x_request_start": (f"t={queued_at_ms}",)})
    queued = one_request(memory)["tags"]["scout.queue_time_ns"]
    assert 200_000_000 <= queued <= 5_000_000_000


def test_celery_run_becomes_a_job(recorder):
    tracer, memory = recorder
    with tracer.start_as_current_span("run/tl_engine.execute", kind=SpanKind.CONSUMER,
                                      attributes={"celery.action": "run", "celery.task_name": "tl_engine.execute",
                                                  "messaging.message.id": "t-1", "messaging.destination": "engine"}
                                      ) as span:
        span.set_status(Status(StatusCode.ERROR))
    shape = one_request(memory)
    assert shape["tree"] == [("Job/tl_engine.execute", {}, [])]
    assert shape["tags"] == {"task_id": "t-1", "queue": "engine", "error": "true"}


def test_a_request_is_assembled_from_several_batches_and_late_children_are_counted(recorder):
    tracer, memory = recorder
    web_request(tracer)
    spans = list(memory.get_finished_spans())
    assembler = RequestAssembler()
    assert assembler.add(spans[:2]) == [] and assembler.buffered == 2
    assert assembler.add(spans[2:4]) == []
    [request] = assembler.add(spans[4:])
    assert len(request.descendants) == 5 and assembler.buffered == 0
    late = memory.get_finished_spans()  # re-deliver a child after its root went out
    assembler.add([late[0]])
    assert assembler.stats.late == 1 and assembler.buffered == 0


def test_spans_whose_root_never_comes_are_evicted_and_counted(recorder):
    tracer, memory = recorder
    web_request(tracer)
    children = list(memory.get_finished_spans())[:-1]
    assembler = RequestAssembler(window=0.1, max_spans=3)
    assembler.add(children)
    assert assembler.buffered == 3 and assembler.stats.evicted == 2  # over max_spans
    time.sleep(0.15)
    assembler.add([])
    assert assembler.buffered == 0 and assembler.stats.evicted == 5


def test_spans_of_a_script_root_are_not_a_request(recorder):
    tracer, memory = recorder
    with tracer.start_as_current_span("main"), tracer.start_as_current_span("step"):
        pass
    assembler = RequestAssembler()
    assert assembler.add(list(memory.get_finished_spans())) == []
    assert assembler.stats.not_request == 1


def test_tag_values_are_always_json_safe():
    circular = {}
    circular["me"] = circular
    assert tag_value(dt.datetime(2026, 1, 1)) == "2026-01-01T00:00:00"
    assert tag_value(b"\xff") == "\\xff"
    assert tag_value(("a", 1)) == ["a", 1]
    assert tag_value(circular) == {"me": "<cyclic>"}
    assert tag_value(float("nan")) == "nan"


def test_commands_have_scout_apm_s_shapes(recorder):
    tracer, memory = recorder
    web_request(tracer)
    [request] = RequestAssembler().add(list(memory.get_finished_spans()))
    commands = build(request)["BatchCommand"]["commands"]
    names = [next(iter(c)) for c in commands]
    assert names[0] == "StartRequest" and names[-1] == "FinishRequest"
    assert names[-3:-1] == ["StartSpan", "StopSpan"]  # the root comes after its children, as scout sends it
    start = commands[0]["StartRequest"]
    assert start["request_id"].startswith("req-") and start["timestamp"].endswith("+00:00")
    root = commands[-3]["StartSpan"]
    assert root["parent_id"] is None and root["span_id"].startswith("span-")
    assert set(commands[1]["TagRequest"]) == {"timestamp", "request_id", "tag", "value"}
    # deterministic ids: the same spans give the same request again
    again = build(request)["BatchCommand"]["commands"]
    assert again[0]["StartRequest"]["request_id"] == start["request_id"]


def test_every_command_equals_what_scout_apm_s_own_classes_produce(recorder):
    from scout_apm.core.agent import commands as scout

    tracer, memory = recorder
    web_request(tracer)
    [request] = RequestAssembler().add(list(memory.get_finished_spans()))
    ours = build(request)["BatchCommand"]["commands"]
    parse = dt.datetime.fromisoformat
    classes = {"StartRequest": lambda b: scout.StartRequest(parse(b["timestamp"]), b["request_id"]),
               "TagRequest": lambda b: scout.TagRequest(parse(b["timestamp"]), b["request_id"], b["tag"], b["value"]),
               "StartSpan": lambda b: scout.StartSpan(parse(b["timestamp"]), b["request_id"], b["span_id"],
                                                      b["parent_id"], b["operation"]),
               "TagSpan": lambda b: scout.TagSpan(parse(b["timestamp"]), b["request_id"], b["span_id"], b["tag"],
                                                  b["value"]),
               "StopSpan": lambda b: scout.StopSpan(parse(b["timestamp"]), b["request_id"], b["span_id"]),
               "FinishRequest": lambda b: scout.FinishRequest(parse(b["timestamp"]), b["request_id"])}
    rebuilt = [classes[name](body).message() for command in ours for name, body in command.items()]
    assert rebuilt == ours
    assert scout.BatchCommand([]).message().keys() == build(request).keys()


def test_a_url_no_route_matched_is_not_a_scout_request(recorder):
    tracer, memory = recorder
    for status, route in ((404, None), (405, None), (404, "/items/{item_id}"), (200, None)):
        attributes = {"http.method": "GET", "http.target": "/nowhere", "http.status_code": status}
        if route:
            attributes["http.route"] = route
        with tracer.start_as_current_span("GET", kind=SpanKind.SERVER, attributes=attributes), \
                tracer.start_as_current_span("child"):
            pass
    assembler = RequestAssembler()
    sent = assembler.add(list(memory.get_finished_spans()))
    # The router's own 404/405 (no route) is dropped with its spans; an endpoint's 404 and a route-less
    # server's ordinary responses (an app with no router) are requests.
    assert [(of_span(r.root).get("http.status_code"), of_span(r.root).get("http.route")) for r in sent] == [
        (404, "/items/{item_id}"), (200, None)]
    assert assembler.stats.unrouted == 2 and assembler.buffered == 0


def test_the_endpoint_is_recorded_for_a_full_match_else_the_route_whose_path_matched(recorder):
    from fastapi import FastAPI

    from tl_otel.integrations.fastapi import record_endpoint

    app = FastAPI()

    @app.get("/items/{item_id}")
    def read_item(item_id: int) -> dict:
        return {}

    @app.post("/items/{item_id}")
    def write_item(item_id: int) -> dict:
        return {}

    @app.get("/other")
    def other() -> dict:
        return {}

    tracer, memory = recorder
    for method, path in (("POST", "/items/7"), ("PUT", "/items/7"), ("GET", "/nowhere")):
        scope = {"type": "http", "app": app, "method": method, "path": path, "root_path": "", "headers": []}
        with tracer.start_as_current_span(f"{method} {path}") as span:
            record_endpoint(span, scope)
    found = {span.name: (span.attributes or {}).get("code.function.name") for span in memory.get_finished_spans()}
    prefix = f"{__name__}.test_the_endpoint_is_recorded_for_a_full_match_else_the_route_whose_path_matched.<locals>"
    assert found == {"POST /items/7": f"{prefix}.write_item",  # the full match, not the first partial one
                     "PUT /items/7": f"{prefix}.read_item",  # 405: Starlette runs the first route whose path matched
                     "GET /nowhere": None}


def test_the_endpoint_found_for_a_route_is_remembered_per_application(recorder):
    """The router's matching runs once per (application, route, method): two applications with the same route
    template keep their own endpoints."""
    from fastapi import FastAPI

    from tl_otel.integrations.fastapi import record_endpoint

    first, second = FastAPI(), FastAPI()

    @first.get("/items/{item_id}")
    def first_item(item_id: int) -> dict:
        return {}

    @second.get("/items/{item_id}")
    def second_item(item_id: int) -> dict:
        return {}

    tracer, memory = recorder
    for app in (first, second, first, second):
        scope = {"type": "http", "app": app, "method": "GET", "path": "/items/1", "root_path": "", "headers": []}
        route = {"http.route": "/items/{item_id}"}
        with tracer.start_as_current_span("GET /items/{item_id}", attributes=route) as span:
            record_endpoint(span, scope)
    names = [(span.attributes or {})["code.function.name"].rsplit(".", 1)[-1] for span in memory.get_finished_spans()]
    assert names == ["first_item", "second_item", "first_item", "second_item"]


def test_a_405_is_named_after_the_route_starlette_runs_for_its_own_path(recorder):
    """For a method no route takes, the instrumentation's route and Starlette's may be different partial
    matches: the endpoint is found per path, not remembered per route."""
    from fastapi import FastAPI

    from tl_otel.integrations.fastapi import record_endpoint

    app = FastAPI()

    @app.get("/users/me")
    def read_me() -> dict:
        return {}

    @app.get("/users/{user_id}")
    def read_user(user_id: int) -> dict:
        return {}

    tracer, memory = recorder
    for path in ("/users/me", "/users/42", "/users/me"):
        scope = {"type": "http", "app": app, "method": "DELETE", "path": path, "root_path": "", "headers": []}
        route = {"http.route": "/users/{user_id}"}  # what the instrumentation names both (its last partial match)
        with tracer.start_as_current_span(f"DELETE {path}", attributes=route) as span:
            record_endpoint(span, scope)
    names = [(span.attributes or {})["code.function.name"].rsplit(".", 1)[-1] for span in memory.get_finished_spans()]
    assert names == ["read_me", "read_user", "read_me"]
