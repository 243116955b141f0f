"""configure() and the launcher in fresh interpreters: both give the same result, bad settings never
stop the application unless strict mode is on, and a second configure() changes nothing."""

from __future__ import annotations

import json
import re
import time

from tests.conftest import startup_lines

APP = """
import logging
from opentelemetry import trace
with trace.get_tracer("t").start_as_current_span("GET /x", kind=trace.SpanKind.SERVER):
    logging.getLogger("app").info("inside", extra={"k": 1})
print("app finished")
"""


def test_launcher_and_configure_give_the_same_lines(python):
    launched = python(APP, launcher=True, OTEL_SERVICE_NAME="svc")
    programmatic = python("import tl_otel; tl_otel.configure(service_name='svc')\n" + APP)
    for ran in (launched, programmatic):
        assert ran.returncode == 0, ran.stderr
        assert "app finished" in ran.stdout
        records = ran.json_lines()
        shapes = sorted((r["type"], r["message"], r["service.name"]) for r in records)
        assert shapes == [("log", "inside", "svc"), ("span", "GET /x", "svc")]
        span, log = sorted(records, key=lambda r: r["type"], reverse=True)
        assert log["trace_id"] == span["trace_id"] and log["span_id"] == span["span_id"] and log["k"] == 1


def test_second_configure_warns_and_adds_no_processor_or_handler(python):
    ran = python("""
        import logging, tl_otel
        from opentelemetry import trace
        first = tl_otel.configure(service_name="svc")
        processors = list(trace.get_tracer_provider()._active_span_processor._span_processors)
        second = tl_otel.configure(service_name="other")
        assert first is second
        from tl_otel.integrations import logging as logging_attachment
        assert logging_attachment.current_handler() is first.log_handler
        assert logging.getLogger().handlers == [], logging.getLogger().handlers
        after = list(trace.get_tracer_provider()._active_span_processor._span_processors)
        # the local-root linker (exception context), the pipeline and the alerting processor
        assert after == processors and len(after) == 3, after
        logging.getLogger("app").info("once")
    """)
    assert ran.returncode == 0, ran.stderr
    assert "configure() was called again" in ran.stderr
    assert [r["message"] for r in ran.json_lines()] == ["once"]


def test_launcher_and_configure_twice_do_not_duplicate(python):
    ran = python("import tl_otel; tl_otel.configure()\n" + APP, launcher=True)
    assert ran.returncode == 0, ran.stderr
    assert len(ran.json_lines()) == 2


def test_bad_sdk_variable_warns_and_the_app_and_the_sdk_keep_working(python):
    # Without tl-otel, constructing a BatchSpanProcessor raises ValueError on OTEL_BSP_MAX_QUEUE_SIZE=0.
    ran = python("""
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
BatchSpanProcessor(ConsoleSpanExporter())
""" + APP, launcher=True, OTEL_BSP_MAX_QUEUE_SIZE="0", OTEL_BSP_MAX_EXPORT_BATCH_SIZE="4096")
    assert ran.returncode == 0, ran.stderr
    assert "app finished" in ran.stdout
    assert "OTEL_BSP_MAX_QUEUE_SIZE='0' is not valid: expected a whole number from 1" in ran.stderr
    assert ran.stderr.count("OTEL_BSP_MAX_QUEUE_SIZE='0'") == 1
    assert len(ran.json_lines()) == 2


def test_strict_mode_under_the_launcher_exits_with_the_message(python):
    ran = python(APP, launcher=True, TL_OTEL_STRICT="true", OTEL_BSP_MAX_QUEUE_SIZE="-1")
    assert ran.returncode == 2
    assert "app finished" not in ran.stdout
    assert "TL_OTEL_STRICT=true" in ran.stderr and "OTEL_BSP_MAX_QUEUE_SIZE='-1'" in ran.stderr


def test_strict_mode_programmatic_raises_configuration_error(python):
    ran = python("""
        import tl_otel
        try:
            tl_otel.configure(strict=True, settings={"log_level": "loud"})
        except tl_otel.ConfigurationError as exc:
            print("raised:", exc)
    """)
    assert "raised:" in ran.stdout and "configure(log_level=...)='loud'" in ran.stdout


def test_strict_mode_also_covers_unknown_exporters(python):
    ran = python(APP, launcher=True, TL_OTEL_STRICT="1", OTEL_TRACES_EXPORTER="json,nosuch")
    assert ran.returncode == 2 and "'nosuch'" in ran.stderr


def test_exporters_swap_by_environment_alone(python):
    ran = python(APP, launcher=True, OTEL_TRACES_EXPORTER="console", OTEL_LOGS_EXPORTER="none",
                 OTEL_METRICS_EXPORTER="none")
    assert ran.returncode == 0, ran.stderr
    assert ran.json_lines() == []
    assert '"name": "GET /x"' in ran.stdout  # the SDK's console exporter format


