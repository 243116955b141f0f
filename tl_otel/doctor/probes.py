"""What ``tl-otel doctor --send`` sends, said before it is sent, and the sending: one probe span and one log
record through every configured destination, one test notification through each alert channel."""

from __future__ import annotations

import socket
from typing import Any

PROBE_SPAN = "tl-otel doctor probe"
PROBE_ROUTE = "/tl-otel-doctor-probe"
PROBE_LOGGER = "tl-otel-doctor"


def service_name(settings: Any) -> str:
    from tl_otel.startup.resource import build_resource

    return str(build_resource(settings).attributes.get("service.name", ""))


def notification_title(settings: Any) -> str:
    return f"[TEST] tl-otel doctor probe from {service_name(settings)} on {socket.gethostname()}"


def plan(settings: Any, exporters: dict[str, list[str]]) -> list[str]:
    """One line per destination that will receive something, naming what and where (hosts, never secrets)."""
    lines: list[str] = []
    service = service_name(settings)
    for name in exporters.get("traces", []):
        if name == "json":
            lines.append(f"JSON lines (stdout): a SERVER span {PROBE_SPAN!r} (GET {PROBE_ROUTE}, status 200, "
                         f"service.name {service})")
        elif name == "posthog":
            lines.append(f"PostHog at {settings.posthog_host}: an `api_request` event for GET {PROBE_ROUTE} "
                         f"(status 200) from {service}, in the project of POSTHOG_API_KEY")
        elif name == "scout":
            lines.append(f"Scout's core agent at {settings.scout_socket_path}: a request "
                         f"`Controller/GET {PROBE_ROUTE}` for app {settings.scout_name!r}")
        else:
            lines.append(f"traces exporter {name}: the span {PROBE_SPAN!r}")
    for name in exporters.get("logs", []):
        if name.endswith("-companion"):
            continue  # PostHog's log companion takes exceptions only; the probe is not one
        where = "JSON lines (stdout)" if name == "json" else f"logs exporter {name}"
        lines.append(f"{where}: a WARNING log record {PROBE_SPAN!r} (logger {PROBE_LOGGER})")
    if settings.alerts:
        from tl_otel.alerting.setup import build_channels

        title = notification_title(settings)
        for channel in build_channels(settings)[0]:
            if channel.name == "slack":
                lines.append(f"Slack (TL_OTEL_ALERT_SLACK_WEBHOOK_URL): a message {title!r}")
            elif channel.name == "email":
                lines.append(f"email through {settings.smtp_host}:{settings.smtp_port} to "
                             f"{', '.join(settings.alert_email_to)}: {title!r}")
            else:
                lines.append(f"alert channel {channel.name}: {title!r}")
    return lines


def send(timeout: float) -> list[dict[str, Any]]:
    """One probe span and one log record through every configured destination, then what health() says."""
    import logging

    from opentelemetry import trace

    import tl_otel

    runtime = tl_otel.configure(instrument=False)
    with trace.get_tracer("tl_otel.doctor").start_as_current_span(
            PROBE_SPAN, kind=trace.SpanKind.SERVER,
            attributes={"http.route": PROBE_ROUTE, "http.method": "GET", "http.status_code": 200}):
        # Not under the "tl_otel" logger: that one never enters the pipeline.
        logging.getLogger(PROBE_LOGGER).warning(PROBE_SPAN)
    runtime.force_flush(timeout)
    results = []
    for entry in tl_otel.health().values():
        for name, destination in entry["destinations"].items():
            if name.endswith("-companion"):
                continue  # PostHog's log companion takes exceptions only; the probe is not one
            ok = destination["exported"] > 0 and not destination["failed"]
            results.append({"destination": name, "ok": ok, "detail": "probe delivered" if ok else
                            f"probe not delivered ({destination['last_error'] or 'nothing exported'})"})
    results.extend(_alert_probes(runtime.settings, timeout))
    return results


def _alert_probes(settings: Any, timeout: float) -> list[dict[str, Any]]:
    """One test notification through each configured alert channel."""
    from tl_otel.alerting.channels import Notification
    from tl_otel.alerting.setup import build_channels

    if not settings.alerts:
        return []
    channels, _ = build_channels(settings)
    notification = Notification(notification_title(settings), "Sent by `tl-otel doctor --send`. Nothing is wrong.")
    for channel in channels:
        channel.attempts = 1
        channel.send(notification)
    results = []
    for channel in channels:
        channel.wait_idle(timeout)
        ok = channel.stats.sent > 0
        results.append({"destination": f"alerts-{channel.name}", "ok": ok, "detail": "probe alert delivered" if ok
                        else f"probe alert not delivered ({channel.stats.last_error or 'no answer in time'})"})
    return results
