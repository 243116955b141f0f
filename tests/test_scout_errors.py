"""Scout Error Monitoring without processes: which finished spans become problems (one per failure, none for a
retry, none for an ignored exception), how a problem is filled, and what arrives at a local errors stand-in
under each answer (500 then success, 400, 429 + Retry-After, batches of SCOUT_ERRORS_BATCH_SIZE)."""

from __future__ import annotations

import json
import timeit

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from examples.peers.posthog_capture import Answer
from examples.peers.scout_errors_service import ScoutErrorsService
from tl_otel.exporters.scout.assembly import Assembled
from tl_otel.exporters.scout.commands import build
from tl_otel.exporters.scout.error_delivery import ErrorDelivery
from tl_otel.exporters.scout.errors import ProblemBuilder, is_candidate
from tl_otel.exporters.scout.errors_exporter import ScoutErrorsExporter
from tl_otel.pipeline.span_record import SpanRecord, from_span


class Declined(Exception):
    pass


class CardDeclined(Declined):
    pass


def finished(kind: SpanKind, attributes: dict, exception: BaseException | None = None, error: bool = True):
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("root", kind=kind, attributes=attributes, record_exception=False,
                                      set_status_on_exception=False) as span:
        if exception is not None:
            try:
                raise exception
            except BaseException as exc:
                span.record_exception(exc)
        if error:
            span.set_status(Status(StatusCode.ERROR))
    [span] = memory.get_finished_spans()
    return SpanRecord(from_span(span))


TASK = {"celery.action": "run", "celery.task_name": "billing.charge", "celery.state": "FAILURE",
        "messaging.message.id": "0f0e0d0c-0b0a-0908-0706-050403020100", "messaging.destination": "billing"}
REQUEST = {"http.method": "POST", "http.route": "/orders/{order_id}", "http.target": "/orders/7?page=2&password=x",
           "http.status_code": 500, "code.function.name": "shop.views.create_order"}


def builder(**options) -> ProblemBuilder:
    return ProblemBuilder(hostname="web-1", revision_sha="abc123", roots=("/srv/app/",), **options)


def test_a_failed_task_run_is_one_problem_shaped_like_scout_apms():
    span = finished(SpanKind.CONSUMER, TASK, Declined("card 4242 declined"))
    problem = builder().problem(span)
    assert problem is not None and is_candidate(span.data)
    assert set(problem) == {"exception_class", "message", "request_id", "request_uri", "request_params",
                            "request_session", "environment", "trace", "request_components", "context", "host",
                            "revision_sha"}
    assert (problem["exception_class"], problem["message"]) == ("Declined", "card 4242 declined")
    assert problem["request_components"] == {"module": None, "controller": "billing.charge", "action": None}
    assert problem["request_uri"] is None and problem["request_params"] is None
    assert (problem["host"], problem["revision_sha"]) == ("web-1", "abc123")
    assert problem["trace"][0].endswith(":in test_a_failed_task_run_is_one_problem_shaped_like_scout_apms") or \
        problem["trace"][0].endswith(":in finished")
    # The request id is the Scout request's: the Errors page links to the trace Scout received.
    scout_request = build(Assembled(span))["BatchCommand"]["commands"][0]["StartRequest"]["request_id"]
    assert problem["request_id"] == scout_request == problem["context"]["transaction_id"]
    assert problem["context"]["task_id"] == TASK["messaging.message.id"] and problem["context"]["error"] == "true"
    assert problem["context"]["custom_params"]["celery"]["task_id"] == TASK["messaging.message.id"]


def test_a_retried_attempt_is_not_a_problem_and_a_success_is_not_either():
    make = builder()
    retried = finished(SpanKind.CONSUMER, {**TASK, "celery.state": "RETRY"}, Declined("try again"))
    succeeded = finished(SpanKind.CONSUMER, {**TASK, "celery.state": "SUCCESS"}, error=False)
    assert make.problem(retried) is None and make.problem(succeeded) is None
    assert make.stats.problems == 0


def test_a_failed_request_is_one_problem_with_scout_apms_parameter_filtering():
    problem = builder().problem(finished(SpanKind.SERVER, REQUEST, KeyError("order 7")))
    assert problem["request_uri"] == "/orders/7"
    assert problem["request_params"] == {"page": ["2"], "password": "[FILTERED]"}
    assert problem["request_components"] == {"module": "shop.views", "controller": "create_order", "action": "POST"}
    assert problem["context"]["path"] == "/orders/7?page=2&password=%5BFILTERED%5D"


def test_a_500_without_an_exception_is_counted_not_sent():
    make = builder()
    assert make.problem(finished(SpanKind.SERVER, REQUEST, None)) is None
    assert make.stats.without_exception == 1


