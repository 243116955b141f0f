"""Alerts end to end: the example API under ``opentelemetry-instrument`` with alert windows of a few
seconds, its remote pricing service misbehaving on purpose, notifications to a real SMTP server
(aiosmtpd) and a local HTTP server standing in for a Slack webhook."""

from __future__ import annotations

import email
import email.policy
import time

import pytest
from aiosmtpd.controller import Controller

from examples.peers.pricing import PricingService
from examples.peers.waiting import wait_for
from examples.peers.webhook import WebhookReceiver
from examples.processes import base_env, free_port, request, start_api, wait_http

pytestmark = pytest.mark.e2e


class Inbox:
    def __init__(self) -> None:
        self.subjects: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.subjects.append(str(message["Subject"]).strip())
        return "250 OK"


@pytest.fixture
def stack(tmp_path):
    webhook, inbox, pricing = WebhookReceiver(), Inbox(), PricingService()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def start(**extra: str):
        settings = {"PRICING_URL": pricing.url, "TL_OTEL_ALERT_WINDOW_S": "4", "TL_OTEL_ALERT_MIN_REQUESTS": "20",
                    "TL_OTEL_ALERT_FOR_S": "1", "TL_OTEL_ALERT_EVAL_INTERVAL_S": "0.3",
                    "TL_OTEL_ALERT_SLACK_WEBHOOK_URL": webhook.url, "TL_OTEL_SMTP_HOST": "127.0.0.1",
                    "TL_OTEL_SMTP_PORT": str(smtp.port), "TL_OTEL_SMTP_TLS": "none",
                    "TL_OTEL_ALERT_EMAIL_TO": "oncall@tl-engine.test", "TL_OTEL_ALERT_DISK_MIN_FREE": "1b"}
        env = base_env(tmp_path / "data", **{**settings, **extra})
        api = start_api(env, port, tmp_path / "logs")
        wait_http(f"{url}/health", process=api)
        return api

    processes = []

    def launch(**extra: str):
        api = start(**extra)
        processes.append(api)
        return api

    yield launch, url, webhook, inbox, pricing
    for api in processes:
        api.stop()
    smtp.stop()
    webhook.stop()
    pricing.stop()


def quotes(url: str, count: int) -> list[int]:
    return [request("GET", f"{url}/engines/engine-123/quote")[0] for _ in range(count)]


def status_of(url: str) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_until(predicate, timeout: float = 15.0) -> bool:
    return wait_for(predicate, timeout)


def test_ten_percent_failures_fire_once_per_channel_then_resolve_once(stack):
    launch, url, webhook, inbox, pricing = stack
    # A window of 8 s: resolving needs 20 healthy requests inside it, which a machine busy with other tests
    # still serves (4 s asked for 5 requests a second, and the test waited for a RESOLVED that could not come).
    api = launch(TL_OTEL_ALERT_WINDOW_S="8")
    pricing.fail_every = 10
    assert quotes(url, 100).count(502) == 10
    assert wait_until(lambda: len(webhook.texts) >= 1 and len(inbox.subjects) >= 1), (webhook.texts, inbox.subjects)
    pricing.fail_every = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(t.startswith("*[RESOLVED]") for t in webhook.texts):
        quotes(url, 5)
    time.sleep(1.0)
    firing = [t for t in webhook.texts if t.startswith("*[FIRING] error rate")]
    resolved = [t for t in webhook.texts if t.startswith("*[RESOLVED] error rate")]
    assert len(firing) == 1 and len(resolved) == 1, webhook.texts
    assert "worst: /engines/{engine_id}/quote: " in firing[0]
    trace_id = firing[0].split("a trace to look at: ")[1].split()[0]
    failed_spans = [r for r in api.records() if r.get("type") == "span" and r.get("http.status_code") == 502]
    assert trace_id in {r["trace_id"] for r in failed_spans}  # a real failing request's trace
    assert [s.split(" ", 1)[0] for s in inbox.subjects if "error rate" in s] == ["[FIRING]", "[RESOLVED]"]
    assert not [t for t in webhook.texts if "remote service" in t]  # 10 % failing is not "down"
    lines = [r for r in api.records() if r.get("logger") == "tl_otel.alerts"]
    assert {r["alert.state"] for r in lines} >= {"pending", "firing", "resolved"}


