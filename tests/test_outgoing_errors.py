"""A failing outgoing call (``requests`` in an API route, ``httpx`` in a Celery task) gives one ``$exception``
with the application's frames, from the route's or task's function down to the failing call, ``in_app`` set
right, the route or task of the local root, and no tl-otel frame (tl_otel/app_thread/exception_context.py). Real
uvicorn and Celery prefork processes under the launcher, PostHog's capture API faked in this process."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import pytest

from examples.peers.posthog_capture import PostHogCapture
from examples.processes import BIN, REPO, base_env, free_port, request, start, wait_http, wait_worker_ready

pytestmark = pytest.mark.e2e


def dead_url() -> str:
    with socket.socket() as sock:  # a port nothing listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def frames_of(event: dict) -> list[dict]:
    return event["properties"]["$exception_list"][0]["stacktrace"]["frames"]


def test_failing_outgoing_calls_carry_the_applications_frames_and_their_route_or_task(tmp_path):
    capture = PostHogCapture()
    port = free_port()
    env = base_env(tmp_path / "data", PYTHONPATH=f"{REPO}:{REPO / 'tests' / 'apps'}", DEAD_SERVICE_URL=dead_url(),
                   OUTGOING_DATA_DIR=str(tmp_path / "data"), POSTHOG_API_KEY="phc_outgoing_key",
                   POSTHOG_HOST=capture.url, OTEL_METRICS_EXPORTER="none")
    api = start("api", [str(BIN / "uvicorn"), "outgoing_app:app", "--host", "127.0.0.1", "--port", str(port),
                        "--no-access-log"], {**env, "OTEL_SERVICE_NAME": "outgoing-api"}, tmp_path / "logs")
    worker = start("worker", [str(BIN / "celery"), "-A", "outgoing_app:queue", "worker", "--pool=prefork",
                              "--concurrency=1", "--loglevel=INFO", "--without-heartbeat", "--without-gossip",
                              "--without-mingle"], {**env, "OTEL_SERVICE_NAME": "outgoing-worker"}, tmp_path / "logs")
    try:
        wait_http(f"http://127.0.0.1:{port}/health", process=api)
        wait_worker_ready(worker)
        with pytest.raises(urllib.error.HTTPError) as failed:  # a plain-text 500
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/quotes/teapot", method="POST"),
                                   timeout=30)
        assert failed.value.code == 500
        assert request("POST", f"http://127.0.0.1:{port}/orders/o-1")[0] == 200
        assert capture.wait_for(lambda: len(capture.named("$exception")) >= 2, timeout=60), capture.events()
    finally:
        api.stop()
        worker.stop()
        capture.stop()

    exceptions = capture.named("$exception")
    [api_error] = [event for event in exceptions if event["properties"]["service"] == "outgoing-api"]
    [task_error] = [event for event in exceptions if event["properties"]["service"] == "outgoing-worker"]

    assert api_error["properties"]["route"] == "/quotes/{sku}"
    assert task_error["properties"]["task_name"] == "outgoing.notify"
    for event, outer, inner, library in ((api_error, "quote", "fetch_quote", "requests"),
                                         (task_error, "notify", "notify_warehouse", "httpx")):
        frames = frames_of(event)
        assert not [frame for frame in frames if "/tl_otel/" in frame["abs_path"] or
                    frame["abs_path"].startswith(str(REPO / "exporters"))], frames
        app_frames = [frame["function"] for frame in frames if frame["abs_path"].endswith("outgoing_app.py")]
        assert app_frames == [outer, inner], frames  # handler or task first, down to the call that failed
        assert all(frame["in_app"] for frame in frames if frame["abs_path"].endswith("outgoing_app.py"))
        after_app = frames[max(i for i, frame in enumerate(frames) if frame["abs_path"].endswith("outgoing_app.py"))
                           + 1:]
        assert after_app and not any(frame["in_app"] for frame in after_app), after_app  # the library's own
        assert any(f"/{library}/" in frame["abs_path"] for frame in after_app), after_app


def test_an_exception_logged_inside_a_request_carries_its_route_and_no_tl_otel_frame():
    """The log side of an occurrence (an ERROR record with exc_info, e.g. Celery's or a server's failure log)
    may reach PostHog before the span side: it carries the same route and leaves out tl-otel's wrappers. Here
    only the log records it (the span it passes through does not record exceptions), so the log side is what
    is checked."""
    from tests.conftest import run_python

    capture = PostHogCapture()
    try:
        ran = run_python("""
            import logging, httpx
            from opentelemetry import trace
            tracer = trace.get_tracer("app")

            def call_dead():
                with tracer.start_as_current_span("quote", record_exception=False, set_status_on_exception=False):
                    httpx.get("DEAD/ping", timeout=5)

            with tracer.start_as_current_span("GET /orders/{id}", kind=trace.SpanKind.SERVER,
                                              attributes={"http.route": "/orders/{id}"}):
                try:
                    call_dead()
                except httpx.HTTPError:
                    logging.getLogger("app").exception("pricing is down")
        """.replace("DEAD", dead_url()), launcher=True, OTEL_SERVICE_NAME="logged", POSTHOG_API_KEY="phc_logged_key",
            POSTHOG_HOST=capture.url, OTEL_METRICS_EXPORTER="none", OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="httpx")
        assert ran.returncode == 0, ran.stderr
        assert capture.wait_for(lambda: capture.named("$exception"), timeout=30)
    finally:
        capture.stop()
    [event] = capture.named("$exception")
    assert event["properties"]["logger"] == "app"  # from the log record
    assert event["properties"]["route"] == "/orders/{id}"
    frames = frames_of(event)
    assert not [frame for frame in frames if "/tl_otel/" in frame["abs_path"]], frames
    assert [frame["function"] for frame in frames if frame["abs_path"] == "<string>"] == ["<module>", "call_dead"]
