"""tl-otel: an OpenTelemetry distribution for FastAPI + Celery services.

Public API: :func:`configure`, :func:`shutdown`, :func:`force_flush`, :func:`engine_run`, :func:`health`, and
``tl_otel.alerts`` (``active()``, ``history()``). Both of the last two are usable right after ``import tl_otel``
and load what they need only when called."""

from __future__ import annotations

from tl_otel import alerts
from tl_otel.app_thread.engine import engine_run
from tl_otel.settings import ConfigurationError
from tl_otel.startup.configure import configure
from tl_otel.startup.runtime import current as current_runtime  # the name benchmarks and tests use

__all__ = ["ConfigurationError", "alerts", "configure", "engine_run", "force_flush", "health", "shutdown"]


def shutdown(timeout_s: float | None = None) -> bool:
    """Flush and shut down every provider, pipeline and exporter within one deadline
    (default TL_OTEL_SHUTDOWN_TIMEOUT). Returns whether everything finished in time."""
    runtime = current_runtime()
    return True if runtime is None else runtime.shutdown(timeout_s)


def force_flush(timeout_s: float | None = None) -> bool:
    """Export everything queued so far, within one deadline shared by all destinations."""
    runtime = current_runtime()
    return True if runtime is None else runtime.force_flush(timeout_s)


def health() -> dict:
    """Per signal and destination: items accepted, exported, failed and dropped (by reason), queue depth
    and capacity, last success and last error, plus each backend's own counters (PostHog delivery,
    Scout core-agent client and request assembly). Empty before configure()."""
    from tl_otel.diagnostics.health_report import report

    runtime = current_runtime()
    return {} if runtime is None else report(runtime)
