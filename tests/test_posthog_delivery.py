"""Delivery to a local server speaking PostHog's capture API: what arrives on the wire under each answer."""

from __future__ import annotations

import threading
import time

import pytest

from examples.peers.posthog_capture import Answer, PostHogCapture
from tl_otel.exporters.posthog.delivery import Delivery


@pytest.fixture
def capture():
    server = PostHogCapture()
    yield server
    server.stop()


def events(count, prefix="e"):
    return [{"event": "api_request", "distinct_id": "service:svc", "uuid": f"{prefix}-{index}",
             "timestamp": "2026-11-25T12:00:00+00:00", "properties": {"index": index}} for index in range(count)]


def delivery(capture, **options):
    options.setdefault("retry_window", 30.0)
    return Delivery("phc_test_key", capture.url, backoff_base=0.05, **options)


def test_a_batch_arrives_gzipped_in_posthogs_format(capture):
    sender = delivery(capture)
    assert sender.send(events(3))
    [request] = capture.received
    assert request.path == "/batch/"
    assert request.headers["Content-Encoding"] == "gzip" and request.headers["User-Agent"].startswith("posthog-python/")
    body = request.body
    assert body["api_key"] == "phc_test_key" and body["historical_migration"] is False and body["sent_at"]
    assert [e["uuid"] for e in body["batch"]] == ["e-0", "e-1", "e-2"]
    assert sender.stats.delivered == 3


def test_one_connection_is_reused_request_after_request(capture):
    sender = delivery(capture)
    for index in range(5):
        assert sender.send(events(2, prefix=f"b{index}"))
    assert len(capture.received) == 5 and capture.connections == 1


def test_a_connection_broken_by_a_timeout_is_replaced_and_then_reused(capture):
    capture.answer(Answer(200, hang=1.0))
    sender = delivery(capture, timeout=0.3)
    assert sender.send(events(1, prefix="slow"))  # timed out, retried on a new connection
    for index in range(3):
        assert sender.send(events(1, prefix=f"b{index}"))
    assert capture.connections == 2


def test_uncompressed_when_gzip_is_off(capture):
    assert delivery(capture, use_gzip=False).send(events(1))
    assert "Content-Encoding" not in capture.received[0].headers


@pytest.mark.parametrize("status", [400, 401, 403])
def test_client_errors_are_not_retried(capture, status):
    capture.answer(Answer(status))
    sender = delivery(capture)
    assert not sender.send(events(4))
    assert len(capture.received) == 1
    assert sender.stats.dropped == {str(status): 4}


def test_413_splits_the_batch_until_it_fits(capture):
    capture.answer(Answer(413), Answer(413), Answer(413), Answer(200), Answer(200))
    sender = delivery(capture)
    assert not sender.send(events(4))  # one event alone is still too large: dropped, the rest delivered
    sizes = [len(r.body["batch"]) for r in capture.received]
    assert sizes == [4, 2, 1, 1, 2]
    assert sender.stats.delivered == 3 and sender.stats.dropped == {"413": 1}


def test_500_then_recovery_resends_the_same_uuids_and_nothing_after_200(capture):
    capture.answer(Answer(500), Answer(503))
    sender = delivery(capture)
    assert sender.send(events(3))
    uuids = [[e["uuid"] for e in r.body["batch"]] for r in capture.received]
    assert uuids == [["e-0", "e-1", "e-2"]] * 3
    assert [r.status for r in capture.received] == [500, 503, 200]
    time.sleep(0.3)
    assert len(capture.received) == 3  # nothing re-sent after the 200
    assert sender.stats.retries == 2


def test_429_retry_after_is_honoured(capture):
    capture.answer(Answer(429, {"Retry-After": "1"}))
    sender = delivery(capture)
    assert sender.send(events(1))
    first, second = capture.received
    assert second.at - first.at >= 1.0


def test_a_hung_server_times_out_and_is_retried(capture):
    capture.answer(Answer(200, hang=5.0))
    sender = delivery(capture, timeout=0.5)
    assert sender.send(events(2))
    assert sender.stats.retries == 1 and sender.stats.delivered == 2


def test_shutdown_stops_retrying_at_once(capture):
    capture.default = Answer(500)
    sender = delivery(capture, retry_window=300.0)
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("ok", sender.send(events(5))))
    worker.start()
    time.sleep(0.5)
    started = time.monotonic()
    sender.close()
    worker.join(5)
    assert not worker.is_alive() and time.monotonic() - started < 2
    assert result["ok"] is False and sum(sender.stats.dropped.values()) == 5


def test_retry_window_bounds_an_outage(capture):
    capture.default = Answer(500)
    sender = delivery(capture, retry_window=0.5)
    assert not sender.send(events(2))
    assert list(sender.stats.dropped) == ["retries_exhausted:HTTP 500"]


def test_an_event_too_large_is_dropped_alone(capture):
    big = events(2)
    big[0]["properties"]["blob"] = "x" * (1024 * 1024)
    sender = delivery(capture)
    assert not sender.send(big)
    assert [e["uuid"] for e in capture.received[0].body["batch"]] == ["e-1"]
    assert sender.stats.dropped == {"event_too_large": 1}
