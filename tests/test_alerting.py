"""Alerting at unit level: what on_end counts, the rules over windows, and the lifecycle (pending →
firing → repeat → resolved), grouping and inhibition, driven by real SDK spans and explicit clock ticks."""

from __future__ import annotations

import os
import time

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import SpanKind, Status, StatusCode

from tl_otel.alerting.channels import Channel
from tl_otel.alerting.engine import AlertEngine
from tl_otel.alerting.processor import AlertingSpanProcessor
from tl_otel.settings import resolve


class Recorded(Channel):
    name = "recorded"

    def __init__(self) -> None:
        super().__init__()
        self.sent_subjects: list[str] = []

    def deliver(self, notification) -> None:
        self.sent_subjects.append(notification.subject)


@pytest.fixture
def alerting():
    settings = resolve({}, {
        "TL_OTEL_ALERT_WINDOW_S": "60", "TL_OTEL_ALERT_MIN_REQUESTS": "20", "TL_OTEL_ALERT_FOR_S": "5",
        "TL_OTEL_ALERT_REPEAT_S": "100", "TL_OTEL_ALERT_DISK_MIN_FREE": "1b"})
    processor = AlertingSpanProcessor("tl-engine-api", settings.alert_latency_ms)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    channel = Recorded()
    engine = AlertEngine(processor, settings, "tl-engine-api", [channel])
    return provider.get_tracer("test"), engine, channel


def requests(tracer, count, failing=0, route="/executions", status=200, slow_ms=0, at=None):
    for index in range(count):
        code = 500 if index < failing else status
        start = time.time_ns() if at is None else int(at * 1e9)
        span = tracer.start_span(f"POST {route}", kind=SpanKind.SERVER, start_time=start - slow_ms * 1_000_000,
                                 attributes={"http.route": route, "http.status_code": code})
        if code >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=start)


def calls(tracer, count, failing, peer="pricing.internal"):
    for index in range(count):
        with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT,
                                          attributes={"server.address": peer, "server.port": 8080}) as span:
            if index < failing:
                span.set_status(Status(StatusCode.ERROR, "ConnectError"))


def tick(engine, channel, at):
    engine.evaluate_once(now=at)
    for sender in engine.channels:
        sender.wait_idle(5)
    return list(channel.sent_subjects)


def test_error_rate_pending_firing_repeat_resolved_one_notification_each(alerting):
    tracer, engine, channel = alerting
    requests(tracer, 100, failing=10)
    now = time.time()
    assert tick(engine, channel, now) == []  # pending: held for TL_OTEL_ALERT_FOR_S
    assert [a["state"] for a in engine.active()] == ["pending"]
    subjects = tick(engine, channel, now + 6)
    assert subjects == ["[FIRING] error rate 10.0% > 5% for API requests of tl-engine-api (10 of 100)"]
    requests(tracer, 100, failing=10)
    assert tick(engine, channel, now + 7) == subjects  # still firing: no second notification
    subjects = tick(engine, channel, now + 120)  # the window moved past the failures
    assert len(subjects) == 2 and subjects[1].startswith("[RESOLVED] error rate")
    assert tick(engine, channel, now + 130) == subjects and engine.active() == []


def test_repeat_interval(alerting):
    tracer, engine, channel = alerting
    now = time.time()
    requests(tracer, 100, failing=20, at=now)
    tick(engine, channel, now)
    tick(engine, channel, now + 6)
    tick(engine, channel, now + 50)
    assert len(channel.sent_subjects) == 1
    requests(tracer, 100, failing=20, at=now + 100)  # the failures go on
    subjects = tick(engine, channel, now + 107)  # TL_OTEL_ALERT_REPEAT_S (100 s) after the first notice
    assert len(subjects) == 2 and all(s.startswith("[FIRING] error rate") for s in subjects)


def test_low_traffic_and_low_rates_never_alert(alerting):
    tracer, engine, channel = alerting
    requests(tracer, 1, failing=1)  # 1 failure out of 1
    requests(tracer, 200, failing=1, route="/engines")  # 0.5 %
    now = time.time()
    tick(engine, channel, now)
    tick(engine, channel, now + 6)
    assert channel.sent_subjects == [] and engine.active() == []


def test_a_short_spike_clears_while_pending_and_pages_nobody(alerting):
    tracer, engine, channel = alerting
    requests(tracer, 40, failing=10)
    now = time.time()
    tick(engine, channel, now)
    assert engine.active()[0]["state"] == "pending"
    assert tick(engine, channel, now + 61) == []  # out of the window before TL_OTEL_ALERT_FOR_S... cleared
    assert engine.active() == [] and engine.history[-1]["state"] == "cleared"


def test_latency_p95_above_threshold(alerting):
    tracer, engine, channel = alerting
    requests(tracer, 90)
    requests(tracer, 10, route="/reports", slow_ms=1500)
    now = time.time()
    tick(engine, channel, now)
    [subject] = tick(engine, channel, now + 6)
    assert subject.startswith("[FIRING] p95 response time above 1000 ms for API requests of tl-engine-api")


def test_remote_down_holds_the_error_rate_alert_and_reports_it(alerting):
    tracer, engine, channel = alerting
    calls(tracer, 10, failing=10)
    requests(tracer, 100, failing=30)
    now = time.time()
    tick(engine, channel, now)
    subjects = tick(engine, channel, now + 6)
    assert subjects == ["[FIRING] remote service pricing.internal:8080 failing: 10 of 10 calls from tl-engine-api"]
    held = [a for a in engine.active() if a["rule"] == "error_rate"]
    assert held and held[0]["held"] is True


