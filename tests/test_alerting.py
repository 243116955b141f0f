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
    (tmp_path / "a-file").write_text("")
    engine.store = LocalAlertStore(str(tmp_path / "a-file" / "alerts.sqlite3"))  # its directory cannot exist
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


def fire(tracer, engine, channel, now, failing=20):
    requests(tracer, 100, failing=failing, at=now)
    tick(engine, channel, now)
    assert tick(engine, channel, now + 6)[-1].startswith("[FIRING] error rate")


def test_too_few_requests_never_resolve_a_firing_alert(alerting):
    tracer, engine, channel = alerting
    now = time.time()
    fire(tracer, engine, channel, now)
    # The failures leave the window; what is left is below the minimum request count: no evidence.
    for offset in range(70, 200, 10):
        requests(tracer, 2, at=now + offset)  # 12 in a window, under the minimum of 20
        tick(engine, channel, now + offset)
    assert len(channel.sent_subjects) == 1 and engine.active()[0]["state"] == "firing"


def test_resolves_after_the_for_duration_under_the_threshold_stating_the_resolving_value(alerting):
    tracer, engine, channel = alerting
    now = time.time()
    fire(tracer, engine, channel, now)
    requests(tracer, 40, failing=1, at=now + 70)  # 2.5 % over 40 requests: under the threshold
    assert tick(engine, channel, now + 71)[-1].startswith("[FIRING]")  # under the threshold, not yet for 5 s
    subjects = tick(engine, channel, now + 77)
    assert subjects[-1] == "[RESOLVED] error rate 2.5% ≤ 5% for API requests of tl-engine-api (1 of 40 in the " \
                           "last 60 s)"
    resolved = [h for h in engine.history if h["state"] == "resolved"]
    assert resolved[0]["value"] == 0.025


def test_a_return_above_the_threshold_restarts_the_for_duration_of_resolving(alerting):
    tracer, engine, channel = alerting
    now = time.time()
    fire(tracer, engine, channel, now)
    requests(tracer, 200, failing=2, at=now + 10)  # 22 of 300 in the window: 7.3 %, still above
    requests(tracer, 400, at=now + 11)  # 22 of 700: 3.1 %, under
    tick(engine, channel, now + 12)
    requests(tracer, 100, failing=50, at=now + 13)  # back above
    tick(engine, channel, now + 14)
    requests(tracer, 2000, at=now + 15)  # under again: the 5 s count from here
    tick(engine, channel, now + 16)
    assert len(tick(engine, channel, now + 19)) == 1  # 3 s under: not yet
    assert tick(engine, channel, now + 22)[-1].startswith("[RESOLVED] error rate")


def test_traffic_that_stops_resolves_with_a_notice_saying_so(alerting):
    tracer, engine, channel = alerting
    now = time.time()
    fire(tracer, engine, channel, now)
    subjects = tick(engine, channel, now + 61)  # a whole window without a request
    assert subjects[-1] == ("[RESOLVED] error rate for API requests of tl-engine-api: traffic stopped, no requests "
                            "in the last 60 s")


def test_remote_down_resolves_on_successful_calls_or_on_a_window_without_calls(alerting):
    tracer, engine, channel = alerting
    engine.settings = resolve({}, {"TL_OTEL_ALERT_WINDOW_S": "60", "TL_OTEL_ALERT_FOR_S": "0",
                                   "TL_OTEL_ALERT_DISK_MIN_FREE": "1b"})
    calls(tracer, 10, failing=10, peer="pricing.internal")
    calls(tracer, 10, failing=10, peer="stock.internal")
    now = time.time()
    assert len(tick(engine, channel, now)) == 2
    calls(tracer, 30, failing=0, peer="pricing.internal")  # 10 of 40 failed now: answering again
    subjects = tick(engine, channel, now + 1)
    assert subjects[2:] == ["[RESOLVED] remote service pricing.internal:8080 answering: 30 of 40 calls from "
                            "tl-engine-api succeeded in the last 60 s"]
    subjects = tick(engine, channel, now + 120)
    assert subjects[3:] == ["[RESOLVED] remote service stock.internal:8080: no calls from tl-engine-api in the "
                            "last 60 s"]


def test_rate_limit_resolves_after_a_window_without_429(alerting):
    tracer, engine, channel = alerting
    engine.settings = resolve({}, {"TL_OTEL_ALERT_WINDOW_S": "60", "TL_OTEL_ALERT_FOR_S": "0",
                                   "TL_OTEL_ALERT_DISK_MIN_FREE": "1b"})
    now = time.time()
    requests(tracer, 3, status=429, at=now)
    assert tick(engine, channel, now)[-1].startswith("[FIRING] rate limit exceeded")
    requests(tracer, 50, at=now + 30)
    assert len(tick(engine, channel, now + 30)) == 1  # the 429s are still in the window
    assert tick(engine, channel, now + 61)[-1] == "[RESOLVED] rate limit: no HTTP 429 in tl-engine-api in the " \
                                                 "last 60 s"