def test_secrets_never_appear_in_tl_otel_messages(python):
    ran = python("""
        import tl_otel
        runtime = tl_otel.configure(settings={"log_level": "loud"})
        print(repr(runtime.settings))
    """, POSTHOG_API_KEY="phc_canary_value_123", OTEL_TRACES_EXPORTER="json,posthog")
    assert ran.returncode == 0, ran.stderr
    assert "phc_canary_value_123" not in ran.stdout + ran.stderr
    assert "posthog_api_key=<secret, 20 chars>" in ran.stdout


def test_shutdown_is_bounded_by_one_deadline_when_a_backend_is_unreachable(python):
    # OTLP to a closed port retries with backoff; the shared deadline still ends the process on time.
    started = time.monotonic()
    ran = python(APP, launcher=True, OTEL_TRACES_EXPORTER="otlp,json", OTEL_LOGS_EXPORTER="otlp,json",
                 OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9", TL_OTEL_SHUTDOWN_TIMEOUT="2",
                 OTEL_EXPORTER_OTLP_TIMEOUT="30")
    elapsed = time.monotonic() - started
    assert ran.returncode == 0, ran.stderr
    assert len(ran.json_lines()) == 2  # the json destination is not held back by the otlp one
    assert elapsed < 15, elapsed
    # The OTLP exporter's own failure warnings are logged while exporting: they must not loop back
    # into the log pipeline (they would become JSON lines here).
    assert not [r for r in ran.json_lines() if r["logger"].startswith("opentelemetry")]


def test_programmatic_configure_instruments_libraries_like_the_launcher(python):
    code = """
        import tl_otel
        tl_otel.configure(service_name="api")
        from fastapi import FastAPI
        from fastapi.testclient import TestClient
        app = FastAPI()

        @app.get("/items/{item_id}")
        def read_item(item_id: int):
            return {"id": item_id}

        assert TestClient(app).get("/items/7").status_code == 200
    """
    ran = python(code)
    assert ran.returncode == 0, ran.stderr
    [server] = [r for r in ran.json_lines() if r.get("span.kind") == "server"]
    assert server["message"] == "GET /items/{item_id}" and server["http.route"] == "/items/{item_id}"

    # The distro's options reach the instrumentor: no per-message ASGI spans unless asked for.
    console = python(code, OTEL_TRACES_EXPORTER="console")
    assert '"name": "GET /items/{item_id}"' in console.stdout and "http send" not in console.stdout
    kept = python(code, OTEL_TRACES_EXPORTER="console", TL_OTEL_ASGI_MESSAGE_SPANS="true")
    assert "GET /items/{item_id} http send" in kept.stdout


def test_health_reports_each_destination_and_shutdown_summarises_losses(python, tmp_path):
    ran = python("""
        import json, logging, tl_otel
        from opentelemetry import trace
        tl_otel.configure(service_name="svc")
        with trace.get_tracer("t").start_as_current_span("GET /x", kind=trace.SpanKind.SERVER):
            logging.getLogger("app").info("hello")
        tl_otel.force_flush(5)
        print("HEALTH " + json.dumps(tl_otel.health()))
    """, POSTHOG_API_KEY="phc_health_key", POSTHOG_HOST="http://127.0.0.1:9", TL_OTEL_POSTHOG_RETRY_WINDOW="0",
        TL_OTEL_SHUTDOWN_TIMEOUT="3")
    assert ran.returncode == 0, ran.stderr
    import json

    health = json.loads(next(line for line in ran.stdout.splitlines() if line.startswith("HEALTH "))[7:])
    traces = health["traces"]
    assert traces["accepted"] == 1 and traces["queue_capacity"] == 2048
    assert traces["destinations"]["traces-json"]["exported"] == 1
    posthog = traces["destinations"]["traces-posthog"]
    assert posthog["failed"] == 1 and posthog["delivery"]["dropped"] == {"retries_exhausted:ConnectionError": 1}
    assert health["logs"]["destinations"]["logs-json"]["exported"] == 1
    assert "phc_health_key" not in ran.stdout + ran.stderr
    assert "telemetry not delivered during this process's life: traces-posthog: 1 not delivered" in ran.stderr