def test_ignored_exceptions_cover_their_subclasses():
    make = builder(ignored=[f"{__name__}.Declined", "ZeroDivisionError"])
    assert make.problem(finished(SpanKind.CONSUMER, TASK, CardDeclined("no"))) is None
    assert make.problem(finished(SpanKind.CONSUMER, TASK, ZeroDivisionError("no"))) is None
    assert make.problem(finished(SpanKind.CONSUMER, TASK, KeyError("sent"))) is not None
    assert make.stats.ignored == 2 and make.stats.problems == 1


def test_frames_are_named_relative_to_their_import_root_innermost_first():
    text = ('Traceback (most recent call last):\n'
            '  File "/srv/app/shop/tasks.py", line 10, in charge\n    pay()\n'
            '  File "/srv/app/shop/pay.py", line 3, in pay\n    raise Declined("x")\n'
            'shop.pay.Declined: x\n')
    assert builder().trace(text) == ["shop/pay.py:3:in pay", "shop/tasks.py:10:in charge"]
    # tl-otel adds the handler's callers above a traceback; scout_apm walks the traceback only.
    assert builder().trace(text, 1) == ["shop/pay.py:3:in pay"]


# -- delivery ------------------------------------------------------------------------------------------
@pytest.fixture
def service():
    server = ScoutErrorsService()
    yield server
    server.stop()


def delivery(service: ScoutErrorsService, **options) -> ErrorDelivery:
    options.setdefault("retry_window", 30.0)
    options.setdefault("backoff_base", 0.05)
    return ErrorDelivery(service.url, "key-123", "My App & Co", hostname="web-1", environment="production",
                         root="/srv/app", **options)


def problems(count: int) -> list[dict]:
    return [{"exception_class": "Declined", "message": f"m{index}"} for index in range(count)]


def test_problems_go_in_batches_as_scout_apms_thread_posts_them(service):
    sender = delivery(service, batch_size=5)
    assert sender.send(problems(7))
    posts = service.posts()
    assert [post["headers"]["X-Error-Count"] for post in posts] == ["5", "2"]
    assert posts[0]["path"] == "/apps/error.scout"
    assert posts[0]["query"] == {"key": ["key-123"], "name": ["My App &amp; Co"]}  # escaped as scout_apm does
    assert posts[0]["headers"]["Agent-Hostname"] == "web-1" and posts[0]["headers"]["Content-Encoding"] == "gzip"
    assert {key: posts[0]["body"][key] for key in ("notifier", "environment", "root")} == {
        "notifier": "scout_apm_python", "environment": "production", "root": "/srv/app"}
    assert [p["message"] for p in service.problems()] == [f"m{index}" for index in range(7)]
    assert sender.stats.delivered == 7


def test_a_500_is_retried_and_then_delivered_once(service):
    service.answer(Answer(500))
    sender = delivery(service)
    assert sender.send(problems(2))
    assert [post["status"] for post in service.posts()] == [500, 200]
    assert len(service.problems()) == 2 and sender.stats.delivered == 2 and sender.stats.retries == 1


def test_a_429_waits_for_retry_after(service):
    service.answer(Answer(429, headers={"Retry-After": "0"}))
    sender = delivery(service, backoff_base=3600.0)  # only Retry-After can make the retry come this soon
    assert sender.send(problems(1))
    assert [post["status"] for post in service.posts()] == [429, 200]


def test_a_400_is_dropped_and_counted_never_retried(service):
    service.answer(Answer(400))
    sender = delivery(service)
    assert not sender.send(problems(3))
    assert len(service.posts()) == 1 and sender.stats.dropped == {"400": 3} and sender.stats.delivered == 0


def test_the_exporter_reports_an_undelivered_batch_as_failed(service):
    service.default = Answer(400)
    exporter = ScoutErrorsExporter(builder(), delivery(service))
    result = exporter.export([finished(SpanKind.CONSUMER, TASK, Declined("x")).data])
    assert result.name == "FAILURE" and exporter.delivery.stats.dropped == {"400": 1}


def test_cost_of_one_problem():
    """Not a timed assertion: prints the translation's cost per failure for the record."""
    span = finished(SpanKind.CONSUMER, TASK, Declined("card declined"))
    make = builder()
    runs = 2000
    seconds = min(timeit.repeat(lambda: make.problem(span), number=runs, repeat=3))
    print(f"\nScout problem translation: {seconds / runs * 1e6:.1f} µs per failure")
    assert make.stats.problems == 3 * runs


