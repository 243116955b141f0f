"""``$exception`` tells the truth, with a real uvicorn started from a ``manage.py``-style wrapper and a real
Celery worker started from the venv's console script:

- an exception that ended its request or task in error is unhandled (``mechanism.handled: false``) and names
  its span, whichever record of it reaches PostHog first: the request span's recording, or the server's
  "Exception in ASGI application" / Celery's failure log made of the same exception;
- the frames ``in_app`` are the application's code where the exception happened: never the wrapper that
  started the server, never the console script that started the worker. For an exception FastAPI raises after
  the handler returned (ResponseValidationError), the endpoint FastAPI names in it."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry import trace as trace_api

from examples.peers.posthog_capture import PostHogCapture
from examples.peers.waiting import wait_for
from examples.processes import BIN, REPO, base_env, filesystem_sender, free_port, start, wait_http

pytestmark = pytest.mark.e2e

PAY_FAILURES = 7
RECEIPT_FAILURES = 2
SOON, LATE = "50", "600000"  # schedule delays in ms: which pipeline reaches PostHog first


def frames_of(event: dict) -> list[dict]:
    return event["properties"]["$exception_list"][0]["stacktrace"]["frames"]


def in_app(event: dict) -> list[tuple[str, str]]:
    return [(frame["filename"], frame["function"]) for frame in frames_of(event) if frame["in_app"]]


@pytest.mark.parametrize("first", ["log", "span"])
def test_unhandled_500s_are_unhandled_with_the_handlers_frames_whichever_record_comes_first(tmp_path, first):
    capture = PostHogCapture()
    port = free_port()
    env = base_env(tmp_path / "data", OTEL_SERVICE_NAME="managed-shop", POSTHOG_API_KEY="phc_managed_shop",
                   POSTHOG_HOST=capture.url, OTEL_METRICS_EXPORTER="none",
                   TL_OTEL_LOG_SCHEDULE_DELAY=SOON if first == "log" else LATE,
                   TL_OTEL_SPAN_SCHEDULE_DELAY=LATE if first == "log" else SOON)
    server = start("shop", [str(BIN / "python"), str(REPO / "tests" / "apps" / "manage_shop.py"), "runserver",
                            str(port)], env, tmp_path / "logs")
    expected = PAY_FAILURES + RECEIPT_FAILURES
    try:
        wait_http(f"http://127.0.0.1:{port}/health", 60, server)
        for number in range(PAY_FAILURES):
            assert httpx.get(f"http://127.0.0.1:{port}/orders/{number}/pay").status_code == 500
        for number in range(RECEIPT_FAILURES):
            assert httpx.get(f"http://127.0.0.1:{port}/orders/{number}/receipt").status_code == 500
        # The first record of each occurrence has arrived; the other one comes at the stop, and is recognised.
        assert wait_for(lambda: len(capture.named("$exception")) >= expected, 60), capture.named("$exception")
    finally:
        server.stop()
        capture.stop()
    exceptions = capture.named("$exception")
    assert len(exceptions) == expected
    by_type: dict[str, list[dict]] = {}
    for event in exceptions:
        by_type.setdefault(event["properties"]["$exception_list"][0]["type"], []).append(event)
    assert sorted((name, len(events)) for name, events in by_type.items()) == [
        ("ChargeFailed", PAY_FAILURES), ("ResponseValidationError", RECEIPT_FAILURES)]
    assert [event["properties"]["$exception_list"][0]["mechanism"]["handled"] for event in exceptions] == [
        False] * expected
    for event in by_type["ChargeFailed"]:
        assert event["properties"]["span_name"] == "GET /orders/{order_id}/pay"
        assert in_app(event) == [("shop_errors.py", "pay"), ("shop_errors.py", "charge")], frames_of(event)
    for event in by_type["ResponseValidationError"]:
        assert event["properties"]["span_name"] == "GET /orders/{order_id}/receipt"
        # Raised by FastAPI after the handler returned: the one application frame is the endpoint FastAPI names
        # in the error, the frame closest to the application's code.
        assert in_app(event) == [("shop_errors.py", "receipt")], frames_of(event)


def _send(folder: str, name: str, *args: object) -> None:
    filesystem_sender(folder).send_task(name, args=args, queue="task-errors")


@pytest.mark.parametrize("first", ["log", "span"])
def test_a_failed_task_is_unhandled_with_the_tasks_frames_not_the_console_script(tmp_path, first):
    capture = PostHogCapture()
    folder = str(tmp_path / "broker")
    env = base_env(tmp_path / "data", OTEL_SERVICE_NAME="task-errors", POSTHOG_API_KEY="phc_task_errors",
                   POSTHOG_HOST=capture.url, OTEL_METRICS_EXPORTER="none", TASK_ERRORS_BROKER_DIR=folder,
                   TL_OTEL_ALERT_STORE="process",
                   TL_OTEL_LOG_SCHEDULE_DELAY=SOON if first == "log" else LATE,
                   TL_OTEL_SPAN_SCHEDULE_DELAY=LATE if first == "log" else SOON)
    worker = start("worker", [str(BIN / "celery"), "-A", "tests.apps.task_errors:celery_app", "worker",
                              "--loglevel=INFO", "--without-heartbeat", "--without-gossip", "--without-mingle",
                              "-Q", "task-errors", "--pool=solo"], env, tmp_path / "logs")
    try:
        assert wait_for(lambda: " ready." in worker.stderr() or worker.popen.poll() is not None, 90)
        _send(folder, "task_errors.bill", [1, "two"])
        assert wait_for(lambda: len(capture.named("$exception")) >= 1, 60), worker.stderr()
    finally:
        worker.stop()
        capture.stop()
    [event] = capture.named("$exception")
    [entry] = event["properties"]["$exception_list"]
    assert entry["type"] == "TypeError" and entry["mechanism"]["handled"] is False
    assert event["properties"]["task_name"] == "task_errors.bill"
    assert event["properties"]["span_name"] == "run/task_errors.bill"
    assert in_app(event) == [("task_errors.py", "bill"), ("task_errors.py", "total")], frames_of(event)
    assert not [frame for frame in frames_of(event) if frame["in_app"] and frame["abs_path"].startswith(str(BIN))]


def test_an_exception_after_its_request_ended_takes_the_known_outcome_and_keeps_nothing():
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import SpanKind, Status, StatusCode

    from tl_otel.app_thread import exception_context

    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(exception_context.LocalRootLinker())
    tracer = provider.get_tracer("test")
    root = tracer.start_span("GET /slow", kind=SpanKind.SERVER)
    with trace_api.use_span(root, end_on_exit=False):
        outliving = tracer.start_span("background work")
    root.set_status(Status(StatusCode.ERROR))
    root.end()
    kept = dict(exception_context._ending)
    # A span that outlived its request records an exception: no on_end will come for the root any more.
    assert exception_context.outcome_of_root(outliving) == [True]
    assert exception_context._ending == kept
    outliving.end()
