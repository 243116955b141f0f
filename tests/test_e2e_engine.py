"""End to end: the example engine under the real launcher, as a user runs it.

- uvicorn serving the example API under ``opentelemetry-instrument``: request spans and the log lines
  of the same request share a trace id; SIGTERM (which uvicorn re-raises, so atexit never runs) and
  SIGINT both still deliver everything;
- API → worker: a request enqueues a Celery task on real Redis, a prefork worker (children recycled
  after every task, so they leave through os._exit) runs it against PostgreSQL, and the task span joins
  the request's trace.
"""

from __future__ import annotations

import os
import signal
import socket

import pytest

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


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


# With exports scheduled a minute apart, only the flush at exit can deliver what these tests read: a broken
# SIGTERM / SIGINT / Celery-child flush loses lines instead of passing by luck of timing.
NO_PERIODIC_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "60000", "OTEL_BLRP_SCHEDULE_DELAY": "60000"}


@pytest.fixture
def api(tmp_path):
    port = free_port()
    process = start_api(base_env(tmp_path / "data", **NO_PERIODIC_EXPORT), port, tmp_path / "logs")
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", process=process)
    yield process, url
    process.stop(signal.SIGKILL)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_request_spans_and_their_log_lines_share_a_trace_and_survive_the_stop_signal(api, stop_signal):
    process, url = api
    status, engines = request("GET", f"{url}/engines")
    assert status == 200 and {e["id"] for e in engines} >= {"engine-123"}
    status, execution = request("POST", f"{url}/executions", {"engine_id": "engine-123", "input": {}})
    assert status == 202
    assert request("GET", f"{url}/executions/nope")[0] == 404

    returncode = process.stop(stop_signal)
    # SIGTERM is re-delivered after tl-otel's flush, so the exit status stays the signal's (as without
    # tl-otel); uvicorn turns SIGINT into a normal exit.
    assert returncode == (-signal.SIGTERM if stop_signal == signal.SIGTERM else 0)
    records = process.records()
    servers = {r["message"]: r for r in records if r.get("type") == "span" and r.get("span.kind") == "server"}
    assert {"GET /health", "GET /engines", "POST /executions", "GET /executions/{execution_id}"} <= set(servers)
    post = servers["POST /executions"]
    assert post["http.status_code"] == 202 and post["service.name"] == "tl-engine-api"
    [queued] = [r for r in records if r.get("message") == "Engine execution queued"]
    assert queued["trace_id"] == post["trace_id"] and queued["execution_id"] == execution["id"]
    assert queued["span_id"] == post["span_id"]
    assert servers["GET /executions/{execution_id}"]["http.status_code"] == 404
    assert servers["GET /executions/{execution_id}"]["status"] == "unset"  # a 404 is not a server error
    producer = [r for r in records if r.get("span.kind") == "producer"]
    assert producer and producer[0]["trace_id"] == post["trace_id"]


@pytest.mark.skipif(not os.environ.get("CI") and not (listening(6379) and listening(5432)),
                    reason="needs Redis and PostgreSQL on 127.0.0.1 (./run tests starts them)")
def test_api_to_prefork_worker_on_redis_and_postgres_joins_one_trace(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = base_env(tmp_path / "data", CELERY_BROKER_URL="redis://127.0.0.1:6379/15", ENGINE_API_URL=url,
                   DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:5432/test", **NO_PERIODIC_EXPORT)
    logs = tmp_path / "logs"
    api = start_api(env, port, logs)
    worker = start_worker(env, logs, concurrency=2, extra=["--max-tasks-per-child=1", "-Q", "engine"])
    try:
        wait_http(f"{url}/health", process=api)
        wait_worker_ready(worker)
        submitted = [request("POST", f"{url}/executions", {"engine_id": engine, "input": {}})[1]
                     for engine in ("engine-123", "engine-broken", "engine-123")]
        results = {e["id"]: wait_execution(url, e["id"]) for e in submitted}
    finally:
        api.stop()
        worker_rc = worker.stop()
    assert worker_rc == 0, worker.stderr()[-2000:]
    assert [results[e["id"]]["status"] for e in submitted] == ["success", "failed", "success"]

    api_records, worker_records = api.records(), worker.records()
    posts = [r for r in api_records if r.get("message") == "POST /executions"]
    tasks = [r for r in worker_records if r.get("span.kind") == "consumer"]
    assert len(posts) == 3 and len(tasks) == 3  # every child flushed before os._exit, nothing twice
    assert {t["trace_id"] for t in tasks} == {p["trace_id"] for p in posts}
    assert all(t["message"] == "run/tl_engine.execute" and t["service.name"] == "tl-engine-worker" for t in tasks)
    failed_task = next(t for t in tasks if t["status"] == "error")

    engine_spans = [r for r in worker_records if "engine.id" in r and r.get("type") == "span"]
    assert sorted(s["engine.status"] for s in engine_spans) == ["failed", "success", "success"]
    # Worker log lines survive Celery's root-logger hijack and stdout redirection, in the task's trace.
    executed = [r for r in worker_records if r.get("message") == "Engine executed"]
    failed = [r for r in worker_records if r.get("message") == "Engine failed"]
    assert len(executed) == 2 and len(failed) == 1
    assert failed[0]["trace_id"] == failed_task["trace_id"]
    assert failed[0]["exception.type"] == "examples.engine.engines.EngineError"
    assert {r["trace_id"] for r in executed} <= {p["trace_id"] for p in posts}
    # The worker's call to the API is a remote call in the same trace, served by the API.
    client_calls = [r for r in worker_records if r.get("span.kind") == "client" and r.get("message") == "GET"]
    served = [r for r in api_records if r.get("message") == "GET /engines/{engine_id}"]
    assert len(client_calls) == 3 and {c["span_id"] for c in client_calls} == {s["parent_span_id"] for s in served}
    # The executions were recorded in PostgreSQL, not in an embedded SQLite file.
    import sqlalchemy

    with sqlalchemy.create_engine(env["DATABASE_URL"]).connect() as connection:
        statuses = connection.execute(sqlalchemy.text("select id, status from executions where id = any(:ids)"),
                                      {"ids": [e["id"] for e in submitted]}).all()
    assert sorted(status for _, status in statuses) == ["failed", "success", "success"]
    assert not (tmp_path / "data" / "engine.sqlite3").exists()
