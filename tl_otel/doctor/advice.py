"""What ``tl-otel doctor`` notices about naming and coverage: things that work, but not as the user expects."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any


def service_name_advice(settings: Any) -> list[str]:
    from tl_otel.startup.resource import build_resource

    carried = str(build_resource(settings).attributes.get("service.name", ""))
    if not carried.startswith("unknown_service"):
        return []
    return [f"OTEL_SERVICE_NAME is not set: telemetry carries service.name={carried} unless the application "
            "passes tl_otel.configure(service_name=...); set it per process (API and worker apart)"]


def scout_name_advice(settings: Any, traces: list[str]) -> list[str]:
    if "scout" not in traces:
        return []
    source = next((source for name, _, source in settings.display() if name == "scout_name"), "default")
    if source != "default":
        return []
    return [f"SCOUT_NAME is not set: Scout shows this application as {settings.scout_name!r}; set SCOUT_NAME "
            "(one name for the API and its workers, as Scout groups them)"]


@dataclass(frozen=True)
class Uncovered:
    library: str
    version: str
    instrumentation: str


def _installed(distribution: str) -> str | None:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def uncovered_libraries() -> list[Uncovered]:
    """Installed libraries (in the range an instrumentation supports) whose instrumentation is not installed,
    from opentelemetry-instrumentation's own table: what ``opentelemetry-bootstrap`` would add."""
    from opentelemetry.instrumentation.bootstrap_gen import libraries
    from packaging.requirements import InvalidRequirement, Requirement

    found: dict[str, Uncovered] = {}
    for entry in libraries:
        try:
            library, instrumentation = Requirement(entry["library"]), Requirement(entry["instrumentation"])
        except InvalidRequirement:
            continue
        installed = _installed(library.name)
        if installed is None or not library.specifier.contains(installed, prereleases=True):
            continue
        if _installed(instrumentation.name) is not None:
            continue
        found.setdefault(f"{library.name} {instrumentation.name}",
                         Uncovered(library.name, installed, instrumentation.name))
    return sorted(found.values(), key=lambda item: item.library.lower())


def coverage_advice() -> list[str]:
    return [f"{item.library} {item.version} is installed, its instrumentation is not: pip install "
            f"{item.instrumentation} (as `opentelemetry-bootstrap -a requirements` lists it)"
            for item in uncovered_libraries()]


def advise(settings: Any, traces: list[str]) -> list[str]:
    return service_name_advice(settings) + scout_name_advice(settings, traces) + coverage_advice()
