"""Upstream instrumentation as opentelemetry-distro's launcher would set it up (its configurator is the SDK's
``_OTelSDKConfigurator``), without tl-otel in the way: no exporter, unless the benchmark's variant chose one in
``OTEL_TRACES_EXPORTER`` / ``OTEL_LOGS_EXPORTER`` (the SDK shipping OTLP)."""

from __future__ import annotations

import logging
import os
import sys

for name in ("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER"):
    os.environ.setdefault(name, "none")
if os.environ["OTEL_LOGS_EXPORTER"] != "none":
    # A team that ships its logs lets INFO through the root logger (Python's default, WARNING, would drop the
    # route's log line before the SDK's handler saw it; tl-otel lowers it for its own bridge the same way).
    logging.getLogger().setLevel(logging.INFO)

from opentelemetry.instrumentation.auto_instrumentation._load import _load_instrumentors  # noqa: E402
from opentelemetry.instrumentation.distro import DefaultDistro  # noqa: E402
from opentelemetry.sdk._configuration import _OTelSDKConfigurator  # noqa: E402

_OTelSDKConfigurator().configure()
_load_instrumentors(DefaultDistro())

import uvicorn  # noqa: E402

uvicorn.run("benchmarks.app:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
