"""Alert channels against real peers on loopback: an aiosmtpd SMTP server (plain and STARTTLS with a
certificate verified against a CA file) and a local HTTP server standing in for a Slack webhook."""

from __future__ import annotations

import itertools
import subprocess
import time

import pytest
from aiosmtpd.controller import Controller

from examples.peers.webhook import WebhookReceiver
from examples.processes import free_port
from tl_otel.alerting.channels import EmailChannel, Notification, SlackChannel, clean_header

ALERT = Notification("[FIRING] error rate 12.5% > 5% on tl-engine-api", "POST /executions: 5 of 40 failed")


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address.startswith("refuse"):
            return "550 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode()))
        return "250 OK"


@pytest.fixture
def certificate(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    return key, cert


@pytest.fixture
def server_tls(certificate):
    """A server-side TLS context with the test certificate, and the certificate (the CA file clients trust)."""
    import ssl

    key, cert = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context, cert


def smtp_server(inbox: Inbox, tls_context=None) -> Controller:
    controller = Controller(inbox, hostname="localhost", port=free_port(), tls_context=tls_context,
                            require_starttls=tls_context is not None)
    controller.start()
    return controller


def test_email_plain(tmp_path):
    inbox = Inbox()
    server = smtp_server(inbox)
    try:
        channel = EmailChannel("localhost", server.port, "alerts@tl-engine.test", ["oncall@tl-engine.test"],
                               tls="none")
        channel.send(ALERT)
        assert channel.wait_idle(10)
        [(sender, recipients, content)] = inbox.messages
        assert sender == "alerts@tl-engine.test" and recipients == ["oncall@tl-engine.test"]
        assert "Subject: [FIRING] error rate 12.5% > 5% on tl-engine-api" in content
        assert "POST /executions: 5 of 40 failed" in content
    finally:
        server.stop()


def test_email_starttls_verifies_the_certificate(server_tls):
    context, cert = server_tls
    inbox = Inbox()
    server = smtp_server(inbox, context)
    try:
        trusted = EmailChannel("localhost", server.port, "a@x.test", ["b@x.test"], tls="starttls", ca_file=str(cert))
        trusted.send(ALERT)
        assert trusted.wait_idle(10) and len(inbox.messages) == 1
        untrusted = EmailChannel("localhost", server.port, "a@x.test", ["b@x.test"], tls="starttls", attempts=1)
        untrusted.send(ALERT)  # a self-signed certificate not in the default trust store
        assert untrusted.wait_idle(10)
        assert untrusted.stats.failed == 1 and "SSL" in untrusted.stats.last_error
        assert len(inbox.messages) == 1
    finally:
        server.stop()


def test_email_implicit_tls_with_login_against_a_private_ca(server_tls):
    from aiosmtpd.smtp import AuthResult

    context, cert = server_tls
    logins = []

    def authenticate(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=True)

    inbox = Inbox()
    # aiosmtpd does not count implicit TLS as TLS for AUTH; the connection is TLS all the same.
    server = Controller(inbox, hostname="localhost", port=free_port(), ssl_context=context, authenticator=authenticate,
                        auth_require_tls=False)
    server.start()
    try:
        channel = EmailChannel("localhost", server.port, "a@x.test", ["b@x.test"], tls="ssl", ca_file=str(cert),
                               username="alerts", password="s3cret-pass")
        channel.send(ALERT)
        assert channel.wait_idle(10) and len(inbox.messages) == 1 and logins == [(b"alerts", b"s3cret-pass")]
    finally:
        server.stop()


def test_plain_smtp_is_only_for_loopback():
    with pytest.raises(ValueError, match="TL_OTEL_SMTP_TLS=none is only accepted for a loopback SMTP host"):
        EmailChannel("smtp.example.com", 25, "a@x.test", ["b@x.test"], tls="none")


def test_a_subject_with_cr_lf_is_still_delivered_on_one_line():
    inbox = Inbox()
    server = smtp_server(inbox)
    try:
        channel = EmailChannel("localhost", server.port, "a@x.test", ["b@x.test"], tls="none")
        channel.send(Notification("[FIRING] slow route /x\r\nBcc: victim@example.com\x00", "body"))
        assert channel.wait_idle(10)
        [(_, recipients, content)] = inbox.messages
        assert recipients == ["b@x.test"] and "\nBcc:" not in content
        assert "Subject: [FIRING] slow route /x Bcc: victim@example.com\n" in content.replace("\r\n", "\n")
    finally:
        server.stop()


def test_slack_over_https_verifies_against_a_ca_file(server_tls):
    context, cert = server_tls
    hook = WebhookReceiver(tls_context=context)
    try:
        trusted = SlackChannel(hook.url, ca_file=str(cert), min_interval=0)
        trusted.send(ALERT)
        assert trusted.wait_idle(10) and len(hook.texts) == 1
        untrusted = SlackChannel(hook.url, min_interval=0, attempts=1)
        untrusted.send(ALERT)
        assert untrusted.wait_idle(10)
        assert untrusted.stats.failed == 1 and "SSL" in (untrusted.stats.last_error or "")
        assert len(hook.texts) == 1
    finally:
        hook.stop()


def test_partial_recipient_refusal_is_reported_and_the_rest_delivered():
    inbox = Inbox()
    server = smtp_server(inbox)
    try:
        channel = EmailChannel("localhost", server.port, "a@x.test", ["ok@x.test", "refused@x.test"], tls="none")
        channel.send(ALERT)
        assert channel.wait_idle(10)
        assert inbox.messages[0][1] == ["ok@x.test"]
        assert list(channel.stats.partial_refusals) == ["refused@x.test"]
    finally:
        server.stop()


def test_smtp_down_fails_quietly_and_quickly():
    channel = EmailChannel("127.0.0.1", free_port(), "a@x.test", ["b@x.test"], tls="none", attempts=2, backoff=0.05)
    started = time.monotonic()
    assert channel.send(ALERT)  # returns at once
    assert time.monotonic() - started < 0.1
    assert channel.wait_idle(10) and channel.stats.failed == 1 and channel.stats.retried == 1


def test_subjects_lose_control_characters():
    assert clean_header("error on /x\r\nBcc: victim@example.com") == "error on /x Bcc: victim@example.com"


@pytest.fixture
def webhook():
    hook = WebhookReceiver(hang_s=3)
    yield hook
    hook.stop()


def test_slack_message_and_one_per_second(webhook):
    channel = SlackChannel(webhook.url)
    for _ in range(3):
        channel.send(ALERT)
    assert channel.wait_idle(15)
    assert len(webhook.received) == 3 and channel.stats.sent == 3
    times = [at for at, _ in webhook.received]
    assert all(later - earlier >= 0.95 for earlier, later in itertools.pairwise(times))
    assert b"*[FIRING] error rate 12.5% > 5% on tl-engine-api*" in webhook.received[0][1]


def test_slack_429_waits_retry_after_and_delivers(webhook):
    webhook.answers = [(429, {"Retry-After": "2"})]
    channel = SlackChannel(webhook.url)
    channel.send(ALERT)
    assert channel.wait_idle(15)
    (first, _), (second, _) = webhook.received
    assert second - first >= 2.0 and channel.stats.sent == 1 and channel.stats.failed == 0


def test_slack_500_retried_then_hang_times_out_without_leaking_the_url(webhook, capsys, monkeypatch):
    import logging

    from tl_otel.alerting import channels
    from tl_otel.diagnostics.self_log import RateLimitedLog

    monkeypatch.setattr(channels, "_rate_limited", RateLimitedLog())  # earlier tests' warnings hold this one back

    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger("tl_otel").addHandler(handler)
    try:
        webhook.answers = [(500, {}), (200, {})]
        channel = SlackChannel(webhook.url, min_interval=0.0, backoff=0.05)
        channel.send(ALERT)
        assert channel.wait_idle(10) and channel.stats.sent == 1 and channel.stats.retried == 1
        webhook.answers = [(0, {})] * 3  # hang
        hung = SlackChannel(webhook.url, timeout=0.3, min_interval=0.0, attempts=2, backoff=0.05)
        hung.send(ALERT)
        assert hung.wait_idle(15) and hung.stats.failed == 1
    finally:
        logging.getLogger("tl_otel").removeHandler(handler)
    assert messages and not any("secretpath" in m for m in messages)
    assert "secretpath" not in capsys.readouterr().err


def test_slack_url_must_be_https_unless_loopback():
    SlackChannel("https://hooks.slack.com/services/T/B/x")
    SlackChannel("http://localhost:9/x")
    with pytest.raises(ValueError, match="https://") as raised:
        SlackChannel("http://hooks.example.com/services/T/B/secretpath")
    assert "secretpath" not in str(raised.value)
