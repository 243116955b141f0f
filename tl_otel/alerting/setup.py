"""Building the alerting parts from settings: the span processor, the channels and the engine."""

from __future__ import annotations

import socket
from typing import Any

from tl_otel.alerting.channels import Channel, EmailChannel, SlackChannel
from tl_otel.alerting.engine import AlertEngine
from tl_otel.alerting.processor import AlertingSpanProcessor
from tl_otel.alerting.store import LocalAlertStore
from tl_otel.settings.resolve import REFUSED


def build_channels(settings: Any) -> tuple[list[Channel], list[str]]:
    channels: list[Channel] = []
    problems: list[str] = []
    if settings.alert_slack_webhook_url:
        try:
            channels.append(SlackChannel(settings.alert_slack_webhook_url, ca_file=settings.alert_webhook_ca_file))
        except (ValueError, OSError) as exc:
            problems.append(f"TL_OTEL_ALERT_SLACK_WEBHOOK_URL is not valid: {exc}; Slack alerts are off")
    if settings.smtp_host and settings.alert_email_to:
        sender = settings.alert_email_from or f"tl-otel@{socket.gethostname()}"
        try:
            channels.append(EmailChannel(settings.smtp_host, settings.smtp_port, sender, list(settings.alert_email_to),
                                         username=settings.smtp_username, password=settings.smtp_password,
                                         tls=settings.smtp_tls, ca_file=settings.smtp_ca_file))
        except (ValueError, OSError) as exc:
            problems.append(f"alert email is off: {type(exc).__name__}: {exc}")
    elif settings.alert_email_to and settings.source("smtp_host") == REFUSED:
        pass  # the refused TL_OTEL_SMTP_HOST was warned about, and says email is off
    elif settings.smtp_host or settings.alert_email_to:
        problems.append("alert email needs both TL_OTEL_SMTP_HOST and TL_OTEL_ALERT_EMAIL_TO; email alerts are off")
    return channels, problems


def build(settings: Any, service: str, logger_provider: Any) -> tuple[AlertingSpanProcessor, AlertEngine, list[str]]:
    # Buckets kept at most: the window, plus what may wait between two evaluations.
    max_seconds = int(settings.alert_window_s + settings.alert_eval_interval_s) + 2
    processor = AlertingSpanProcessor(service, settings.alert_latency_ms, settings.alert_max_keys, max_seconds)
    channels, problems = build_channels(settings)
    store = build_store(settings, service)
    engine = AlertEngine(processor, settings, service, channels, logger_provider, store)
    return processor, engine, problems


def build_store(settings: Any, service: str) -> Any:
    """The shared store the settings ask for (None: each process alone). Nothing is opened here."""
    if settings.alert_redis_url:
        from tl_otel.alerting.redis_store import RedisAlertStore

        return RedisAlertStore(settings.alert_redis_url, service, settings.alert_window_s,
                               ca_file=settings.alert_redis_ca_file)
    if settings.alert_store == "local":
        return LocalAlertStore(service=service, retention_s=settings.alert_window_s + 60,
                               slot_s=int(settings.alert_window_s // 60))
    return None
