"""tl-otel's word about itself: its own log lines on stderr (``self_log``), its counters as OpenTelemetry
metrics (``self_metrics``), and the report behind ``tl_otel.health()`` (``health_report``)."""
