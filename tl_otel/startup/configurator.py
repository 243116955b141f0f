"""The ``tl_otel`` configurator entry point: the launcher's way into :func:`tl_otel.configure`."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk._configuration import _BaseConfigurator


class TlOtelConfigurator(_BaseConfigurator):
    def _configure(self, **kwargs: Any) -> None:
        from tl_otel.startup.configure import configure_from_launcher

        configure_from_launcher()
