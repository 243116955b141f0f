"""``tl_otel.alerts.active()`` and ``tl_otel.alerts.history()``: the alert state of this process."""

from __future__ import annotations

from typing import Any


def _engine() -> Any:
    from tl_otel.startup.runtime import current

    runtime = current()
    return None if runtime is None else runtime.alert_engine


def active() -> list[dict[str, Any]]:
    """Pending and firing alerts: rule, group, state, since, summary, value, threshold, held."""
    engine = _engine()
    return [] if engine is None else engine.active()


def history() -> list[dict[str, Any]]:
    """Every transition so far (the last 1,000)."""
    engine = _engine()
    return [] if engine is None else list(engine.history)
