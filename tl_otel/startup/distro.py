"""The ``tl_otel`` distro: what ``opentelemetry-instrument`` loads first.

It pins tl-otel's configurator (unless OTEL_PYTHON_CONFIGURATOR names another), and passes tl-otel's
per-instrumentor options when the launcher instruments libraries. In helper processes (multiprocessing's,
a reloader parent; ``process_roles``) it leaves everything untouched. An instrumentation tl-otel applies beyond
its declared library range, or without a part that cannot load here, is decided in
``tl_otel.startup.instrumentation_versions``. With another distro installed beside
it (``opentelemetry-distro``), select this one with ``OTEL_PYTHON_DISTRO=tl_otel``."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.instrumentation.distro import BaseDistro

from tl_otel.diagnostics.self_log import logger
from tl_otel.integrations.fastapi import instrumentor_kwargs

CONFIGURATOR_NAME = "tl_otel"


class TlOtelDistro(BaseDistro):
    def _configure(self, **kwargs: Any) -> None:
        os.environ.setdefault("OTEL_PYTHON_CONFIGURATOR", CONFIGURATOR_NAME)

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        from tl_otel.integrations import sqlalchemy as standard_setup
        from tl_otel.startup import startup_line as startup
        from tl_otel.startup.process_roles import launched_helper

        if launched_helper() is not None:
            return  # a helper process (multiprocessing's, a reloader parent): left untouched
        from tl_otel.startup.configure import current_runtime
        from tl_otel.startup.instrumentation_readiness import readiness

        runtime = current_runtime()
        if runtime is not None:
            kwargs.update(instrumentor_kwargs(entry_point.name, runtime.settings, runtime.exporters.get("traces")))
            kwargs.update(standard_setup.instrumentor_kwargs(entry_point.name, runtime.settings))
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
            startup.record_failed(entry_point.name, exc)
            raise
        startup.record_applied(entry_point.name)
