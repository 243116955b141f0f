"""One check per configured destination, each creating no data: connect (and TLS), then authenticate where
the protocol allows it without sending telemetry. Every check is bounded by a timeout and reports success
with its latency, or the exact cause; secrets never appear in what it reports."""

from __future__ import annotations

import json
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from tl_otel.redaction.redactor import Redactor


@dataclass
class CheckResult:
    destination: str
    ok: bool
    detail: str
    latency_ms: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class CheckFailed(Exception):
    pass


def _timed(destination: str, check: Callable[[], str], scrub: Callable[[str], str]) -> CheckResult:
    started = time.perf_counter()
    try:
        detail = check()
    except CheckFailed as exc:
        return CheckResult(destination, False, scrub(str(exc)))
    except TimeoutError:
        return CheckResult(destination, False, "no answer within the timeout (hung)")
    except ConnectionRefusedError:
        return CheckResult(destination, False, "connection refused")
    except ssl.SSLCertVerificationError as exc:
        return CheckResult(destination, False, scrub(f"TLS certificate not trusted: {exc.verify_message}"))
    except Exception as exc:  # the exact cause, in one line, secrets removed
        return CheckResult(destination, False, scrub(f"{type(exc).__name__}: {exc}"))
    return CheckResult(destination, True, detail, round((time.perf_counter() - started) * 1000, 1))


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float,
          context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, BaseException):
            raise reason from None
        raise CheckFailed(str(reason)) from None


def posthog(settings: Any, timeout: float) -> Callable[[], str]:
    """An empty batch to the capture API: authenticated, and no event is created."""
    def check() -> str:
        body = json.dumps({"api_key": settings.posthog_api_key, "batch": []}).encode()
        status, _ = _post(f"{settings.posthog_host.rstrip('/')}/batch/", body,
                               {"Content-Type": "application/json"}, timeout)
        if status in (401, 403):
            raise CheckFailed(f"PostHog rejected the project API key (HTTP {status})")
        if status >= 400:
            raise CheckFailed(f"PostHog answered HTTP {status}")
        return f"capture API accepted the key (HTTP {status})"
    return check


def scout(settings: Any, timeout: float) -> Callable[[], str]:
    """Connect to the core agent's socket and Register, as Scout's agent does on every connection."""
    def check() -> str:
        from scout_apm.core.agent.commands import Register

        from tl_otel.exporters.scout.agent_client import encode, socket_address

        family, address = socket_address(settings.scout_socket_path)
        with socket.socket(family, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            try:
                connection.connect(address)
            except FileNotFoundError:
                raise CheckFailed(f"no core agent socket at {settings.scout_socket_path}") from None
            connection.sendall(encode(Register(settings.scout_name or "tl-otel", settings.scout_key,
                                               socket.gethostname()).message()))
            header = connection.recv(4)
            if len(header) < 4:
                raise CheckFailed("the core agent closed the connection after Register")
            size = int.from_bytes(header, "big")
            reply = b""
            while len(reply) < size:
                chunk = connection.recv(size - len(reply))
                if not chunk:
                    raise CheckFailed("the core agent closed the connection mid-reply")
                reply += chunk
        result = json.loads(reply).get("Register", {}).get("result")
        if result != "Success":
            raise CheckFailed(f"the core agent answered Register with {result!r}")
        return "core agent accepted Register"
    return check


def scout_errors(settings: Any, timeout: float) -> Callable[[], str]:
    """An empty batch of problems to Scout's errors service, as the exporter posts them: reachable and the key
    accepted, and no problem is created."""
    def check() -> str:
        from tl_otel.exporters.scout.error_delivery import ErrorDelivery

        delivery = ErrorDelivery(settings.scout_errors_host, settings.scout_key or "", settings.scout_name,
                                 hostname=settings.scout_hostname, environment=settings.environment, root="")
        delivery.close()
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip", "X-Error-Count": "0",
                   "Agent-Hostname": settings.scout_hostname or ""}
        status, _ = _post(delivery.url, delivery.body([]), headers,
                          timeout)
        if status in (401, 403):
            raise CheckFailed(f"Scout's errors service rejected the key (HTTP {status})")
        if status >= 500 or status in (404, 408, 429):
            raise CheckFailed(f"Scout's errors service answered HTTP {status}")
        return f"errors service reachable (HTTP {status} to an empty batch)"
    return check


