"""Which instrumentations the launcher would apply, skip or fail on, and why - found the way the launcher
finds them (the ``opentelemetry_instrumentor`` entry points, the readiness check tl-otel's distro applies,
OTEL_PYTHON_DISABLED_INSTRUMENTATIONS), without instrumenting anything."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import entry_points

from tl_otel.startup.instrumentation_readiness import readiness
from tl_otel.startup.instrumentation_versions import missing_parts


@dataclass
class InstrumentationStatus:
    name: str
    status: str  # "apply", "skip", "unsupported" (the installed library's version) or "fail"
    reason: str


def statuses(env: dict[str, str] | None = None) -> list[InstrumentationStatus]:
    env = os.environ if env is None else env
    disabled = {name.strip() for name in env.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "").split(",")
                if name.strip()}
    found: list[InstrumentationStatus] = []
    for entry_point in sorted(entry_points(group="opentelemetry_instrumentor"), key=lambda ep: ep.name):
        name = entry_point.name
        if name in disabled or "*" in disabled:
            found.append(InstrumentationStatus(name, "skip", "disabled by OTEL_PYTHON_DISABLED_INSTRUMENTATIONS"))
            continue
        try:
            state = readiness(entry_point, env)
        except Exception as exc:
            found.append(InstrumentationStatus(name, "fail", f"import failed: {type(exc).__name__}: {exc}"))
            continue
        if state.ready:
            found.append(InstrumentationStatus(name, "apply", "; ".join([state.reason, *missing_parts(name)])))
        else:
            found.append(InstrumentationStatus(name, "unsupported" if state.unsupported else "skip", state.reason))
    return found
