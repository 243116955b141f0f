"""Which instrumentations the launcher would apply, skip or fail on, and why - found the way the launcher
finds them (the ``opentelemetry_instrumentor`` entry points, their dependency checks,
OTEL_PYTHON_DISABLED_INSTRUMENTATIONS), without instrumenting anything."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib.metadata import entry_points

from tl_otel.instrumentation_versions import installed_text, missing_parts, override_for, requirement_text


@dataclass
class InstrumentationStatus:
    name: str
    status: str  # "apply", "skip", "unsupported" (the installed library's version) or "fail"
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
        adapted = None
        if conflict is not None:
            required = requirement_text(conflict)
            if conflict.found is None and not getattr(conflict, "found_any", None):
                found.append(InstrumentationStatus(name, "skip", f"package missing: {required}"))
                continue
            override = override_for(name)
            if override is None:
                found.append(InstrumentationStatus(
                    name, "unsupported", f"installed {installed_text(conflict)} is outside what it supports "
                    f"({required}): not traced"))
                continue
            adapted = (f"applied by tl-otel to {override[0].library} {override[1]} beyond its declared "
                       f"{required} (verified by tl-otel)")
        try:
            entry_point.load()
        except Exception as exc:
            found.append(InstrumentationStatus(name, "fail", f"import failed: {type(exc).__name__}: {exc}"))
            continue
        parts = [adapted or "installed and compatible", *missing_parts(name)]
        found.append(InstrumentationStatus(name, "apply", "; ".join(parts)))
    return found
