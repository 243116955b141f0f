"""``tl_otel.testing``: a pytest plugin for applications that use tl-otel.

Installed with tl-otel (entry point ``pytest11``), it configures tl-otel once per test session with
in-memory capture instead of network destinations, and gives each test a ``telemetry`` fixture: the spans,
log records, metrics, PostHog events (as tl-otel would send them), Scout requests (as tl-otel would frame
them) and alert notifications the test produced, with deterministic ids and timestamps::

    def test_engine_emits_engine_executed(client, telemetry):
        client.post("/engines/engine-123/run")
        event = telemetry.posthog_event("engine_executed")
        assert event["properties"]["engine_id"] == "engine-123"

Disable it with ``-p no:tl_otel``."""

from tl_otel.testing.capture import Telemetry

__all__ = ["Telemetry"]
