"""The pytest plugin (entry point ``pytest11: tl_otel``): one tl-otel configuration per session, in memory;
a ``telemetry`` fixture per test."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tl_otel.testing.capture import Clock, LogCapture, MemoryChannel, SequentialIds, SpanCapture, Telemetry

_state: dict[str, Any] = {}

# Alert rules fire on what one test produces (no waiting for a minute of traffic); any of these can be
# set in the environment instead.
_TEST_DEFAULTS = {"TL_OTEL_ALERT_FOR_S": "0", "TL_OTEL_ALERT_MIN_REQUESTS": "1", "TL_OTEL_ALERT_STORE": "process",
                  "TL_OTEL_ALERT_EVAL_INTERVAL_S": "3600", "TL_OTEL_STARTUP_LINE": "false",
                  "TL_OTEL_HANDLE_SIGTERM": "false", "OTEL_TRACES_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
                  "OTEL_METRICS_EXPORTER": "memory", "TL_OTEL_ALERT_DISK_MIN_FREE": "1b"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("tl_otel_service_name", "service.name for telemetry captured in tests", default="test-service")


def pytest_configure(config: pytest.Config) -> None:
    """Before test modules import the application: its own tl_otel.configure() then returns this one."""
    import tl_otel
    from tl_otel.redaction import redactor as redaction
    from tl_otel.startup import configure as configuration

    for key, value in _TEST_DEFAULTS.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("OTEL_SERVICE_NAME", config.getini("tl_otel_service_name"))
    configuration.quiet_repeat_configure = True
    runtime = tl_otel.configure(instrument=False)
    # Instrument as production would with every destination on, so the captured spans carry what the
    # PostHog and Scout views need (the endpoint function that names a Scout request, Scout's headers).
    runtime.exporters["traces"] = ["json", "posthog", "scout"]
    configuration.instrument_libraries()
    runtime.exporters["traces"] = []
    clock, ids = Clock(), SequentialIds()
    # Tracers created at instrumentation time hold the provider's generator: change its methods in place.
    generator = runtime.tracer_provider.id_generator
    generator.generate_trace_id = ids.trace_id
    generator.generate_span_id = ids.span_id
    spans, logs = SpanCapture(redaction.current().redact_span), LogCapture(redaction.current().redact_log)
    runtime.tracer_provider.add_span_processor(spans)
    if runtime.logger_provider is not None:
        runtime.logger_provider.add_log_record_processor(logs)
    channel = MemoryChannel()
    if runtime.alert_engine is not None:
        runtime.alert_engine.channels = [channel]
    reader = runtime.exporter_objects.get("metrics", {}).get("memory")
    _state.update(runtime=runtime, clock=clock, ids=ids, telemetry=Telemetry(runtime, spans, logs, channel, reader,
                                                                              clock))


@pytest.fixture
def telemetry(monkeypatch: pytest.MonkeyPatch) -> Telemetry:
    """Spans, logs, metrics, PostHog events, Scout requests and alerts produced during this test."""
    import opentelemetry.sdk._logs._internal as sdk_logs
    import opentelemetry.sdk.trace as sdk_trace

    clock, ids, captured = _state["clock"], _state["ids"], _state["telemetry"]
    clock.reset()
    ids.reset()
    monkeypatch.setattr(sdk_trace, "time_ns", clock)
    monkeypatch.setattr(sdk_logs, "time_ns", clock)
    engine = _state["runtime"].alert_engine
    if engine is not None:
        engine.processor.reset()
        engine.alerts = {}
    captured.clear()
    return captured
