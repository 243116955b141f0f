"""tl-otel's exporters, installed as the package ``tl_otel.exporters``.

Each sub-package translates OpenTelemetry data into one backend's format. The core finds them through
entry points only, exactly as it finds third-party exporters."""
