"""WebSocket sessions and long-lived routes are not API requests (tl_otel/semantics/request_kinds.py): no
``api_request``, no Scout request, not in the alert totals; an exception inside a WebSocket handler still
gives ``$exception`` and an ERROR JSON line. End to end under uvicorn and the launcher, with the PostHog and
Scout peers; the alert totals with real SDK spans shaped as the ASGI instrumentation makes them."""

from __future__ import annotations

import time

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from examples.peers.fake_core_agent import FakeCoreAgent
from examples.peers.posthog_capture import PostHogCapture
from examples.processes import BIN, REPO, base_env, free_port, request, start, wait_http
from tl_otel.alerting.processor import API, AlertingSpanProcessor
from tl_otel.semantics import request_kinds
from tl_otel.semantics.request_kinds import RequestKinds


@pytest.mark.e2e
def test_websocket_sessions_and_long_polls_are_not_api_requests(tmp_path):
    capture, agent = PostHogCapture(), FakeCoreAgent(str(tmp_path / "agent.sock"))
    port = free_port()
    env = base_env(tmp_path / "data", OTEL_SERVICE_NAME="sessions", PYTHONPATH=f"{REPO}:{REPO / 'tests' / 'apps'}",
                   POSTHOG_API_KEY="phc_sessions_key", POSTHOG_HOST=capture.url, SCOUT_KEY="sessions-scout-key-01",
                   SCOUT_CORE_AGENT_SOCKET_PATH=agent.address, SCOUT_CORE_AGENT_LAUNCH="false",
                   TL_OTEL_LONG_LIVED_ROUTES="/poll/*", OTEL_METRICS_EXPORTER="none")
    api = start("api", [str(BIN / "uvicorn"), "sessions_app:app", "--host", "127.0.0.1", "--port", str(port),
                        "--no-access-log"], env, tmp_path / "logs")
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", process=api)
        with connect(f"ws://127.0.0.1:{port}/ws/echo", open_timeout=10) as websocket:
            websocket.send("hello")
            assert websocket.recv(timeout=10) == "hello"
            time.sleep(0.5)  # a session that lasts
            websocket.send("bye")
        with connect(f"ws://127.0.0.1:{port}/ws/echo", open_timeout=10) as websocket:
            websocket.send("boom")
            with pytest.raises(ConnectionClosed):
                websocket.recv(timeout=10)
        assert request("GET", f"http://127.0.0.1:{port}/poll/orders")[0] == 200
        assert request("GET", f"http://127.0.0.1:{port}/ping")[0] == 200
        assert capture.wait_for(lambda: capture.named("$exception") and
                                len(capture.named("api_request")) >= 2, timeout=30), capture.events()
        assert agent.wait_for(lambda: len(agent.requests()) >= 2, timeout=30)
        time.sleep(1.0)  # anything still queued for the peers
    finally:
        api.stop()
        capture.stop()
        agent.stop()

    routes = sorted(event["properties"]["route"] for event in capture.named("api_request"))
    assert routes == ["/ping", "/ping"]  # wait_http's and the test's; no WebSocket session, no long poll
    [exception] = capture.named("$exception")
    assert exception["properties"]["$exception_list"][0]["value"] == "the echo handler failed on purpose"
    assert exception["properties"]["route"] == "/ws/echo"

    operations = {command["StartSpan"]["operation"] for commands in agent.requests() for command in commands
                  if "StartSpan" in command and command["StartSpan"]["parent_id"] is None}
    assert operations == {"Controller/sessions_app.ping"}

    sessions = [record for record in api.records() if record.get("type") == "span" and
                record.get("span.kind") == "server" and record.get("http.route") == "/ws/echo"]
    assert sorted(record["level"] for record in sessions) == ["ERROR", "INFO"]


def _span(tracer, name, attributes, duration_ms):
    end = time.time_ns()
    span = tracer.start_span(name, kind=SpanKind.SERVER, start_time=end - duration_ms * 1_000_000,
                             attributes=attributes)
    span.end(end_time=end)


def test_sessions_and_long_lived_routes_are_not_in_the_alert_totals():
    request_kinds.install(RequestKinds(["/poll/*", "/events/stream"]))
    try:
        processor = AlertingSpanProcessor("sessions", 1000)
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(processor)
        tracer = provider.get_tracer("test")
        # As the ASGI instrumentation makes them: a WebSocket session has a ws scheme and no method.
        _span(tracer, "/ws/echo", {"url.scheme": "ws", "http.route": "/ws/echo"}, 12_754)
        _span(tracer, "/ws/echo", {"http.scheme": "wss", "http.route": "/ws/echo"}, 9_000)
        _span(tracer, "GET /poll/{channel}", {"http.request.method": "GET", "http.route": "/poll/{channel}",
                                              "url.scheme": "http", "http.response.status_code": 200}, 30_000)
        _span(tracer, "GET /events/stream", {"http.request.method": "GET", "http.route": "/events/stream",
                                             "url.scheme": "http", "http.response.status_code": 200}, 60_000)
        _span(tracer, "GET /ping", {"http.request.method": "GET", "http.route": "/ping", "url.scheme": "http",
                                    "http.response.status_code": 200}, 1_500)
        totals = processor.window(time.time(), 60)
        assert set(totals) == {(API, "/ping")}
        assert totals[(API, "/ping")][:3] == [1, 0, 1]  # total, errors, slow
    finally:
        request_kinds.install(RequestKinds())