def test_self_telemetry_is_exported_as_otel_sdk_metrics(python):
    ran = python("""
        import logging, tl_otel
        from opentelemetry import trace
        tl_otel.configure(service_name="svc", instrument=False)
        for _ in range(3):
            with trace.get_tracer("t").start_as_current_span("GET /x", kind=trace.SpanKind.SERVER):
                logging.getLogger("app").warning("hello")
        tl_otel.force_flush(5)
    """, POSTHOG_API_KEY="phc_selfmetrics_key", POSTHOG_HOST="http://127.0.0.1:9", TL_OTEL_POSTHOG_RETRY_WINDOW="0",
        TL_OTEL_SHUTDOWN_TIMEOUT="3", TL_OTEL_JSON_SELF_METRICS="true")
    assert ran.returncode == 0, ran.stderr
    points = {}
    for record in ran.json_lines():
        if record["type"] == "metric" and record["message"].startswith(("otel.sdk.", "tl_otel.")):
            key = (record["message"], record["otel.component.name"], record.get("error.type"))
            points[key] = record["value"]
    assert points[("otel.sdk.processor.span.processed", "spans", None)] == 3
    assert points[("otel.sdk.processor.span.queue.capacity", "spans", None)] == 2048
    assert points[("otel.sdk.exporter.span.exported", "traces-json", None)] == 3
    assert points[("otel.sdk.exporter.span.exported", "traces-posthog", None)] == 0
    assert points[("otel.sdk.exporter.span.exported", "traces-posthog", "export_failed")] == 3
    assert points[("otel.sdk.exporter.log.exported", "logs-json", None)] == 3
    assert points[("otel.sdk.exporter.span.inflight", "traces-json", None)] == 0
    assert ("tl_otel.exporter.retries", "traces-posthog", None) in points
    assert "phc_selfmetrics_key" not in ran.stdout + ran.stderr


def test_one_startup_line_under_the_launcher_before_the_app_configures_logging(python):
    ran = python("""
        import logging
        logging.basicConfig(level=logging.ERROR)  # the application configures logging later
        print("app ran")
    """, launcher=True, OTEL_SERVICE_NAME="svc", TL_OTEL_SPAN_QUEUE_SIZE="lots")
    [line] = startup_lines(ran.stderr)
    assert line["level"] == "INFO" and line["service.name"] == "svc" and line["tl_otel.version"]
    assert line["destinations"]["traces"] == ["json"] and line["posthog"] == "off" and line["scout"] == "off"
    assert {"fastapi", "sqlalchemy", "httpx"} <= set(line["instrumentations"])
    warning_at = ran.stderr.index("TL_OTEL_SPAN_QUEUE_SIZE='lots' is not valid")
    assert warning_at < ran.stderr.index('"tl-otel configured"')  # one WARNING per problem, before it


def test_one_startup_line_from_configure(python):
    ran = python("""
        import tl_otel
        tl_otel.configure(service_name="svc", instrument=False)
        tl_otel.configure(service_name="svc")
    """)
    [line] = startup_lines(ran.stderr)
    assert line["instrumentations"] == [] and line["alerts"]["on"] is True


def test_every_line_tl_otel_writes_to_stderr_has_one_format(python):
    # A warning while configuring, the start-up line, and the loss summary at exit (PostHog unreachable).
    ran = python(APP, launcher=True, TL_OTEL_SPAN_QUEUE_SIZE="lots", POSTHOG_API_KEY="phc_format_key",
                 POSTHOG_HOST="http://127.0.0.1:9", TL_OTEL_POSTHOG_RETRY_WINDOW="0", TL_OTEL_SHUTDOWN_TIMEOUT="5")
    assert ran.returncode == 0, ran.stderr
    lines = [line for line in ran.stderr.splitlines() if line.strip()]
    assert len(lines) >= 3, ran.stderr
    records = [json.loads(line) for line in lines]  # every line is JSON: no plain-text "tl-otel: WARNING"
    for line, record in zip(lines, records, strict=True):
        assert line == json.dumps(record, ensure_ascii=False, separators=(",", ":"))  # compact, like stdout
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", record["timestamp"]), record
        assert list(record)[:7] == ["timestamp", "level", "type", "logger", "message", "service.name",
                                    "process.pid"]
        assert record["type"] == "log" and record["logger"].startswith("tl_otel")
    levels_and_messages = [(r["level"], r["message"]) for r in records]
    assert levels_and_messages[0][0] == "WARNING" and "TL_OTEL_SPAN_QUEUE_SIZE='lots'" in levels_and_messages[0][1]
    assert ("INFO", "tl-otel configured") in levels_and_messages
    assert any(level == "WARNING" and "not delivered" in message for level, message in levels_and_messages)
    # Once the resource exists, every line names the service the telemetry carries.
    configured = [r["message"] for r in records].index("tl-otel configured")
    assert {r["service.name"] for r in records[configured:]} == {"unknown_service:python"}
    assert {r["service.name"] for r in ran.json_lines()} == {"unknown_service:python"}


def test_startup_line_names_the_service_the_telemetry_carries(python):
    ran = python("import tl_otel; tl_otel.configure(instrument=False)\n" + APP,
                 OTEL_RESOURCE_ATTRIBUTES="service.name=from-resource-attributes")
    [line] = startup_lines(ran.stderr)
    assert line["service.name"] == "from-resource-attributes"
    assert {r["service.name"] for r in ran.json_lines()} == {"from-resource-attributes"}