def test_rate_limit_and_disk_full(alerting):
    tracer, engine, channel = alerting
    requests(tracer, 3, status=429)
    engine.settings = resolve({}, {"TL_OTEL_ALERT_DISK_MIN_FREE": "99.9%", "TL_OTEL_ALERT_FOR_S": "0"})
    now = time.time()
    subjects = tick(engine, channel, now)
    assert "[FIRING] rate limit exceeded: 3 HTTP 429 in tl-engine-api" in subjects
    assert any(s.startswith("[FIRING] disk almost full: .") for s in subjects)


def test_on_end_never_raises_and_counts_only_local_roots(alerting):
    tracer, engine, _ = alerting
    with (tracer.start_as_current_span("GET /x", kind=SpanKind.SERVER, attributes={"http.route": "/x"}),
          tracer.start_as_current_span("nested", kind=SpanKind.SERVER)):
        pass
    engine.processor.on_end(object())  # not a span at all: swallowed
    totals = engine.processor.window(time.time(), 60)
    assert totals == {("api", "/x"): [1, 0, 0, 0]}


def test_processes_sharing_the_local_store_notify_once_per_incident(tmp_path):
    from tl_otel.alerting.store import LocalAlertStore

    settings = resolve({}, {"TL_OTEL_ALERT_WINDOW_S": "60", "TL_OTEL_ALERT_MIN_REQUESTS": "20",
                            "TL_OTEL_ALERT_FOR_S": "0", "TL_OTEL_ALERT_DISK_MIN_FREE": "1b"})
    path = str(tmp_path / "alerts.sqlite3")
    workers = []
    for _ in range(4):  # four worker processes of one service, each with its own processor and store handle
        processor = AlertingSpanProcessor("tl-engine-api", settings.alert_latency_ms)
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(processor)
        channel = Recorded()
        engine = AlertEngine(processor, settings, "tl-engine-api", [channel], store=LocalAlertStore(path))
        workers.append((provider.get_tracer("test"), engine, channel))
    now = time.time()
    for tracer, _, _ in workers:
        requests(tracer, 10, failing=1, at=now - 2)  # 1 in 10 per worker: only the sum reaches 20 requests
    for _, engine, channel in workers:
        tick(engine, channel, now)
    for _, engine, channel in workers:
        tick(engine, channel, now + 1)
    sent = [subject for _, _, channel in workers for subject in channel.sent_subjects]
    # It fires as soon as the shared sum reaches 20 requests (no single worker has more than 10), once.
    assert len(sent) == 1 and sent[0].startswith("[FIRING] error rate 10.0% > 5% for API requests")
    for _, engine, channel in workers:
        tick(engine, channel, now + 120)  # the window has passed
    sent = [subject for _, _, channel in workers for subject in channel.sent_subjects]
    assert sorted(subject.split(" ", 1)[0] for subject in sent) == ["[FIRING]", "[RESOLVED]"]
    assert all(engine.active() == [] for _, engine, _ in workers)


def test_an_unusable_store_falls_back_to_evaluating_alone(tmp_path, alerting):
    from tl_otel.alerting.store import LocalAlertStore

    tracer, engine, channel = alerting
    engine.store = LocalAlertStore(str(tmp_path / "missing-dir" / "alerts.sqlite3"))
    requests(tracer, 100, failing=20)
    now = time.time()
    tick(engine, channel, now)
    assert tick(engine, channel, now + 6)[0].startswith("[FIRING] error rate")


def redis_listening() -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", 6379)) == 0


@pytest.mark.skipif(not os.environ.get("CI") and not redis_listening(),
                    reason="needs Redis on 127.0.0.1:6379 (./run tests starts it)")
def test_two_groups_of_processes_sharing_redis_notify_once(tmp_path):
    import uuid

    from tl_otel.alerting.redis_store import RedisAlertStore

    service = f"tl-engine-api-{uuid.uuid4().hex[:8]}"  # a fresh key space per run
    settings = resolve({}, {"TL_OTEL_ALERT_WINDOW_S": "60", "TL_OTEL_ALERT_MIN_REQUESTS": "20",
                            "TL_OTEL_ALERT_FOR_S": "0", "TL_OTEL_ALERT_DISK_MIN_FREE": "1b"})
    hosts = []
    for _ in range(2):  # two hosts, each with its own processes, sharing only Redis
        processor = AlertingSpanProcessor(service, settings.alert_latency_ms)
        provider = TracerProvider(shutdown_on_exit=False)
        provider.add_span_processor(processor)
        channel = Recorded()
        store = RedisAlertStore("redis://127.0.0.1:6379/14", service, settings.alert_window_s)
        hosts.append((provider.get_tracer("test"), AlertEngine(processor, settings, service, [channel], store=store),
                      channel))
    now = time.time()
    for tracer, _, _ in hosts:
        requests(tracer, 12, failing=2, at=now - 2)  # neither host alone reaches 20 requests
    for _ in range(2):
        for _, engine, channel in hosts:
            tick(engine, channel, now + 1)
    sent = [subject for _, _, channel in hosts for subject in channel.sent_subjects]
    assert len(sent) == 1 and sent[0].startswith("[FIRING] error rate 16.7% > 5% for API requests")
    for _, engine, channel in hosts:
        tick(engine, channel, now + 120)
    sent = [subject for _, _, channel in hosts for subject in channel.sent_subjects]
    assert sorted(subject.split(" ", 1)[0] for subject in sent) == ["[FIRING]", "[RESOLVED]"]


def test_unreachable_redis_falls_back_to_evaluating_alone(alerting):
    from tl_otel.alerting.redis_store import RedisAlertStore

    tracer, engine, channel = alerting
    engine.store = RedisAlertStore("redis://127.0.0.1:9/0", "svc", 60)
    requests(tracer, 100, failing=20)
    now = time.time()
    tick(engine, channel, now)
    assert tick(engine, channel, now + 6)[0].startswith("[FIRING] error rate")
