"""Which instrumentations the launcher would apply, skip or fail on, and why - found the way the launcher
finds them (the ``opentelemetry_instrumentor`` entry points, their dependency checks,
OTEL_PYTHON_DISABLED_INSTRUMENTATIONS), without instrumenting anything."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import entry_points

from tl_otel import standard_setup


@dataclass
class InstrumentationStatus:
    name: str
    status: str  # "apply", "skip" or "fail"
    reason: str


def statuses(env: dict[str, str] | None = None) -> list[InstrumentationStatus]:
    from opentelemetry.instrumentation.dependencies import get_dist_dependency_conflicts

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
            conflict = get_dist_dependency_conflicts(entry_point.dist) if entry_point.dist else None
        except Exception as exc:
            found.append(InstrumentationStatus(name, "fail", f"dependency check failed: {type(exc).__name__}"))
            continue
        if conflict is not None:
            if conflict.found is None and not getattr(conflict, "found_any", None):
                required = conflict.required or ", ".join(getattr(conflict, "required_any", None) or ())
                found.append(InstrumentationStatus(name, "skip", f"package missing: {required}"))
            else:
                found.append(InstrumentationStatus(name, "skip", f"version conflict: {conflict}"))
            continue
        skipped = standard_setup.skip_reason(entry_point, env)
        if skipped is not None:
            found.append(InstrumentationStatus(name, "skip", skipped))
            continue
        try:
            entry_point.load()
        except Exception as exc:
            found.append(InstrumentationStatus(name, "fail", f"import failed: {type(exc).__name__}: {exc}"))
            continue
        found.append(InstrumentationStatus(name, "apply", "installed and compatible"))
    return found
