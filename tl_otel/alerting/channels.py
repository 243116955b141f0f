"""Alert notification channels: a Slack incoming webhook and email over SMTP.

Each channel sends on its own thread from its own bounded queue, with instrumentation suppressed, so a
slow or failing channel never reaches the application and its own HTTP/SMTP calls never become telemetry.
Neither the webhook URL nor the SMTP password ever appears in a message tl-otel logs.

- Slack: at most one message per second per webhook (Slack's documented limit); a 429 waits
  ``Retry-After`` and sends the same message again (it is not dropped); 5xx and network errors are
  retried with backoff a few times; other 4xx are dropped. HTTPS with certificate verification; plain
  ``http://`` only for loopback addresses.
- Email: one SMTP conversation per notification with a timeout; STARTTLS or implicit TLS with a verified
  certificate by default (optionally against a private CA file); CR/LF and other control characters are
  stripped from the subject; a 4xx reply is retried, a 5xx (including a refused login) is not; recipients
  the server refused while accepting others are reported.
"""

from __future__ import annotations

import ipaddress
import json
import os
import queue
import random
import re
import ssl
import threading
import time
import urllib.request
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value

from tl_otel.diagnostics.self_log import RateLimitedLog
from tl_otel.redaction import redactor as redaction

if TYPE_CHECKING:  # smtplib and email are imported when an email is sent, not at every process start
    import smtplib
    from email.message import EmailMessage

_rate_limited = RateLimitedLog()
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Notification:
    subject: str
    text: str


@dataclass
class ChannelStats:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    dropped_queue_full: int = 0
    last_error: str | None = None
    partial_refusals: dict[str, str] = field(default_factory=dict)


