"""The ``tl_otel`` distro: what ``opentelemetry-instrument`` loads first.

It pins tl-otel's configurator (unless OTEL_PYTHON_CONFIGURATOR names another), and passes tl-otel's
per-instrumentor options (``tl_otel.integrations``) when the launcher instruments libraries. In helper processes
(multiprocessing's, a reloader parent; ``process_roles``) it leaves everything untouched. An instrumentation
tl-otel applies beyond its declared library range, or without a part that cannot load here, is decided in
``instrumentation_versions``. With another distro installed beside it (``opentelemetry-distro``), select this one
with ``OTEL_PYTHON_DISTRO=tl_otel``."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro

from tl_otel.diagnostics.self_log import logger

CONFIGURATOR_NAME = "tl_otel"


class TlOtelDistro(BaseDistro):
    def _configure(self, **kwargs: Any) -> None:
        # Before the configurator builds anything: a Celery gevent/eventlet worker patches here, first.
        from tl_otel.startup.green_pools import patch_first

        patch_first()
        os.environ.setdefault("OTEL_PYTHON_CONFIGURATOR", CONFIGURATOR_NAME)

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        from tl_otel.startup import startup_line
        from tl_otel.startup.process_roles import launched_helper

        if launched_helper() is not None:
            return  # a helper process (multiprocessing's, a reloader parent): left untouched
        from tl_otel.integrations import fastapi
        from tl_otel.integrations import logging as logging_integration
        from tl_otel.startup.instrumentation_readiness import readiness
        from tl_otel.startup.runtime import current

        runtime = current()
        if runtime is not None:
            traces = runtime.exporters.get("traces")
            kwargs.update(fastapi.instrumentor_kwargs(entry_point.name, runtime.settings, traces))
            kwargs.update(logging_integration.instrumentor_kwargs(entry_point.name, runtime.settings))
        from tl_otel.startup.instrumentation_versions import instrument_with_deferred_parts

        state = readiness(entry_point)
        if not state.ready:
            if not state.quiet:
                logger.warning("instrumentation %s skipped: %s", entry_point.name, state.reason)
            return  # as the launcher does for a missing library: nothing to instrument, not applied
        try:
            instrument_with_deferred_parts(
                entry_point.name, lambda: super(TlOtelDistro, self).load_instrumentor(entry_point, **kwargs))
        except ModuleNotFoundError:
            raise  # the instrumented library is not installed: the launcher skips it quietly
        except Exception as exc:
            startup_line.record_failed(entry_point.name, exc)
            raise
        startup_line.record_applied(entry_point.name)