def test_half_a_percent_raises_nothing(stack):
    launch, url, webhook, inbox, pricing = stack
    launch()
    pricing.fail_every = 200
    quotes(url, 200)
    time.sleep(3)
    assert webhook.texts == [] and inbox.subjects == []


def test_slow_responses_raise_the_latency_alert(stack):
    launch, url, webhook, _, pricing = stack
    launch(TL_OTEL_ALERT_WINDOW_S="30")  # three 1.5 s requests must share the window with the fast ones
    quotes(url, 22)
    pricing.delay = 1.5
    quotes(url, 3)
    pricing.delay = 0
    assert wait_until(lambda: any("p95 response time above 1000 ms" in t for t in webhook.texts))


def test_a_stopped_remote_service_is_remote_down_not_error_rate(stack):
    launch, url, webhook, _inbox, pricing = stack
    # The error rate needs 20 requests, the remote-down rule 3 calls: the notice can name the error rate only if
    # the 30 requests are in the window when remote-down fires. Held 3 s in a 10 s window, they are, however
    # slowly a busy machine serves them.
    launch(TL_OTEL_ALERT_WINDOW_S="10", TL_OTEL_ALERT_FOR_S="3")
    pricing.stop()
    assert set(quotes(url, 30)) == {502}
    assert wait_until(lambda: any("remote service 127.0.0.1" in t for t in webhook.texts))
    time.sleep(1.5)
    assert not [t for t in webhook.texts if t.startswith("*[FIRING] error rate")]  # held while the remote is down
    down = next(t for t in webhook.texts if "remote service" in t)
    assert "meanwhile: error rate" in down


def test_429_raises_rate_limit_and_a_tiny_free_space_threshold_raises_disk_full(stack):
    launch, url, webhook, _, pricing = stack
    launch(TL_OTEL_ALERT_DISK_MIN_FREE="99.999%")
    pricing.status = 429
    assert set(quotes(url, 5)) == {429}
    assert wait_until(lambda: any("rate limit exceeded" in t for t in webhook.texts))
    assert wait_until(lambda: any("disk almost full" in t for t in webhook.texts))


def test_alerts_test_command_reports_each_channel(tmp_path):
    import subprocess

    from examples.processes import BIN
    from tests.conftest import clean_env

    webhook, inbox = WebhookReceiver(), Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        env = clean_env(TL_OTEL_ALERT_SLACK_WEBHOOK_URL=webhook.url, TL_OTEL_SMTP_HOST="127.0.0.1",
                        TL_OTEL_SMTP_PORT=str(smtp.port), TL_OTEL_SMTP_TLS="none",
                        TL_OTEL_ALERT_EMAIL_TO="oncall@tl-engine.test", OTEL_SERVICE_NAME="tl-engine-api")
        ran = subprocess.run([str(BIN / "tl-otel"), "alerts", "test", "--timeout", "10"], env=env,
                             capture_output=True, text=True, timeout=60)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert ran.stdout.splitlines() == ["slack: delivered", "email: delivered"]
        assert webhook.texts[0].startswith("*[TEST] tl-otel alert test from tl-engine-api")
        assert inbox.subjects[0].startswith("[TEST] tl-otel alert test")
        env["TL_OTEL_SMTP_PORT"] = str(free_port())  # nothing listens there
        ran = subprocess.run([str(BIN / "tl-otel"), "alerts", "test", "--timeout", "10"], env=env,
                             capture_output=True, text=True, timeout=60)
        assert ran.returncode == 1 and "email: FAILED (ConnectionRefusedError)" in ran.stdout
        assert "secret" not in ran.stdout + ran.stderr  # the webhook path
    finally:
        smtp.stop()
        webhook.stop()


@pytest.mark.parametrize("failure", ["webhook hangs", "webhook 429", "smtp down"])
def test_failing_channels_do_not_touch_the_application(stack, failure):
    import signal

    launch, url, webhook, _, pricing = stack
    extra = {"TL_OTEL_SHUTDOWN_TIMEOUT": "3"}
    if failure == "webhook hangs":
        webhook.default = (0, {})
    elif failure == "webhook 429":
        webhook.default = (429, {"Retry-After": "30"})
    else:
        extra["TL_OTEL_SMTP_PORT"] = str(free_port())
    api = launch(**extra)
    pricing.fail_every = 2
    slowest = 0.0
    for _ in range(60):
        started = time.monotonic()
        assert request("GET", f"{url}/engines/engine-123/quote")[0] in (200, 502)
        slowest = max(slowest, time.monotonic() - started)
    assert wait_until(lambda: len(webhook.texts) >= 1)  # the alert was raised and its delivery is failing
    for _ in range(20):
        started = time.monotonic()
        request("GET", f"{url}/engines/engine-123/quote")
        slowest = max(slowest, time.monotonic() - started)
    assert slowest < 1.0, slowest
    started = time.monotonic()
    assert api.stop(signal.SIGTERM) == -signal.SIGTERM
    assert time.monotonic() - started < 10
    assert "Traceback" not in api.stderr()