def smtp(settings: Any, timeout: float) -> Callable[[], str]:
    """EHLO, STARTTLS or TLS with certificate verification, and the login when one is configured; QUIT."""
    def check() -> str:
        context = ssl.create_default_context(cafile=settings.smtp_ca_file)
        if settings.smtp_tls == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(settings.smtp_host, settings.smtp_port, timeout=timeout,
                                                   context=context)
        else:
            client = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
        with client:
            client.ehlo()
            if settings.smtp_tls == "starttls":
                client.starttls(context=context)
                client.ehlo()
            steps = ["EHLO"] + (["TLS"] if settings.smtp_tls != "none" else [])
            if settings.smtp_username:
                from tl_otel.alerting.channels import login_once

                try:
                    login_once(client, settings.smtp_username, settings.smtp_password or "")
                except smtplib.SMTPAuthenticationError as exc:
                    raise CheckFailed(f"SMTP login refused ({exc.smtp_code})") from None
                steps.append("AUTH")
        return " + ".join(steps) + " ok"
    return check


def slack(settings: Any, timeout: float) -> Callable[[], str]:
    """An empty payload: Slack answers 400 (no text) for a valid webhook and posts nothing; 403/404/410
    mean the URL or its token is wrong."""
    def check() -> str:
        context = ssl.create_default_context(cafile=settings.alert_webhook_ca_file)
        status, answer = _post(settings.alert_slack_webhook_url, b"{}", {"Content-Type": "application/json"},
                               timeout, context)
        if status in (403, 404, 410):
            raise CheckFailed(f"the webhook URL was refused (HTTP {status}: {answer[:60].decode(errors='replace')})")
        if status >= 500:
            raise CheckFailed(f"the webhook answered HTTP {status}")
        return f"webhook reachable and its URL accepted (HTTP {status} to an empty payload)"
    return check


def otlp(endpoint: str, headers: dict[str, str], timeout: float) -> Callable[[], str]:
    """An empty ExportTraceServiceRequest: the collector answers, nothing is exported."""
    def check() -> str:
        status, _ = _post(f"{endpoint.rstrip('/')}/v1/traces", b"",
                          {"Content-Type": "application/x-protobuf", **headers}, timeout)
        if status in (401, 403):
            raise CheckFailed(f"the collector refused the request (HTTP {status}): check OTEL_EXPORTER_OTLP_HEADERS")
        if status >= 400:
            raise CheckFailed(f"the collector answered HTTP {status}")
        return f"collector accepted an empty export (HTTP {status})"
    return check


def _otlp_settings(settings: Any, env: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The collector the OTLP exporters send to: the user's, or their own default when none is set (a refused
    one deselects the otlp exporters)."""
    endpoint = settings.otlp_endpoint or "http://localhost:4318"
    headers = {}
    for item in env.get("OTEL_EXPORTER_OTLP_HEADERS", "").split(","):
        if "=" in item:
            key, value = item.split("=", 1)
            headers[key.strip()] = value.strip()
    return endpoint, headers


def run_checks(settings: Any, env: dict[str, str], timeout: float) -> list[CheckResult]:
    from tl_otel.startup.configure import configured_secrets
    from tl_otel.startup.exporter_selection import selected_exporters

    scrub = Redactor(secrets=configured_secrets(settings)).scrub_text
    checks: list[tuple[str, Callable[[], str]]] = []
    traces, logs = selected_exporters("traces", settings), selected_exporters("logs", settings)
    if "posthog" in traces or "posthog" in logs:
        if settings.posthog_api_key:
            checks.append(("posthog", posthog(settings, timeout)))
        else:
            checks.append(("posthog", _missing("POSTHOG_API_KEY is not set")))
    if "scout" in traces:
        if settings.scout_key:
            checks.append(("scout", scout(settings, timeout)))
        else:
            checks.append(("scout", _missing("SCOUT_KEY is not set")))
    if "scout_errors" in traces:
        if settings.scout_key:
            checks.append(("scout_errors", scout_errors(settings, timeout)))
        else:
            checks.append(("scout_errors", _missing("SCOUT_KEY is not set")))
    if "otlp" in traces or "otlp" in logs or "otlp" in selected_exporters("metrics", settings):
        endpoint, headers = _otlp_settings(settings, env)
        checks.append(("otlp", otlp(endpoint, headers, timeout)))
    if settings.alerts and settings.alert_slack_webhook_url:
        checks.append(("slack", slack(settings, timeout)))
    if settings.alerts and settings.smtp_host:
        checks.append(("email", smtp(settings, timeout)))
    return [_timed(name, check, scrub) for name, check in checks]


def _missing(reason: str) -> Callable[[], str]:
    def check() -> str:
        raise CheckFailed(reason)
    return check
