"""The start-up line: one INFO JSON line on stderr when tl-otel has configured itself - version, service,
destinations on and off, alert channels, instrumentations applied, failed, adapted (applied beyond their
declared range or without a part that cannot load) and unsupported (at the app's library version), in the
format of every tl-otel line (``self_log.record``: its ``service.name`` is the one the telemetry carries) -
written straight to the process's original stderr, so it shows even when the launcher runs before the
application configures logging. Problems found while configuring are the WARNING lines tl-otel's logger
writes just before it."""

from __future__ import annotations

import os
import sys
from typing import Any

from tl_otel.diagnostics import self_log

applied: list[str] = []
failed: dict[str, str] = {}
_announced = False


def record_applied(name: str) -> None:
    applied.append(name)


def record_failed(name: str, exc: BaseException) -> None:
    failed[name] = f"{type(exc).__name__}: {exc}"


def line(runtime: Any) -> dict[str, Any]:
    """The start-up line's content: the fields every tl-otel line has (``self_log.record``), then its own."""
    from tl_otel.startup import instrumentation_versions
    from tl_otel.startup.resource import distro_version

    channels = []
    if runtime.alert_engine is not None:
        channels = [channel.name for channel in getattr(runtime.alert_engine, "channels", [])]
    own = {
        "tl_otel.version": distro_version(),
        "destinations": {signal: names for signal, names in runtime.exporters.items()},
        "posthog": "on" if "posthog" in runtime.exporters.get("traces", []) else "off",
        "scout": "on" if "scout" in runtime.exporters.get("traces", []) else "off",
        "alerts": {"on": runtime.alert_engine is not None, "channels": channels},
        "instrumentations": sorted(set(applied)),
        "instrumentations_failed": dict(failed),
        "instrumentations_adapted": dict(instrumentation_versions.adapted),
        "instrumentations_unsupported": dict(instrumentation_versions.unsupported),
    }
    return self_log.record("INFO", "tl-otel configured", **own)


def announce(runtime: Any) -> None:
    global _announced
    if _announced or runtime is None or not runtime.settings.startup_line:
        return
    _announced = True
    try:
        data = (self_log.dumps(line(runtime)) + "\n").encode()
        stream = sys.__stderr__ or sys.stderr
        os.write(stream.fileno(), data)
    except Exception:
        pass


def announce_after_launcher_instruments(runtime: Any) -> None:
    """The launcher loads instrumentors right after the configurator returns; the line waits for that
    (``_load_instrumentors`` is looked up on the module when the launcher calls it)."""
    try:
        from opentelemetry.instrumentation import auto_instrumentation
    except Exception:
        announce(runtime)
        return
    original = getattr(auto_instrumentation, "_load_instrumentors", None)
    if original is None:
        announce(runtime)
        return

    def load_then_announce(distro: Any) -> Any:
        from tl_otel.startup.instrumentation_versions import launcher_checks

        try:
            with launcher_checks():
                return original(distro)
        finally:
            auto_instrumentation._load_instrumentors = original
            announce(runtime)

    auto_instrumentation._load_instrumentors = load_then_announce
