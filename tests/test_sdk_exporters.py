"""The SDK's own exporters named in the docs (`console`, `otlp`) work with tl-otel's records, for traces,
logs and metrics, under the launcher: what the application made arrives, field by field."""

from __future__ import annotations

import json

from examples.peers.posthog_capture import PostHogCapture

APP = """
import logging
from opentelemetry import metrics, trace
with trace.get_tracer("t").start_as_current_span("GET /orders", kind=trace.SpanKind.SERVER,
                                                  attributes={"http.route": "/orders"}):
    logging.getLogger("app").warning("order placed", extra={"order_id": "o-17"})
metrics.get_meter("app").create_counter("orders.placed").add(3, {"shop": "north"})
print("app finished")
"""


def console_objects(text: str) -> list[dict]:
    """The console exporters print indented JSON objects one after another (with the app's own lines)."""
    decoder, found, index = json.JSONDecoder(), [], 0
    while True:
        start = text.find("{", index)
        if start < 0:
            return found
        try:
            value, index = decoder.raw_decode(text, start)
        except ValueError:
            index = start + 1
            continue
        if isinstance(value, dict):
            found.append(value)


def test_tl_otel_log_records_have_everything_a_readable_log_record_has():
    from opentelemetry._logs import LogRecord
    from opentelemetry.sdk._logs import LogRecordLimits, ReadableLogRecord, ReadWriteLogRecord
    from opentelemetry.sdk.resources import Resource

    from tl_otel.app_thread.log_records import PrecleanedLogRecord, exportable

    record = PrecleanedLogRecord(log_record=LogRecord(body="hi", attributes={"k": 1}),
                                 resource=Resource.create({}), limits=LogRecordLimits())
    missing = {name for name in dir(ReadableLogRecord) if not name.startswith("_") and not hasattr(record, name)}
    assert missing == set()
    assert json.loads(record.to_json())["attributes"] == {"k": 1}
    assert exportable(record) is record
    # A record emitted by other code through the SDK Logger becomes what the SDK's processors export.
    plain = ReadWriteLogRecord(log_record=LogRecord(body="other"), resource=Resource.create({}))
    assert json.loads(exportable(plain).to_json())["body"] == "other"


def test_console_exporters_print_traces_logs_and_metrics(python):
    ran = python(APP, launcher=True, OTEL_SERVICE_NAME="shop", OTEL_TRACES_EXPORTER="console",
                 OTEL_LOGS_EXPORTER="console", OTEL_METRICS_EXPORTER="console")
    assert ran.returncode == 0, ran.stderr
    assert "app finished" in ran.stdout
    assert "not delivered" not in ran.stderr and "Traceback" not in ran.stderr, ran.stderr
    objects = console_objects(ran.stdout)
    [span] = [o for o in objects if o.get("name") == "GET /orders"]
    assert span["attributes"]["http.route"] == "/orders" and span["resource"]["attributes"]["service.name"] == "shop"
    [log] = [o for o in objects if o.get("body") == "order placed"]
    assert log["severity_text"] == "WARNING" and log["attributes"]["order_id"] == "o-17"
    assert log["trace_id"] == span["context"]["trace_id"]
    points = [point for o in objects for resource in o.get("resource_metrics", [])
              for scope in resource["scope_metrics"] for metric in scope["metrics"]
              if metric["name"] == "orders.placed" for point in metric["data"]["data_points"]]
    assert [(p["value"], p["attributes"]) for p in points] == [(3, {"shop": "north"})]


def test_otlp_exporters_deliver_traces_logs_and_metrics():
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from tests.conftest import run_python

    collector = PostHogCapture()  # keeps every raw body: an OTLP/HTTP receiver on loopback
    try:
        ran = run_python(APP, launcher=True, OTEL_SERVICE_NAME="shop", OTEL_TRACES_EXPORTER="otlp",
                         OTEL_LOGS_EXPORTER="otlp", OTEL_METRICS_EXPORTER="otlp",
                         OTEL_EXPORTER_OTLP_ENDPOINT=collector.url)
    finally:
        collector.stop()
    assert ran.returncode == 0, ran.stderr
    assert "not delivered" not in ran.stderr, ran.stderr

    def decoded(path: str, message_type):
        messages = []
        for received in collector.received:
            if received.path == path:
                message = message_type()
                message.ParseFromString(received.raw)
                messages.append(message)
        return messages

    def service(resource) -> str:
        return {a.key: a.value.string_value for a in resource.attributes}["service.name"]

    spans = [(service(r.resource), span) for m in decoded("/v1/traces", ExportTraceServiceRequest)
             for r in m.resource_spans for scope in r.scope_spans for span in scope.spans]
    [(span_service, span)] = [(s, span) for s, span in spans if span.name == "GET /orders"]
    assert span_service == "shop"
    assert {a.key: a.value.string_value for a in span.attributes}["http.route"] == "/orders"

    logs = [(service(r.resource), record) for m in decoded("/v1/logs", ExportLogsServiceRequest)
            for r in m.resource_logs for scope in r.scope_logs for record in scope.log_records]
    [(log_service, log)] = [(s, rec) for s, rec in logs if rec.body.string_value == "order placed"]
    assert log_service == "shop" and log.severity_text == "WARNING" and log.trace_id == span.trace_id
    assert {a.key: a.value.string_value for a in log.attributes}["order_id"] == "o-17"

    points = [(service(r.resource), point) for m in decoded("/v1/metrics", ExportMetricsServiceRequest)
              for r in m.resource_metrics for scope in r.scope_metrics for metric in scope.metrics
              if metric.name == "orders.placed" for point in metric.sum.data_points]
    assert [(s, p.as_int, {a.key: a.value.string_value for a in p.attributes}) for s, p in points] == [
        ("shop", 3, {"shop": "north"})]
