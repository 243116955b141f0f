"""The start-up benchmark's "upstream launcher" server: run under ``opentelemetry-instrument`` with upstream's
default distro (tl-otel's not selected), it configures the SDK as opentelemetry-distro's configurator does
(``_OTelSDKConfigurator``, no exporter) and serves the app named by its first argument with uvicorn."""

from __future__ import annotations

import os
import sys

os.environ.update({"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"})

from opentelemetry.sdk._configuration import _OTelSDKConfigurator

_OTelSDKConfigurator().configure()

import uvicorn  # noqa: E402

uvicorn.run(sys.argv[1], host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