def test_disk_full_resolves_when_free_space_is_back_above_the_threshold(alerting):
    _, engine, channel = alerting
    engine.settings = resolve({}, {"TL_OTEL_ALERT_DISK_MIN_FREE": "99.999%", "TL_OTEL_ALERT_FOR_S": "0"})
    now = time.time()
    assert tick(engine, channel, now)[-1].startswith("[FIRING] disk almost full: .")
    engine.settings = resolve({}, {"TL_OTEL_ALERT_DISK_MIN_FREE": "1b", "TL_OTEL_ALERT_FOR_S": "0"})
    assert tick(engine, channel, now + 1)[-1].startswith("[RESOLVED] disk space back: . has ")


def test_distinct_keys_are_bounded_with_one_overflow_key_and_one_warning(self_log):
    settings = resolve({}, {"TL_OTEL_ALERT_MAX_KEYS": "50", "TL_OTEL_ALERT_DISK_MIN_FREE": "1b"})
    processor = AlertingSpanProcessor("svc", settings.alert_latency_ms, settings.alert_max_keys, 400)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("test")
    engine = AlertEngine(processor, settings, "svc", [])
    now = time.time()
    for index in range(500):
        requests(tracer, 1, route=f"/r/{index}", at=now)
    assert processor.tracked_keys() == 51  # fifty routes and the overflow key
    totals = processor.window(now + 1, 60)
    assert totals[("api", "(other: over TL_OTEL_ALERT_MAX_KEYS)")][0] == 450
    assert sum(counts[0] for counts in totals.values()) == 500  # nothing lost, only grouped
    engine.evaluate_once(now + 1)
    engine.evaluate_once(now + 2)
    assert [r.levelname for r in self_log if "TL_OTEL_ALERT_MAX_KEYS" in r.getMessage()] == ["WARNING"]
    processor.window(now + 120, 60)  # the window moved on: the keys are released
    assert processor.tracked_keys() == 0


def test_buckets_are_bounded_even_when_nothing_evaluates():
    processor = AlertingSpanProcessor("svc", 1000, 1000, max_seconds=32)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("test")
    start = time.time() - 20_000
    for second in range(2_000):  # simulated seconds, no evaluation thread at all
        requests(tracer, 1, route=f"/r/{second % 100}", at=start + second)
    assert len(processor.drain_closed(None)) == 32 and processor.tracked_keys() == 0


def test_a_forked_child_starts_empty_and_evaluates_on_its_own_thread(tmp_path):
    """os.fork after configuring: the child has its own evaluation thread, its own (empty) counts, and hands
    what it counted to the store before it exits."""
    import json
    import sqlite3

    from tl_otel.alerting.store import LocalAlertStore

    settings = resolve({}, {"TL_OTEL_ALERT_EVAL_INTERVAL_S": "0.1", "TL_OTEL_ALERT_DISK_MIN_FREE": "1b"})
    processor = AlertingSpanProcessor("svc", 1000)
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("test")
    path = str(tmp_path / "private" / "alerts.sqlite3")
    engine = AlertEngine(processor, settings, "svc", [], store=LocalAlertStore(path))
    engine.start()
    try:
        requests(tracer, 7, at=time.time() + 3600)  # a bucket the parent keeps (not closed yet)
        report = tmp_path / "child.json"
        pid = os.fork()
        if pid == 0:  # the child
            try:
                import threading

                started = processor.window(time.time() + 3600, 60)
                threads = [t.name for t in threading.enumerate()]
                requests(tracer, 5, failing=2)
                engine.stop()
                report.write_text(json.dumps({"started": len(started), "threads": threads}))
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        child = json.loads(report.read_text())
        assert child["started"] == 0 and "tl-otel-alerts" in child["threads"]
        with sqlite3.connect(path) as connection:
            assert connection.execute("SELECT SUM(total), SUM(errors) FROM counts").fetchone() == (5, 2)
    finally:
        engine.stop()


def test_a_disk_path_that_does_not_exist_is_said_once(tmp_path, self_log):
    missing = str(tmp_path / "not-mounted")
    settings = resolve({}, {"TL_OTEL_ALERT_DISK_PATHS": f"{missing},{tmp_path}"})
    processor = AlertingSpanProcessor("svc", settings.alert_latency_ms)
    engine = AlertEngine(processor, settings, "svc", [Recorded()])
    for offset in range(3):
        engine.evaluate_once(now=time.time() + offset)
    said = [r.getMessage() for r in self_log if r.levelname == "WARNING"]
    assert len(said) == 1 and "TL_OTEL_ALERT_DISK_PATHS" in said[0] and repr(missing) in said[0], said