def test_a_rejected_problem_is_counted_in_health_through_the_pipeline(python, service, tmp_path):
    service.default = Answer(400)
    ran = python("""
        import json, tl_otel
        from opentelemetry import trace
        tl_otel.configure(service_name="svc")
        tracer = trace.get_tracer("t")
        try:
            with tracer.start_as_current_span("GET /pay", kind=trace.SpanKind.SERVER,
                                              attributes={"http.method": "GET", "http.route": "/pay"}):
                raise ValueError("card declined")
        except ValueError:
            pass
        tl_otel.force_flush(20)
        print("HEALTH " + json.dumps(tl_otel.health()["traces"]["destinations"]["traces-scout_errors"]))
    """, SCOUT_KEY="health-key-0123456789", SCOUT_ERRORS_HOST=service.url, SCOUT_CORE_AGENT_LAUNCH="false",
        SCOUT_CORE_AGENT_SOCKET_PATH=str(tmp_path / "no-agent.sock"), OTEL_METRICS_EXPORTER="none")
    line = next(line for line in ran.stdout.splitlines() if line.startswith("HEALTH "))
    health = json.loads(line[len("HEALTH "):])
    assert health["delivery"]["dropped"] == {"400": 1} and health["delivery"]["delivered"] == 0
    assert health["failed"] == 1 and health["builder"]["problems"] == 1
    assert len(service.posts()) == 1  # not retried
    assert "Scout errors rejected 1 problems with HTTP 400" in ran.stderr


def test_only_the_exception_itself_gives_the_trace_not_its_causes_and_past_100_frames_too():
    frames = "".join(f'  File "/srv/app/shop/deep.py", line {n}, in f{n}\n    f()\n' for n in range(1, 121))
    text = ('Traceback (most recent call last):\n  File "/srv/app/shop/cause.py", line 1, in c\n    x()\n'
            'KeyError: 1\n\nThe above exception was the direct cause of the following exception:\n\n'
            f'Traceback (most recent call last):\n{frames}shop.Declined: x\n')
    trace = builder().trace(text, 20)  # 20 callers above the traceback: frames 21 to 70, innermost first
    assert len(trace) == 50 and trace[0] == "shop/deep.py:70:in f70" and trace[-1] == "shop/deep.py:21:in f21"


def _doctor(**env: str):
    import subprocess
    import sys

    from tests.conftest import REPO, clean_env

    return subprocess.run([sys.executable, "-m", "tl_otel.cli", "doctor", "--timeout", "2"],
                          env=clean_env(OTEL_TRACES_EXPORTER="json,scout_errors", SCOUT_KEY="doctor-errors-key-0123",
                                        OTEL_SERVICE_NAME="svc", SCOUT_NAME="app", **env),
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def test_doctor_checks_the_errors_service_without_creating_a_problem(service):
    done = _doctor(SCOUT_ERRORS_HOST=service.url)
    assert any(line.split()[:2] == ["ok", "scout_errors"] for line in done.stdout.splitlines()), done.stdout
    assert done.returncode == 0 and service.problems() == [] and len(service.posts()) == 1
    assert service.posts()[0]["query"]["key"] == ["doctor-errors-key-0123"]
    assert "doctor-errors-key-0123" not in done.stdout + done.stderr

    service.default = Answer(401)
    done = _doctor(SCOUT_ERRORS_HOST=service.url)
    [line] = [line for line in done.stdout.splitlines() if line.split()[:2] == ["FAILED", "scout_errors"]]
    assert "rejected the key (HTTP 401)" in line and done.returncode == 1

    done = _doctor(SCOUT_ERRORS_HOST="http://127.0.0.1:9")
    [line] = [line for line in done.stdout.splitlines() if line.split()[:2] == ["FAILED", "scout_errors"]]
    assert "connection refused" in line


def test_a_stack_trace_the_caller_records_itself_carries_no_caller_count(python):
    # The count of caller frames describes the stack trace tl-otel builds; with the application's own
    # exception.stacktrace, Scout would cut that many real frames from it.
    ran = python("""
        import json, tl_otel
        from opentelemetry import trace
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        tl_otel.configure(instrument=False, traces_exporter="none", logs_exporter="none", metrics_exporter="none")
        memory = InMemorySpanExporter()
        trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(memory))
        tracer = trace.get_tracer("t")
        with tracer.start_as_current_span("GET /x", kind=trace.SpanKind.SERVER):
            with tracer.start_as_current_span("call") as span:
                try:
                    raise ValueError("boom")
                except ValueError as exc:
                    span.record_exception(exc, attributes={"exception.stacktrace": "mine"})
                    span.record_exception(exc)
        [call] = [s for s in memory.get_finished_spans() if s.name == "call"]
        print("EVENTS", json.dumps([dict(event.attributes) for event in call.events]))
    """)
    assert ran.returncode == 0, ran.stderr
    own, built = json.loads(next(line for line in ran.stdout.splitlines() if line.startswith("EVENTS"))[7:])
    assert own["exception.stacktrace"] == "mine" and "tl_otel.exception.caller_frames" not in own
    assert built["exception.stacktrace"] != "mine" and "tl_otel.exception.caller_frames" in built
