"""Servers' own loggers do not propagate to the root: their error records still reach the JSON lines, carrying
the trace of the request that failed, and PostHog gets one ``$exception`` for that error (the request span's),
not a second one from the log record. The access log stays the server's own plain text."""

from __future__ import annotations

import httpx
import pytest

from examples.peers.posthog_capture import PostHogCapture
from examples.peers.waiting import wait_for
from examples.processes import BIN, base_env, free_port, start, wait_http

pytestmark = pytest.mark.e2e

SERVERS = {
    "uvicorn": lambda port: [str(BIN / "uvicorn"), "tests.apps.server_errors:app", "--port", str(port)],
    "gunicorn": lambda port: [str(BIN / "gunicorn"), "tests.apps.server_errors:app", "-b", f"127.0.0.1:{port}",
                              "-k", "uvicorn.workers.UvicornWorker", "-w", "1"],
}


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_server_error_log_reaches_json_lines_once_with_the_requests_trace(tmp_path, server):
    capture = PostHogCapture()
    port = free_port()
    env = base_env(tmp_path / "data", OTEL_SERVICE_NAME="server-errors", POSTHOG_API_KEY="phc_server_errors",
                   POSTHOG_HOST=capture.url, OTEL_METRICS_EXPORTER="none")
    process = start(server, SERVERS[server](port), env, tmp_path / "logs")
    try:
        wait_http(f"http://127.0.0.1:{port}/ok", 60, process)
        assert httpx.get(f"http://127.0.0.1:{port}/boom").status_code == 500
        assert wait_for(lambda: len(capture.named("$exception")) >= 1, 30)
    finally:
        process.stop()
        capture.stop()
    records = process.records()
    [request] = [r for r in records if r.get("type") == "span" and r.get("span.kind") == "server"
                 and r.get("http.route") == "/boom"]
    errors = [r for r in records if r.get("type") == "log"
              and str(r.get("message")).startswith("Exception in ASGI application")]
    assert len(errors) == 1, [r.get("message") for r in records]
    [error] = errors
    assert error["logger"] == "uvicorn.error" and error["level"] == "ERROR"
    assert error["trace_id"] == request["trace_id"]
    assert error["exception.type"].endswith("ChargeFailed") and error["exception.message"] == "card declined"
    assert [r["message"] for r in records if r.get("type") == "log" and r.get("logger") == "app.views"] == [
        "served ok"]
    # uvicorn.error's INFO chatter ("Started server process") and the access log are not JSON lines.
    assert not [r for r in records if r.get("type") == "log" and r.get("level") == "INFO"
                and str(r.get("logger")).startswith(("uvicorn", "gunicorn"))]
    exceptions = capture.named("$exception")
    assert len(exceptions) == 1, [e["properties"].get("$exception_list") for e in exceptions]