def test_four_uvicorn_workers_send_one_notification_per_incident(tmp_path):
    from examples.processes import BIN, start

    webhook, pricing = WebhookReceiver(), PricingService()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # No worker alone reaches the minimum request count: only the windows they share do.
    env = base_env(tmp_path / "data", PRICING_URL=pricing.url, TL_OTEL_ALERT_WINDOW_S="10",
                   TL_OTEL_ALERT_MIN_REQUESTS="100", TL_OTEL_ALERT_FOR_S="1", TL_OTEL_ALERT_EVAL_INTERVAL_S="0.3",
                   TL_OTEL_ALERT_SLACK_WEBHOOK_URL=webhook.url, TL_OTEL_ALERT_DISK_MIN_FREE="1b",
                   OTEL_SERVICE_NAME="tl-engine-api")
    api = start("api", [str(BIN / "uvicorn"), "examples.engine.api:app", "--host", "127.0.0.1", "--port", str(port),
                        "--workers", "4", "--no-access-log"], env, tmp_path / "logs")
    try:
        wait_http(f"{url}/health", process=api, timeout=60)
        pricing.fail_every = 5
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(8) as pool:  # concurrent connections spread over the workers
            statuses = list(pool.map(lambda _: status_of(f"{url}/engines/engine-123/quote"), range(160)))
        # (SQLite may also answer "database is locked" under four writers: a 500, an error like the 502s)
        assert sum(1 for status in statuses if status >= 500) >= 30, statuses
        assert wait_until(lambda: len(webhook.texts) >= 1)
        time.sleep(3)  # every worker has evaluated several times by now
        firing = [t for t in webhook.texts if t.startswith("*[FIRING] error rate")]
        assert len(firing) == 1, webhook.texts
    finally:
        api.stop()
        webhook.stop()
        pricing.stop()


def test_two_groups_of_workers_on_redis_send_one_notification(tmp_path):
    import uuid
    from concurrent.futures import ThreadPoolExecutor

    from examples.processes import BIN, start

    webhook, pricing = WebhookReceiver(), PricingService()
    groups, urls = [], []
    service = f"tl-engine-api-{uuid.uuid4().hex[:8]}"
    try:
        for name in ("host-a", "host-b"):  # separate temporary dirs: their local stores differ, Redis is shared
            port = free_port()
            env = base_env(tmp_path / name, PRICING_URL=pricing.url, TL_OTEL_ALERT_WINDOW_S="10",
                           TL_OTEL_ALERT_MIN_REQUESTS="100", TL_OTEL_ALERT_FOR_S="1",
                           TL_OTEL_ALERT_EVAL_INTERVAL_S="0.3", TL_OTEL_ALERT_SLACK_WEBHOOK_URL=webhook.url,
                           TL_OTEL_ALERT_DISK_MIN_FREE="1b", OTEL_SERVICE_NAME=service,
                           TL_OTEL_ALERT_REDIS_URL="redis://127.0.0.1:6379/14")
            groups.append(start(name, [str(BIN / "uvicorn"), "examples.engine.api:app", "--host", "127.0.0.1",
                                       "--port", str(port), "--workers", "2", "--no-access-log"], env, tmp_path / name))
            urls.append(f"http://127.0.0.1:{port}")
        for url, group in zip(urls, groups, strict=True):
            wait_http(f"{url}/health", process=group, timeout=60)
        pricing.fail_every = 5
        targets = [f"{urls[index % 2]}/engines/engine-123/quote" for index in range(160)]
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(status_of, targets))
        assert sum(1 for status in statuses if status >= 500) >= 30
        assert wait_until(lambda: len(webhook.texts) >= 1)
        time.sleep(3)
        assert len([t for t in webhook.texts if t.startswith("*[FIRING] error rate")]) == 1, webhook.texts
    finally:
        for group in groups:
            group.stop()
        webhook.stop()
        pricing.stop()
