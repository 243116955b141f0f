"""Requests the core agent never acknowledged (it closed the connection with replies owed) are not counted as
exported in health()'s top-level counters, and the exit summary gives the whole number."""

from __future__ import annotations

import json

import pytest

from examples.peers.fake_core_agent import FakeCoreAgent
from tests.conftest import run_python

APP = """
    import json, sys
    import tl_otel
    from opentelemetry import trace

    runtime = tl_otel.configure(service_name="svc", instrument=False)
    tracer = trace.get_tracer("t")
    for i in range(60):
        with tracer.start_as_current_span("GET /items/{{id}}", kind=trace.SpanKind.SERVER, attributes={{
                "http.method": "GET", "http.route": "/items/{{id}}", "http.target": f"/items/{{i}}",
                "http.status_code": 200}}):
            with tracer.start_as_current_span("work"):
                pass
        if i % 5 == 4:
            tl_otel.force_flush(20)
    runtime.shutdown(20)
    with open({report!r}, "w") as out:
        json.dump(tl_otel.health(), out)
"""


@pytest.mark.e2e
def test_frames_the_agent_never_acknowledged_are_failed_not_exported(tmp_path):
    agent = FakeCoreAgent(str(tmp_path / "core-agent.sock"), close_after=12, closes=4)
    report = tmp_path / "health.json"
    try:
        ran = run_python(APP.format(report=str(report)), timeout=120,
                         SCOUT_KEY="abcdefghij0123456789", SCOUT_MONITOR="true",
                         SCOUT_CORE_AGENT_SOCKET_PATH=agent.address, SCOUT_CORE_AGENT_LAUNCH="false",
                         SCOUT_NAME="svc", OTEL_TRACES_EXPORTER="scout", OTEL_LOGS_EXPORTER="none",
                         OTEL_METRICS_EXPORTER="none")
        received = len(agent.requests())
    finally:
        agent.stop()
    assert ran.returncode == 0, ran.stderr[-3000:]
    scout = json.loads(report.read_text())["traces"]["destinations"]["traces-scout"]
    client = scout["client"]
    assert agent.connections >= 5 and client["unacknowledged"] >= 4, (client, ran.stderr[-2000:])
    assert scout["failed"] > 0 and "unacknowledged_by_core_agent" in scout["by_reason"], scout
    unacknowledged_spans = client["unacknowledged_items"]
    assert unacknowledged_spans >= 2  # a request frame carries its root and its child
    assert scout["by_reason"]["unacknowledged_by_core_agent"] == unacknowledged_spans
    assert scout["exported"] + scout["failed"] == 120
    assert scout["failed"] >= unacknowledged_spans
    # Exported spans are those of acknowledged requests only (two spans each): never more than arrived.
    assert scout["exported"] <= 2 * received
    # The exit line gives the whole number, whatever the rate-limited per-connection warnings held back.
    assert f"traces-scout: {scout['failed']} not delivered (unacknowledged_by_core_agent {unacknowledged_spans}" \
        in ran.stderr
