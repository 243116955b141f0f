"""Whether an instrumentation entry point can instrument anything in this environment.

One answer for the launcher path (tl-otel's distro, hence the start-up line's ``instrumentations``) and for
``tl-otel doctor``. The distribution-level check alone is not enough: one distribution may carry several
instrumentors for alternative libraries (opentelemetry-instrumentation-httpx declares ``httpx`` *or*
``httpx2`` and offers an instrumentor for each), so each instrumentor's own dependencies are checked too."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

READY = "installed and compatible"


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str
    # skipped quietly: nothing to instrument, or tl-otel's own choice (tl_otel.integrations.sqlalchemy) that
    # doctor explains, rather than a version conflict the user should hear about
    quiet: bool = False
    # the library is installed at a version the instrumentation does not support, and tl-otel has not verified
    # it beyond its declared range (instrumentation_versions): named on the start-up line and by doctor
    unsupported: bool = False


def _from_conflict(name: str, conflict: Any) -> Readiness:
    from tl_otel.startup import instrumentation_versions as versions

    required = versions.requirement_text(conflict)
    if conflict.found is None and not getattr(conflict, "found_any", None):
        return Readiness(False, f"package missing: {required}", quiet=True)
    found = versions.override_for(name)
    if found is not None:
        override, installed = found
        return Readiness(True, f"applied by tl-otel to {override.library} {installed} beyond its declared "
                               f"{required} (verified by tl-otel's tests)")
    return Readiness(False, f"installed {versions.installed_text(conflict)} is outside what it supports "
                            f"({required}): not traced", unsupported=True)


def readiness(entry_point: Any, env: Mapping[str, str] | None = None) -> Readiness:
    """Checks tl-otel's own choices for OpenTelemetry's standard setup, the entry point's distribution, then the
    instrumentor's own ``instrumentation_dependencies()``; a version conflict tl-otel has verified beyond the
    declared range is ready (``instrumentation_versions.OVERRIDES``). Loading the entry point imports the
    instrumentation module: an import error propagates to the caller."""
    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts, get_dist_dependency_conflicts

    from tl_otel.integrations import sqlalchemy

    chosen = sqlalchemy.skip_reason(entry_point, env)
    if chosen is not None:
        return Readiness(False, chosen, quiet=True)
    adapted: Readiness | None = None
    if entry_point.dist is not None:
        conflict = get_dist_dependency_conflicts(entry_point.dist)
        if conflict is not None:
            adapted = _from_conflict(entry_point.name, conflict)
            if not adapted.ready:
                return adapted
    instrumentor = entry_point.load()()
    conflict = get_dependency_conflicts(instrumentor.instrumentation_dependencies())
    if conflict is not None:
        state = _from_conflict(entry_point.name, conflict)
        if not state.ready:
            return state
        adapted = adapted or state
    return adapted or Readiness(True, READY)
