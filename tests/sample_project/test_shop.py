"""How an application team uses tl_otel.testing: assert on what their endpoints emit."""

from __future__ import annotations

from fastapi.testclient import TestClient
from shop_app import app

client = TestClient(app)


def test_run_emits_engine_executed_with_its_properties(telemetry):
    assert client.post("/engines/engine-123/run").status_code == 200
    event = telemetry.posthog_event("engine_executed")
    assert event["properties"]["engine_id"] == "engine-123"
    assert event["properties"]["engine_kind"] == "pricing"
    request = telemetry.posthog_event("api_request")
    assert request["properties"]["route"] == "/engines/{engine_id}/run"
    assert request["properties"]["status_code"] == 200
    assert any(record["message"] == "engine ran" for record in telemetry.logs)


def test_ids_and_timestamps_are_deterministic(telemetry):
    client.post("/engines/engine-7/run")
    first = [(span.name, span.context.trace_id, span.context.span_id, span.start_time) for span in telemetry.spans]
    telemetry.clear()
    assert first[0][1] == 1  # the first trace of every test has id 1
    assert first[0][3] == 1_767_225_600_000_000_000 + first[0][3] % 1_000_000_000  # 2026-01-01T00:00:00Z onwards
    event = telemetry.posthog_event("api_request") if telemetry.spans else None
    assert event is None


def test_secrets_are_redacted_as_they_would_be_sent(telemetry):
    client.post("/engines/engine-1/run?password=hunter2")
    server = next(span for span in telemetry.spans if span.attributes.get("http.route"))
    assert "hunter2" not in str(dict(server.attributes))
    assert "hunter2" not in str(telemetry.posthog_events())


def test_scout_requests_as_they_would_be_framed(telemetry):
    client.post("/orders?user=user-42")
    [request] = telemetry.scout_requests()
    assert request["operation"] == "Controller/shop_app.place_order"
    assert request["tags"]["path"] == "/orders?user=user-42"
    assert telemetry.posthog_event("api_request")["distinct_id"] == "user-42"


def test_metrics_and_alerts(telemetry):
    client.post("/orders?user=u1")
    assert telemetry.metrics()["shop.orders"][-1]["attributes"] == {"channel": "web"}
    for _ in range(3):
        client.get("/broken")
    [alert] = [a for a in telemetry.alerts() if "error rate" in a.subject]
    assert alert.subject.startswith("[FIRING] error rate")
