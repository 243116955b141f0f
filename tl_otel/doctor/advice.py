"""What ``tl-otel doctor`` notices about naming and coverage: things that work, but not as the user expects."""

from __future__ import annotations

from collections.abc import Mapping
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


def uncovered_libraries(env: Mapping[str, str] | None = None) -> list[Uncovered]:
    """Libraries the application installed itself (in the range an instrumentation supports) whose
    instrumentation is not installed and would be applied, from opentelemetry-instrumentation's own table.
    Left out: a library another installed package requires (``library_users``), an instrumentation named by a
    library it does not instrument (the table lists tortoiseorm's under pydantic too), and a DB-API driver
    while SQLAlchemy's instrumentation makes the query spans (tl-otel does not apply driver instrumentations
    then)."""
    from opentelemetry.instrumentation.bootstrap_gen import libraries
    from packaging.requirements import InvalidRequirement, Requirement

    from tl_otel.doctor.library_users import brought_by, is_dbapi_driver
    from tl_otel.integrations.sqlalchemy import drivers_left_to_sqlalchemy

    by_instrumentation: dict[str, list[Requirement]] = {}
    for entry in libraries:
        try:
            library, instrumentation = Requirement(entry["library"]), Requirement(entry["instrumentation"])
        except InvalidRequirement:
            continue
        by_instrumentation.setdefault(instrumentation.name, []).append(library)
    found: dict[str, Uncovered] = {}
    for instrumentation, candidates in by_instrumentation.items():
        if _installed(instrumentation) is not None:
            continue
        present = [(library, _installed(library.name)) for library in candidates]
        present = [(library, installed) for library, installed in present
                   if installed is not None and library.specifier.contains(installed, prereleases=True)]
        if len(present) != len(candidates) and len(candidates) > 1:
            # Several libraries listed for one instrumentation name alternatives it needs together or a
            # helper (pydantic for tortoise-orm): only the one that names the instrumentation counts.
            present = [(library, installed) for library, installed in present
                       if library.name.replace("-", "") in instrumentation.replace("-", "")]
        for library, installed in present:
            if brought_by(library.name):
                continue
            if drivers_left_to_sqlalchemy(env) and is_dbapi_driver(library.name):
                continue
            found.setdefault(instrumentation, Uncovered(library.name, installed, instrumentation))
    return sorted(found.values(), key=lambda item: item.library.lower())


# Holding every installed distribution at its version as a constraint: the contrib project does not publish every
# instrumentation in every release (0.66b2 has some, 0.66b1 all), and each instrumentation pins
# opentelemetry-instrumentation exactly, so an unpinned install takes the newest release that exists and moves the
# whole OpenTelemetry train back to it. With the constraints pip installs a release on the installed train, or
# says there is none and changes nothing.
HOLD_INSTALLED = "pip list --format=freeze | pip install -c /dev/stdin"


def install_command(instrumentation: str) -> str:
    return f"{HOLD_INSTALLED} {instrumentation}"


def coverage_advice(env: Mapping[str, str] | None = None) -> list[str]:
    train = _installed("opentelemetry-instrumentation") or "?"
    return [f"{item.library} {item.version} is installed for the application and not traced: "
            f"`{install_command(item.instrumentation)}` adds {item.instrumentation} on the installed OpenTelemetry "
            f"release ({train}) and moves nothing; if that release has none, pip says so (ResolutionImpossible) "
            "and installs nothing"
            for item in uncovered_libraries(env)]


def advise(settings: Any, traces: list[str]) -> list[str]:
    return service_name_advice(settings) + scout_name_advice(settings, traces) + coverage_advice()
