"""Whether an instrumentation entry point can instrument anything in this environment.

One answer for the launcher path (tl-otel's distro, hence the start-up line's ``instrumentations``) and for
``tl-otel doctor``. The distribution-level check alone is not enough: one distribution may carry several
instrumentors for alternative libraries (opentelemetry-instrumentation-httpx declares ``httpx`` *or*
``httpx2`` and offers an instrumentor for each), so each instrumentor's own dependencies are checked too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

READY = "installed and compatible"


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str
    library_missing: bool = False  # nothing to instrument (skipped quietly), rather than a version conflict


def _from_conflict(conflict: Any) -> Readiness:
    if conflict.found is None and not getattr(conflict, "found_any", None):
        required = conflict.required or ", ".join(getattr(conflict, "required_any", None) or ())
        return Readiness(False, f"package missing: {required}", library_missing=True)
    return Readiness(False, f"version conflict: {conflict}")


def readiness(entry_point: Any) -> Readiness:
    """Checks the entry point's distribution, then the instrumentor's own ``instrumentation_dependencies()``.
    Loading the entry point imports the instrumentation module: an import error propagates to the caller."""
    from opentelemetry.instrumentation.dependencies import get_dependency_conflicts, get_dist_dependency_conflicts

    if entry_point.dist is not None:
        conflict = get_dist_dependency_conflicts(entry_point.dist)
        if conflict is not None:
            return _from_conflict(conflict)
    instrumentor = entry_point.load()()
    conflict = get_dependency_conflicts(instrumentor.instrumentation_dependencies())
    if conflict is not None:
        return _from_conflict(conflict)
    return Readiness(True, READY)