class ChannelError(Exception):
    def __init__(self, reason: str, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


class Channel:
    """The queue, thread and retry loop every channel shares; subclasses implement ``deliver``."""

    name = "channel"

    def __init__(self, queue_size: int = 100, attempts: int = 4, backoff: float = 1.0) -> None:
        self.stats = ChannelStats()
        self.attempts = attempts
        self.backoff = backoff
        self.queue_size = queue_size
        self._init_state()
        weak = weakref.WeakMethod(self._init_state)
        os.register_at_fork(after_in_child=lambda: (method := weak()) and method())

    def _init_state(self) -> None:
        # Also the after-fork reset: what the parent still had queued is the parent's to send (a child
        # sending it too would notify twice), and its thread and lock stay with it.
        self._queue: queue.Queue[Notification | None] = queue.Queue(maxsize=self.queue_size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()

    def deliver(self, notification: Notification) -> None:
        raise NotImplementedError

    def send(self, notification: Notification) -> bool:
        """Queue a notification; never blocks, never raises. Its text goes through the same redaction as
        every other item (a route or an exception message can carry a token)."""
        try:
            scrub = redaction.current().scrub_text
            notification = Notification(scrub(notification.subject), scrub(notification.text))
        except Exception:
            pass
        try:
            self._queue.put_nowait(notification)
        except queue.Full:
            self.stats.dropped_queue_full += 1
            return False
        self._idle.clear()
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=f"tl-otel-alert-{self.name}", daemon=True)
                self._thread.start()
        return True

    def wait_idle(self, timeout: float) -> bool:
        return self._idle.wait(timeout)

    def _run(self) -> None:
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            while True:
                try:
                    notification = self._queue.get(timeout=5.0)
                except queue.Empty:
                    self._idle.set()
                    return
                self._send_with_retries(notification)
                if self._queue.empty():
                    self._idle.set()
        finally:
            detach(token)

    def _send_with_retries(self, notification: Notification) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                self.deliver(notification)
                self.stats.sent += 1
                return
            except ChannelError as exc:
                self.stats.last_error = exc.reason
                rate_limited = exc.retry_after is not None
                if not exc.retryable or (attempt >= self.attempts and not rate_limited):
                    self.stats.failed += 1
                    _rate_limited.warning(f"alert-{self.name}", "alert via %s not delivered: %s", self.name,
                                          exc.reason)
                    return
                self.stats.retried += 1
                delay = exc.retry_after if rate_limited else self.backoff * 2 ** (attempt - 1)
                time.sleep(min(delay, 300.0) * (1.0 if rate_limited else random.uniform(0.8, 1.2)))
            except Exception as exc:  # a channel bug must not kill the thread or reach anyone
                self.stats.failed += 1
                self.stats.last_error = type(exc).__name__
                _rate_limited.warning(f"alert-{self.name}", "alert via %s failed: %s", self.name,
                                      type(exc).__name__)
                return


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def validate_webhook_url(url: str) -> str:
    """HTTPS, or plain HTTP to a loopback address only; raises ValueError without echoing the URL
    (its path is the secret)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return url
    raise ValueError("the Slack webhook URL must be https:// (plain http:// only for loopback addresses)")


class SlackChannel(Channel):
    name = "slack"

    def __init__(self, webhook_url: str, timeout: float = 10.0, min_interval: float = 1.0,
                 ca_file: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self._url = validate_webhook_url(webhook_url)
        self.timeout = timeout
        self.min_interval = min_interval
        self._last_sent = 0.0
        self._context = ssl.create_default_context(cafile=ca_file)  # verifies the certificate and host name

    def deliver(self, notification: Notification) -> None:
        wait = self._last_sent + self.min_interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        body = json.dumps({"text": f"*{notification.subject}*\n{notification.text}"}).encode()
        request = urllib.request.Request(self._url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        self._last_sent = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self._context) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            retry_after = exc.headers.get("Retry-After") if exc.code == 429 else None
            seconds = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
            if exc.code == 429:
                raise ChannelError("HTTP 429", True, seconds if seconds is not None else 1.0) from None
            raise ChannelError(f"HTTP {exc.code}", exc.code >= 500) from None
        except (urllib.error.URLError, OSError) as exc:
            # str(exc) of a URLError can include the URL; only the kind of failure is kept.
            reason = getattr(exc, "reason", exc)
            raise ChannelError(type(reason).__name__ if not isinstance(reason, str) else "URLError", True) from None


def login_once(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """Log in with one mechanism (PLAIN, else LOGIN, else what smtplib picks). ``SMTP.login`` tries every
    advertised mechanism in turn after a refusal, and a server that drops the session after one refused
    login leaves it waiting for its timeout instead of reporting the 535."""
    smtp.ehlo_or_helo_if_needed()
    advertised = (smtp.esmtp_features.get("auth") or "").upper().split()
    smtp.user, smtp.password = username, password
    for mechanism, method in (("PLAIN", smtp.auth_plain), ("LOGIN", smtp.auth_login)):
        if mechanism in advertised:
            smtp.auth(mechanism, method, initial_response_ok=True)
            return
    smtp.login(username, password)


def clean_header(value: str) -> str:
    """No CR/LF or other control characters in a header: an alert about a route named with a newline
    must not inject headers."""
    return _CONTROL.sub(" ", value).strip()


class EmailChannel(Channel):
    name = "email"

    def __init__(self, host: str, port: int, sender: str, recipients: list[str], *, username: str | None = None,
                 password: str | None = None, tls: str = "starttls", ca_file: str | None = None,
                 timeout: float = 10.0, **options: Any) -> None:
        super().__init__(**options)
        if tls not in ("starttls", "ssl", "none"):
            raise ValueError("TL_OTEL_SMTP_TLS must be starttls, ssl or none")
        if tls == "none" and not _is_loopback(host):
            # The login and the alert would cross the network in clear text.
            raise ValueError(f"TL_OTEL_SMTP_TLS=none is only accepted for a loopback SMTP host (got {host!r}); "
                             "use starttls or ssl")
        self.host, self.port, self.sender, self.recipients = host, port, sender, list(recipients)
        self.username, self._password = username, password
        self.tls, self.timeout = tls, timeout
        self._context = ssl.create_default_context(cafile=ca_file)  # verifies the certificate and host name

    def _message(self, notification: Notification) -> EmailMessage:
        import email.policy
        from email.message import EmailMessage

        # Long subjects stay on one header line (up to SMTP's 998) instead of being folded at 78.
        message = EmailMessage(policy=email.policy.default.clone(max_line_length=998))
        message["Subject"] = clean_header(notification.subject)
        message["From"] = clean_header(self.sender)
        message["To"] = ", ".join(clean_header(r) for r in self.recipients)
        message.set_content(notification.text)
        return message

    def deliver(self, notification: Notification) -> None:
        import smtplib

        try:
            if self.tls == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                      context=self._context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with smtp:
                if self.tls == "starttls":
                    smtp.starttls(context=self._context)
                if self.username:
                    login_once(smtp, self.username, self._password or "")
                refused = smtp.send_message(self._message(notification), self.sender, self.recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            raise ChannelError(f"all recipients refused ({len(exc.recipients)})", False) from None
        except smtplib.SMTPResponseException as exc:
            raise ChannelError(f"SMTP {exc.smtp_code}", 400 <= exc.smtp_code < 500) from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
            raise ChannelError(type(exc).__name__, not isinstance(exc, ssl.SSLCertVerificationError)) from None
        if refused:
            self.stats.partial_refusals = {address: str(code) for address, (code, _) in refused.items()}
            _rate_limited.warning("alert-email-partial", "alert email refused for %d of %d recipients: %s",
                                  len(refused), len(self.recipients), ", ".join(sorted(refused)))
