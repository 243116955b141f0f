"""The example engine under ``opentelemetry-instrument`` with POSTHOG_API_KEY and POSTHOG_HOST pointing at
a local server that speaks PostHog's capture API: what arrives, and what a failing PostHog does to the
application (nothing)."""

from __future__ import annotations

import signal
import time

import pytest

from examples.peers.posthog_capture import Answer, PostHogCapture
from examples.processes import (
    base_env,
    free_port,
    request,
    start_api,
    start_worker,
    wait_execution,
    wait_http,
    wait_worker_ready,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def capture():
    server = PostHogCapture()
    yield server
    server.stop()


def test_engine_events_arrive_in_posthog(tmp_path, capture):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = base_env(tmp_path / "data", ENGINE_API_URL=url, POSTHOG_API_KEY="phc_e2e_key", POSTHOG_HOST=capture.url)
    api, worker = start_api(env, port, tmp_path / "logs"), start_worker(env, tmp_path / "logs")
    try:
        wait_http(f"{url}/health", process=api)
        wait_worker_ready(worker)
        submitted = [request("POST", f"{url}/executions", {"engine_id": engine, "input": {"n": 1}})[1]
                     for engine in ("engine-123", "engine-broken")]
        for execution in submitted:
            wait_execution(url, execution["id"])
    finally:
        api.stop()
        worker.stop()
    server_spans = [r for r in api.records() if r.get("span.kind") == "server" and r["message"] != "GET /health"]

    api_requests = capture.named("api_request")
    assert len(api_requests) == len(server_spans)  # one per request, none for the excluded /health
    assert {e["properties"]["route"] for e in api_requests} == {
        "/executions", "/executions/{execution_id}", "/engines/{engine_id}"}
    post = next(e for e in api_requests if e["properties"]["route"] == "/executions")
    assert (post["properties"]["method"], post["properties"]["status_code"]) == ("POST", 202)
    assert post["properties"]["service"] == "tl-engine-api" and post["distinct_id"] == "service:tl-engine-api"

    tasks = capture.named("worker_task")
    assert sorted(t["properties"]["status"] for t in tasks) == ["failure", "success"]
    assert all(t["properties"]["task_name"] == "tl_engine.execute" and t["properties"]["queue"] == "engine"
               for t in tasks)

    [executed], [failed] = capture.named("engine_executed"), capture.named("engine_failed")
    assert (executed["properties"]["engine_id"], executed["properties"]["status"]) == ("engine-123", "success")
    assert executed["properties"]["duration_ms"] > 0
    assert (failed["properties"]["engine_id"], failed["properties"]["status"], failed["properties"]["error_type"]) == (
        "engine-broken", "failed", "EngineError")

    # Recorded on engine.run, on the Celery run span it escaped through, and logged with exc_info: one event.
    [exception] = capture.named("$exception")
    [entry] = exception["properties"]["$exception_list"]
    assert entry["type"] == "EngineError" and entry["value"].startswith("legacy importer rejected input")
    crash = entry["stacktrace"]["frames"][-1]
    assert crash["filename"] == "engines.py" and crash["function"] == "broken" and crash["in_app"] is True
    assert crash["context_line"].startswith("raise EngineError(")
    assert exception["properties"]["$trace_id"] == failed["properties"]["$trace_id"]

    uuids = [e["uuid"] for e in capture.events()]
    assert len(uuids) == len(set(uuids))
    assert all(r.body["api_key"] == "phc_e2e_key" for r in capture.received)


@pytest.mark.parametrize("failure", ["hang", "500", "429", "refused"])
def test_a_failing_posthog_slows_neither_requests_nor_shutdown(tmp_path, capture, failure):
    host = capture.url
    if failure == "hang":
        capture.default = Answer(200, hang=60)
    elif failure == "500":
        capture.default = Answer(500)
    elif failure == "429":
        capture.default = Answer(429, {"Retry-After": "30"})
    else:
        host = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = base_env(tmp_path / "data", POSTHOG_API_KEY="phc_e2e_key", POSTHOG_HOST=host,
                   TL_OTEL_SHUTDOWN_TIMEOUT="3", OTEL_BSP_SCHEDULE_DELAY="100")
    api = start_api(env, port, tmp_path / "logs")
    try:
        wait_http(f"{url}/health", process=api)
        slowest = 0.0
        for _ in range(30):
            started = time.monotonic()
            assert request("GET", f"{url}/engines")[0] == 200
            slowest = max(slowest, time.monotonic() - started)
            time.sleep(0.02)
        # Delivery is failing all this time on the PostHog destination's own thread.
        assert slowest < 1.0, slowest
    finally:
        started = time.monotonic()
        returncode = api.stop(signal.SIGTERM)
        stopped_in = time.monotonic() - started
    assert returncode == -signal.SIGTERM
    assert stopped_in < 3 + 5, stopped_in  # the shutdown deadline, plus uvicorn's own shutdown
    # The JSON lines (another destination) were all delivered despite PostHog.
    assert len([r for r in api.records() if r.get("message") == "GET /engines"]) == 30


def test_posthog_logs_go_to_the_otlp_logs_endpoint_without_the_delivery_path_own_loggers(python, capture):
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    ran = python("""
        import logging, tl_otel
        tl_otel.configure(service_name="svc")
        logging.getLogger("tl-engine").warning("disk almost full", extra={"free_pct": 4})
        logging.getLogger("urllib3.connectionpool").warning("Retrying (Retry(total=2)) after connection broken")
        logging.getLogger("posthog").error("error uploading")
    """, POSTHOG_API_KEY="phc_logs_key", POSTHOG_HOST=capture.url, OTEL_LOGS_EXPORTER="json,posthog")
    assert ran.returncode == 0, ran.stderr
    [request] = [r for r in capture.received if r.path == "/i/v1/logs"]
    headers = {key.lower(): value for key, value in request.headers.items()}
    assert headers["authorization"] == "Bearer phc_logs_key" and headers["content-encoding"] == "gzip"
    import gzip

    body = ExportLogsServiceRequest.FromString(request.raw if not request.raw.startswith(b"\x1f\x8b")
                                               else gzip.decompress(request.raw))
    records = [(scope.scope.name, record.body.string_value)
               for resource in body.resource_logs for scope in resource.scope_logs for record in scope.log_records]
    assert records == [("tl-engine", "disk almost full")]
    # Logs are not duplicated as analytics events, and the JSON lines still have all three.
    assert not [r for r in capture.received if r.path == "/batch/"]
    assert len(ran.json_lines()) == 3
