"""Which exporters each signal gets, and loading them through entry points.

An explicit OTEL_<SIGNAL>_EXPORTER list is used exactly as given. Only when it is unset does tl-otel
choose: traces ``json`` plus ``posthog`` (POSTHOG_API_KEY set) plus ``scout`` (SCOUT_KEY set and
SCOUT_MONITOR not false) and with it ``scout_errors`` (unless SCOUT_ERRORS_ENABLED is false); logs
``json``; metrics ``json``. The core never imports an exporter module by name: ours and third-party ones
are found the same way."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Literal

Signal = Literal["traces", "logs", "metrics"]

ENTRY_POINT_GROUPS: dict[Signal, str] = {
    "traces": "opentelemetry_traces_exporter",
    "logs": "opentelemetry_logs_exporter",
    "metrics": "opentelemetry_metrics_exporter",
}
VARIABLES: dict[Signal, str] = {
    "traces": "OTEL_TRACES_EXPORTER",
    "logs": "OTEL_LOGS_EXPORTER",
    "metrics": "OTEL_METRICS_EXPORTER",
}
_OTLP_BY_PROTOCOL = {"http/protobuf": "otlp_proto_http", "grpc": "otlp_proto_grpc"}


def default_exporters(signal: Signal, settings: Any) -> tuple[str, ...]:
    if signal == "traces":
        names = ["json"]
        if settings.posthog_api_key:
            names.append("posthog")
        if settings.scout_key and settings.scout_monitor:
            names.append("scout")
            if settings.scout_errors_enabled:  # scout_apm sends errors only while it monitors
                names.append("scout_errors")
        return tuple(names)
    return ("json",)


# The setting that says where each exporter sends.
ENDPOINT_SETTINGS = {"posthog": "posthog_host", "scout": "scout_socket_path", "scout_errors": "scout_errors_host",
                     "otlp": "otlp_endpoint"}


def selected_exporters(signal: Signal, settings: Any) -> tuple[str, ...]:
    """The exporters of a signal, without those whose endpoint setting was refused: the refusal's WARNING
    said that destination is off, and no exporter falls back to its default host (PostHog's cloud,
    localhost:4318) or sends to what it made of the refused text."""
    explicit = getattr(settings, f"{signal}_exporter")
    names = tuple(explicit) if explicit is not None else default_exporters(signal, settings)
    return tuple(name for name in names if not _endpoint_refused(name, settings))


def _endpoint_refused(name: str, settings: Any) -> bool:
    from tl_otel.settings.resolve import REFUSED

    setting = ENDPOINT_SETTINGS.get(name)
    source = getattr(settings, "source", None)
    return setting is not None and source is not None and source(setting) == REFUSED


def entry_point_name(name: str, signal: Signal, env: Mapping[str, str] | None = None) -> str:
    """``otlp`` follows OTEL_EXPORTER_OTLP[_<SIGNAL>]_PROTOCOL; tl-otel ships the http/protobuf exporter,
    which is also the spec's default protocol (the SDK alone would pick gRPC)."""
    if name != "otlp":
        return name
    env = os.environ if env is None else env
    protocol = (env.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
                or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf").strip()
    return _OTLP_BY_PROTOCOL.get(protocol, "otlp_proto_http")


@dataclass
class LoadResult:
    exporters: list[tuple[str, Any]]
    problems: list[str]


@functools.lru_cache(maxsize=1)
def _exporter_entry_points() -> dict[str, dict[str, Any]]:
    """Every exporter entry point by group, from one scan of the installed distributions' metadata (a scan
    costs several milliseconds of start-up; the three signals shared one each before)."""
    installed = entry_points()
    return {group: {ep.name: ep for ep in installed.select(group=group)} for group in ENTRY_POINT_GROUPS.values()}


def installed_names(signal: Signal) -> list[str]:
    return sorted(_exporter_entry_points()[ENTRY_POINT_GROUPS[signal]])


def _why(signal: Signal, name: str, settings: Any) -> str:
    if getattr(settings, f"{signal}_exporter") is not None:
        return f"{VARIABLES[signal]} names exporter {name!r}"
    reason = {"posthog": "POSTHOG_API_KEY is set", "scout": "SCOUT_KEY is set",
              "scout_errors": "SCOUT_KEY is set and SCOUT_ERRORS_ENABLED is not false"}.get(name, "it is a default")
    return f"{reason}, so tl-otel selected the {name!r} {signal} exporter"


def load_exporters(signal: Signal, names: tuple[str, ...], settings: Any) -> LoadResult:
    """Instantiate each named exporter. A tl-otel-aware exporter offers ``from_settings(settings)``;
    any other is built with no arguments, as the SDK does. Failures are reported, not raised."""
    available = _exporter_entry_points()[ENTRY_POINT_GROUPS[signal]]
    loaded: list[tuple[str, Any]] = []
    problems: list[str] = []
    for name in names:
        target = entry_point_name(name, signal)
        entry_point = available.get(target)
        if entry_point is None:
            problems.append(
                f"{_why(signal, name, settings)}, but no {signal} exporter of that name is installed "
                f"(installed: {', '.join(installed_names(signal)) or 'none'}); it is skipped"
            )
            continue
        try:
            factory = entry_point.load()
            build = getattr(factory, "from_settings", None)
            loaded.append((name, build(settings) if build is not None else factory()))
        except Exception as exc:
            problems.append(f"{signal} exporter {name!r} could not be started ({type(exc).__name__}: {exc}); "
                            "it is skipped")
    return LoadResult(loaded, problems)


def log_companions(trace_exporters: Iterable[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """A span exporter may need log records as well (PostHog: exceptions that were only logged); it offers a
    companion log exporter (``log_companion``), which joins the log pipeline whatever OTEL_LOGS_EXPORTER
    says. Given exporters or their classes, the companions' destination names and factories."""
    found = []
    for name, exporter in trace_exporters:
        companion = getattr(exporter, "log_companion", None)
        if companion is not None:
            found.append((f"{name}-companion", companion))
    return found


def destination_names(settings: Any) -> dict[Signal, list[str]]:
    """Each signal's destinations as the start-up line names them (companions included), without starting
    any exporter: what ``tl-otel doctor`` shows."""
    names: dict[Signal, list[str]] = {signal: list(selected_exporters(signal, settings)) for signal in VARIABLES}
    available = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUPS["traces"])}
    classes = []
    for name in names["traces"]:
        entry_point = available.get(entry_point_name(name, "traces"))
        try:
            classes.append((name, entry_point.load() if entry_point is not None else None))
        except Exception:
            continue  # the configuration check reports an exporter that cannot load
    names["logs"].extend(name for name, _ in log_companions(classes))
    return names
