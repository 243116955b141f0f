"""Upstream instrumentation with no exporter, as opentelemetry-distro's launcher would set it up
(its configurator is the SDK's ``_OTelSDKConfigurator``), without tl-otel in the way."""

from __future__ import annotations

import os
import sys

os.environ.update({"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"})

from opentelemetry.instrumentation.auto_instrumentation._load import _load_instrumentors
from opentelemetry.instrumentation.distro import DefaultDistro
from opentelemetry.sdk._configuration import _OTelSDKConfigurator

_OTelSDKConfigurator().configure()
_load_instrumentors(DefaultDistro())

import uvicorn  # noqa: E402

uvicorn.run("benchmarks.app:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
